/** HTTP routes: parse and authorize at the edge, then one hub call each. */
import type { Server } from "bun";
import * as v from "valibot";
import { ClawlinkError, badRequest, forbidden } from "../errors";
import { parseWith } from "../protocol/codec";
import { AckRequest, Capability, FileKey, KeyPrefix, LockRequest, MAX_KEY_SEGMENTS, NAME_HINT, NewAgentName, RegisterRequest, SendMessage, TASK_PAGE, TaskState } from "../protocol/schemas";
import type { Auth } from "./auth";
import { bytesResponse, collectSoon, discardBody, readFileBody } from "./body";
import type { Files, PutOptions, Upload } from "./files";
import type { Hub } from "./hub";
import { decodeCursor } from "./task-list";
import { IDLE_TIMEOUT_S, declaredLength, readJsonBody, type Limits } from "./limits";
import { RegistrationLimit } from "./registrations";
import type { AgentRecord, FileVersionRecord } from "./store";
import { iso } from "./views";

export type RouteLimits = Pick<Limits, "maxMessageBytes" | "maxFileBytes" | "maxTotalFileBytes" | "maxRegistrations">;

export type Params = { params: Record<string, string> & { id: string } };
type Handler = (req: Request & Params, srv: Server<unknown>) => Response | Promise<Response>;

const JSON_HEADERS = { "content-type": "application/json" };
export const json = (body: unknown, status = 200, headers?: Record<string, string>) =>
  headers ? new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } }) : Response.json(body, { status });

export function errorResponse(err: unknown): Response {
  if (err instanceof ClawlinkError) return json(err.toJSON(), err.status, err.headers);
  // Never a 5xx for the caller's input: anything unexpected is logged by the server and reported plainly.
  return json({ error: { code: "internal", message: "the relay could not handle this request", hint: "retry; if it persists, check the relay's log" } }, 500);
}

const QueryFlag = v.optional(v.picklist(["true", "false", "1", "0", ""], "must be true or false"));
const truthy = (s: string | undefined) => s === "true" || s === "1" || s === "";
const InboxQuery = v.object({
  wait: v.optional(v.pipe(v.string(), v.toNumber("wait must be a number of seconds"), v.minValue(0), v.maxValue(300, "wait is at most 300 seconds"))),
  max: v.optional(v.pipe(v.string(), v.toNumber("max must be a number"), v.integer(), v.minValue(1), v.maxValue(10_000))),
  ack: QueryFlag,
});
const AgentsQuery = v.object({ cap: v.optional(Capability), all: QueryFlag });
const FilesQuery = v.object({ prefix: v.optional(KeyPrefix) });
const TaskQuery = v.object({
  state: v.optional(TaskState),
  role: v.optional(v.picklist(["sent", "held"], "role must be sent or held")),
  limit: v.optional(
    v.pipe(v.string(), v.toNumber("limit must be a number"), v.integer("limit must be a whole number"), v.minValue(1, "limit is at least 1"), v.maxValue(TASK_PAGE.max, `limit is at most ${TASK_PAGE.max}`)),
  ),
  cursor: v.optional(
    v.pipe(
      v.string(),
      v.check((c) => decodeCursor(c) !== undefined, "cursor is not one this relay gave out: pass the next_cursor of the previous page unchanged, or leave it out to start from the first"),
      v.transform((c) => decodeCursor(c)!),
    ),
  ),
});

function query(req: Request): Record<string, string> {
  const url = new URL(req.url);
  return Object.fromEntries(url.searchParams);
}

export function createRoutes(hub: Hub, files: Files, auth: Auth, limits: RouteLimits) {
  const registrations = new RegistrationLimit(limits.maxRegistrations);
  const self = (req: Request & Params): AgentRecord => {
    const agent = auth.agent(req);
    if (req.params.id !== agent.id) {
      throw forbidden(`you are agent ${agent.id}; an agent can act only on itself, not on ${req.params.id}`, "use your own id (`clawlink whoami`)");
    }
    return agent;
  };

  const routes: Record<string, Partial<Record<string, Handler>>> = {
    "/v1/health": {
      GET: () => json({ ok: true, version: hub.version, agents: hub.agentCount() }),
    },
    "/v1/agents": {
      POST: async (req, srv) => {
        const caller = auth.register(req);
        const raw = await readJsonBody(req, limits.maxMessageBytes, "registration");
        const body = parseWith(RegisterRequest, raw, "registration", v.is(NewAgentName, (raw as { name?: unknown } | null)?.name) ? undefined : NAME_HINT);
        auth.checkRegistration(caller, body);
        // An identity coming back with its own secret is not a new agent, and does not count.
        const ip = body.id === undefined ? (srv.requestIP(req)?.address ?? "unknown") : undefined;
        if (ip !== undefined) registrations.check(ip);
        const registered = hub.register(body, { takeOver: caller.kind !== "agent" });
        if (ip !== undefined) registrations.count(ip);
        return json(registered, 201);
      },
      GET: (req) => {
        auth.member(req);
        const q = parseWith(AgentsQuery, query(req), "query");
        return json({ agents: hub.listAgents({ cap: q.cap, all: truthy(q.all) }) });
      },
    },
    "/v1/agents/:id": {
      GET: (req) => {
        auth.member(req);
        return json(hub.view(hub.resolveAgent(req.params.id)));
      },
      DELETE: (req) => {
        hub.unregister(self(req).id);
        return json({ ok: true });
      },
    },
    "/v1/agents/:id/heartbeat": {
      POST: (req) => {
        const agent = self(req);
        return json({ ...hub.heartbeat(agent), pending: hub.pendingCount(agent.id), in_flight: hub.inFlightCount(agent.id) });
      },
    },
    "/v1/agents/:id/inbox": {
      GET: async (req, srv) => {
        const agent = self(req);
        const q = parseWith(InboxQuery, query(req), "query");
        const max = q.max ?? 100;
        if (q.wait) {
          // A poll may wait up to 300 s, far past the idle timeout (which Bun caps at 255 s): lift it while the poll waits,
          // then put it back, or the kept-alive connection would stay without one.
          srv.timeout(req, 0);
          await hub.delivery.wait(agent.id, q.wait * 1000, req.signal);
          if (!req.signal.aborted) srv.timeout(req, IDLE_TIMEOUT_S);
        }
        // A poller that hung up takes nothing: what it would take would sit in flight until its lease ran out.
        if (req.signal.aborted) return json({ messages: [] });
        const messages = hub.take(agent, max);
        if (q.ack !== undefined && truthy(q.ack)) hub.ack(agent, messages.map((m) => m.id));
        return json({ messages });
      },
    },
    "/v1/agents/:id/ack": {
      POST: async (req) => {
        const agent = self(req);
        const body = parseWith(AckRequest, await readJsonBody(req, limits.maxMessageBytes, "ack"), "ack");
        return json({ acked: hub.ack(agent, body.ids, body.tasks) });
      },
    },
    "/v1/messages": {
      POST: async (req) => {
        const agent = auth.agent(req);
        const body = parseWith(SendMessage, await readJsonBody(req, limits.maxMessageBytes, "message"), "message");
        return json(hub.send(agent, body), 201);
      },
    },
    "/v1/tasks": {
      GET: (req) => {
        const agent = auth.agent(req);
        const q = parseWith(TaskQuery, query(req), "query");
        return json(hub.tasks.page(agent, q, { limit: q.limit ?? TASK_PAGE.default, after: q.cursor }));
      },
    },
    "/v1/tasks/:id": {
      GET: (req) => json(hub.tasks.get(auth.agent(req), req.params.id)),
    },
    "/v1/tasks/:id/cancel": {
      POST: async (req) => {
        const agent = auth.agent(req);
        return json(hub.tasks.cancel(agent, req.params.id));
      },
    },
    "/v1/files": {
      GET: (req) => {
        auth.member(req);
        return json({ files: files.list(parseWith(FilesQuery, query(req), "query").prefix ?? "") });
      },
    },
    "/v1/files/*": {
      PUT: async (req) => {
        let agent: AgentRecord, key: string, conditions: PutOptions, hold: Upload;
        try {
          agent = auth.agent(req);
          key = fileKey(req, FILES);
          conditions = putConditions(req);
          // The room is held before the body is read, so uploads in progress cannot together pass the budget.
          const declared = declaredLength(req);
          hold = files.reserve(key, declared > limits.maxFileBytes ? 0 : declared);
        } catch (err) {
          // Read the upload anyway (up to twice the file limit), so the sender sees this answer rather than a broken pipe.
          await discardBody(req, 2 * limits.maxFileBytes);
          throw err;
        }
        try {
          const bytes = await readFileBody(req, limits.maxFileBytes, hold);
          collectSoon(bytes.byteLength);
          const written = files.put(agent, key, bytes, { ...conditions, hold });
          return json(written, written.created ? 201 : 200, { etag: `"${written.version}"` });
        } finally {
          hold.release();
        }
      },
      GET: (req) => {
        auth.member(req);
        const q = parseWith(FileQuery, query(req), "query");
        const file = files.get(fileKey(req, FILES), q.version);
        return bytesResponse(file.bytes, versionHeaders(file));
      },
      DELETE: (req) => {
        const agent = auth.agent(req);
        return json(files.delete(agent, fileKey(req, FILES)));
      },
    },
    "/v1/file-locks/*": {
      PUT: async (req) => {
        const agent = auth.agent(req);
        const key = fileKey(req, LOCKS);
        const body = parseWith(LockRequest, await readJsonBody(req, limits.maxMessageBytes, "lock request"), "lock request");
        return json(files.lock(agent, key, body.ttl_s));
      },
      DELETE: (req) => json(files.unlock(auth.agent(req), fileKey(req, LOCKS))),
    },
    "/v1/file-history/*": {
      GET: (req) => {
        auth.member(req);
        return json(files.history(fileKey(req, HISTORY)));
      },
    },
  };
  return withKeyRoutes(routes, [FILES, HISTORY, LOCKS]);
}

/**
 * Bun resolves dot segments in req.url (`a/%2e%2e/b` arrives as `b`) but matches routes on the path as
 * sent: a route per depth, one param per segment, hands fileKey the raw segments (percent-decoded).
 */
const SEGMENTS = Array.from({ length: MAX_KEY_SEGMENTS }, (_, i) => `:k${i}`);

/** Adds, for each `prefix` whose `prefix*` route exists, the per-depth routes that fileKey reads. */
export function withKeyRoutes<R extends Record<string, unknown>>(routes: R, prefixes: string[]): R {
  for (const prefix of prefixes) {
    const handlers = routes[`${prefix}*`]!;
    for (let depth = 1; depth <= MAX_KEY_SEGMENTS; depth++) (routes as Record<string, unknown>)[prefix + SEGMENTS.slice(0, depth).join("/")] = handlers;
  }
  return routes;
}

const FILES = "/v1/files/";
const HISTORY = "/v1/file-history/";
const LOCKS = "/v1/file-locks/";

const FileQuery = v.object({
  version: v.optional(v.pipe(v.string(), v.toNumber("version must be a number"), v.integer("version must be a whole number"), v.minValue(1, "versions start at 1"))),
});

export function fileKey(req: Request & Params, prefix: string): string {
  const path = new URL(req.url).pathname;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path.slice(prefix.length));
  } catch {
    throw new ClawlinkError("bad_request", 400, "the file key is not valid percent-encoding", "encode the key with encodeURIComponent per segment");
  }
  const segments: string[] = [];
  for (let i = 0; req.params[`k${i}`] !== undefined; i++) segments.push(req.params[`k${i}`]!);
  if (segments.length) return parseWith(FileKey, segments.join("/"), "file key");
  // Only the catch-all route matched: the path as sent has an empty segment or too many.
  parseWith(FileKey, decoded, "file key");
  throw badRequest(`invalid file key: a file key must not have empty, '.' or '..' segments, and has at most ${MAX_KEY_SEGMENTS} segments`, "see docs/protocol.md for the fields");
}

/** `If-Match: "N"` (write only over version N), `If-None-Match: *` (only create), `X-Clawlink-Merge: true`. */
function putConditions(req: Request): PutOptions {
  const ifMatch = req.headers.get("if-match");
  const ifNoneMatch = req.headers.get("if-none-match");
  const merge = req.headers.get("x-clawlink-merge");
  if (ifMatch !== null && ifNoneMatch !== null) throw badRequest("send If-Match or If-None-Match, not both");
  let ifVersion: number | undefined;
  if (ifNoneMatch !== null) {
    if (ifNoneMatch.trim() !== "*") throw badRequest(`If-None-Match takes only *, meaning "only if the key holds no file"`);
    ifVersion = 0;
  }
  if (ifMatch !== null) {
    const m = /^\s*"(\d{1,15})"\s*$/.exec(ifMatch);
    if (!m) throw badRequest(`If-Match must be the ETag of one version, such as "3", not ${ifMatch}`, "take it from the ETag header of a GET or PUT");
    ifVersion = Number(m[1]);
  }
  if (merge !== null && merge !== "true" && merge !== "false") throw badRequest("X-Clawlink-Merge must be true or false");
  if (merge === "true" && ifVersion === undefined) throw badRequest("X-Clawlink-Merge needs If-Match: the version the edit started from");
  return { ifVersion, merge: merge === "true" };
}

function versionHeaders(f: FileVersionRecord): Record<string, string> {
  return {
    "content-type": "application/octet-stream",
    etag: `"${f.version}"`,
    "x-clawlink-version": String(f.version),
    "x-clawlink-sha256": f.sha256,
    // Bun streams a large body chunked, without Content-Length: this is how a client knows the size up front.
    "x-clawlink-size": String(f.bytes.byteLength),
    "x-clawlink-author": f.author,
    "x-clawlink-created-at": iso(f.createdAt),
  };
}
