/** HTTP routes: parse and authorize at the edge, then one call on the relay's core each. */
import type { Server } from "bun";
import * as v from "valibot";
import { ClawlinkError, badRequest, forbidden } from "../errors";
import { parseWith } from "../protocol/codec";
import { HEADER, LIMIT } from "../protocol/constants";
import { AgentsQuery, FileQuery, FilesQuery, InboxQuery, TasksQuery } from "../protocol/queries";
import { AckRequest, FileKey, LockRequest, NAME_HINT, NewAgentName, RegisterRequest, SendMessage } from "../protocol/schemas";
import type { Auth } from "./auth";
import { bytesResponse, collectSoon, discardBody, readFileBody } from "./body";
import { iso } from "./clock";
import { type AgentRecord, type FileVersionRecord, type PutOptions, type Relay, type Upload } from "./core/relay";
import type { Hold } from "./connections";
import { REQUEST_COST, type FairShare } from "./fair";
import { IDLE_TIMEOUT_S, declaredLength, readJsonBody, type Limits } from "./limits";
import { RegistrationLimit } from "./registrations";

export type RouteLimits = Pick<Limits, "maxMessageBytes" | "maxFileBytes" | "maxTotalFileBytes" | "maxRegistrations" | "minUploadRate"> & {
  /** How long an upload may arrive at any pace before --min-upload-rate applies (default 10 s). */
  uploadGraceMs?: number;
};

export type Params = { params: Record<string, string> & { id: string } };
type Handler = (req: Request & Params, srv: Server<unknown>) => Promise<Response>;

/** An upload arrives at any pace for this long; then at --min-upload-rate on average. */
export const UPLOAD_GRACE_MS = 10_000;

const JSON_HEADERS = { "content-type": "application/json" };
export const json = (body: unknown, status = 200, headers?: Record<string, string>) =>
  headers ? new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } }) : Response.json(body, { status });

const created = (body: unknown) => json(body, 201);

export function errorResponse(err: unknown): Response {
  if (err instanceof ClawlinkError) return json(err.toJSON(), err.status, err.headers);
  // Never a 5xx for the caller's input: anything unexpected is logged by the server and reported plainly.
  return json({ error: { code: "internal", message: "the relay could not handle this request", hint: "retry; if it persists, check the relay's log" } }, 500);
}

/** The shared query; the cursor is checked by the core, which signed it. */
const TaskPageQuery = v.object({
  ...TasksQuery.entries,
  cursor: v.optional(v.pipe(v.string(), v.maxLength(200, "cursor is not one this relay gave out for this list: pass the next_cursor of the previous page unchanged"))),
});

/** Starts work whose failure is reported only when it is awaited (a sync throw included), after checks that come first. */
function early<T>(start: () => Promise<T>): Promise<T> {
  let p: Promise<T>;
  try {
    p = start();
  } catch (err) {
    p = Promise.reject(err);
  }
  p.catch(() => {});
  return p;
}

export function query(req: Request): Record<string, string> {
  const url = new URL(req.url);
  return Object.fromEntries(url.searchParams);
}

export function createRoutes(relay: Relay, auth: Auth, limits: RouteLimits, hold: Hold, fair: FairShare) {
  const registrations = new RegistrationLimit(limits.maxRegistrations, relay.limits);
  const pace = { rate: limits.minUploadRate, graceMs: limits.uploadGraceMs ?? UPLOAD_GRACE_MS };
  const self = async (req: Request & Params): Promise<AgentRecord> => {
    const agent = await auth.agent(req);
    // Its own name stands for its id: a value shaped like an id is an id, anything else a name, as everywhere.
    if (req.params.id !== agent.id && req.params.id !== agent.name) {
      throw forbidden(`you are agent ${agent.id}; an agent can act only on itself, not on ${req.params.id}`, "use your own id or name (`clawlink whoami`)");
    }
    return agent;
  };

  /** Sends the message in the body (`declared` bytes, being read) as `agent`. One agent's flood of sends waits for its share of later turns instead of holding up everyone's. */
  const sendAs = (agent: AgentRecord, declared: number, reading: Promise<unknown>): Promise<Response> => {
    const cost = REQUEST_COST + declared;
    const admitted = fair.admit(agent.id, cost) ? reading : fair.turn(agent.id, cost).then(() => reading);
    return admitted.then((raw) => relay.send(agent, parseWith(SendMessage, raw, "message")).then(created));
  };
  /** The same for a caller whose secret must be looked up: the body is read meanwhile, and a refused caller still hears of its credential first. */
  const sendChecked = async (req: Request, declared: number, reading: Promise<unknown>): Promise<Response> => sendAs(await auth.agent(req), declared, reading);

  const routes: Record<string, Partial<Record<string, Handler>>> = {
    "/v1/health": {
      GET: async () => json(await relay.health()),
    },
    "/v1/agents": {
      POST: async (req, srv) => {
        const caller = await auth.register(req);
        const raw = await readJsonBody(req, limits.maxMessageBytes, "registration");
        const body = parseWith(RegisterRequest, raw, "registration", v.is(NewAgentName, (raw as { name?: unknown } | null)?.name) ? undefined : NAME_HINT);
        auth.checkRegistration(caller, body);
        // An identity coming back with its own secret is not a new agent, and does not count.
        const ip = body.id === undefined ? (srv.requestIP(req)?.address ?? "unknown") : undefined;
        if (ip !== undefined) await registrations.admit(ip);
        const registered = await relay.register(body, { takeOver: caller.kind !== "agent" });
        return json(registered, 201);
      },
      GET: async (req) => {
        await auth.member(req);
        const q = parseWith(AgentsQuery, query(req), "query");
        return json({ agents: await relay.listAgents({ cap: q.cap, all: q.all ?? false }) });
      },
    },
    "/v1/agents/:id": {
      GET: async (req) => {
        await auth.member(req);
        return json(await relay.getAgent(req.params.id));
      },
      DELETE: async (req) => {
        await relay.unregister(await self(req));
        return json({ ok: true });
      },
    },
    "/v1/agents/:id/heartbeat": {
      POST: async (req) => json(await relay.heartbeat(await self(req))),
    },
    "/v1/agents/:id/inbox": {
      GET: async (req, srv) => {
        const agent = await self(req);
        const q = parseWith(InboxQuery, query(req), "query");
        // A waiting poll holds its connection: it counts under the connection limits while it waits.
        const release = q.wait ? await hold(agent.id, req, srv) : undefined;
        try {
          // A poll may wait up to LIMIT.pollWaitS (300 s), far past the idle timeout (which Bun caps at 255 s): lift it while the poll waits,
          // then put it back, or the kept-alive connection would stay without one.
          if (q.wait) srv.timeout(req, 0);
          const messages = await relay.take(agent, { max: q.max ?? LIMIT.pollDefault, waitMs: (q.wait ?? 0) * 1000, signal: req.signal, ack: q.ack ?? false });
          if (q.wait && !req.signal.aborted) srv.timeout(req, IDLE_TIMEOUT_S);
          return json({ messages });
        } finally {
          release?.();
        }
      },
    },
    "/v1/agents/:id/ack": {
      POST: async (req) => {
        const agent = await self(req);
        await fair.turn(agent.id, REQUEST_COST + declaredLength(req));
        const body = parseWith(AckRequest, await readJsonBody(req, limits.maxMessageBytes, "ack"), "ack");
        return json({ acked: await relay.ack(agent, body.ids, body.tasks) });
      },
    },
    "/v1/messages": {
      POST: (req) => {
        const declared = declaredLength(req);
        const reading = early(() => readJsonBody(req, limits.maxMessageBytes, "message", declared));
        // An agent verified moments ago goes on without a wait: the bulk of sends, one after another.
        const agent = auth.verifiedAgent(req);
        return agent ? sendAs(agent, declared, reading) : sendChecked(req, declared, reading);
      },
    },
    "/v1/tasks": {
      GET: async (req) => {
        const agent = await auth.agent(req);
        const q = parseWith(TaskPageQuery, query(req), "query");
        return json(await relay.taskPage(agent, { state: q.state, role: q.role }, { limit: q.limit ?? LIMIT.taskPageDefault, cursor: q.cursor }));
      },
    },
    "/v1/tasks/:id": {
      GET: async (req) => json(await relay.getTask(await auth.agent(req), req.params.id)),
    },
    "/v1/tasks/:id/cancel": {
      POST: async (req) => json(await relay.cancel(await auth.agent(req), req.params.id)),
    },
    "/v1/files": {
      GET: async (req) => {
        await auth.member(req);
        return json({ files: await relay.listFiles(parseWith(FilesQuery, query(req), "query").prefix ?? "") });
      },
    },
    "/v1/files/*": {
      PUT: async (req) => {
        let agent: AgentRecord, key: string, conditions: PutOptions, hold: Upload;
        try {
          agent = await auth.agent(req);
          key = fileKey(req, FILES);
          conditions = putConditions(req);
          // The room is held before the body is read, so uploads in progress cannot together pass the budget.
          const declared = declaredLength(req);
          hold = await relay.reserveUpload(key, declared > limits.maxFileBytes ? 0 : declared);
        } catch (err) {
          // Read the upload anyway (up to twice the file limit), so the sender sees this answer rather than a broken pipe.
          await discardBody(req, 2 * limits.maxFileBytes);
          throw err;
        }
        try {
          const bytes = await readFileBody(req, limits.maxFileBytes, hold, pace);
          collectSoon(bytes.byteLength);
          const written = await relay.putFile(agent, key, bytes, { ...conditions, hold });
          return json(written, written.created ? 201 : 200, { etag: `"${written.version}"` });
        } finally {
          hold.release();
        }
      },
      GET: async (req) => {
        await auth.member(req);
        const q = parseWith(FileQuery, query(req), "query");
        const file = await relay.getFile(fileKey(req, FILES), q.version);
        return bytesResponse(file.bytes, versionHeaders(file));
      },
      DELETE: async (req) => json(await relay.deleteFile(await auth.agent(req), fileKey(req, FILES))),
    },
    "/v1/file-locks/*": {
      PUT: async (req) => {
        const agent = await auth.agent(req);
        const key = fileKey(req, LOCKS);
        const body = parseWith(LockRequest, await readJsonBody(req, limits.maxMessageBytes, "lock request"), "lock request");
        return json(await relay.lockFile(agent, key, body.ttl_s));
      },
      DELETE: async (req) => json(await relay.unlockFile(await auth.agent(req), fileKey(req, LOCKS))),
    },
    "/v1/file-history/*": {
      GET: async (req) => {
        await auth.member(req);
        return json(await relay.fileHistory(fileKey(req, HISTORY)));
      },
    },
  };
  return withKeyRoutes(routes, [FILES, HISTORY, LOCKS]);
}

/**
 * Bun resolves dot segments in req.url (`a/%2e%2e/b` arrives as `b`) but matches routes on the path as
 * sent: a route per depth, one param per segment, hands fileKey the raw segments (percent-decoded).
 */
const SEGMENTS = Array.from({ length: LIMIT.keySegments }, (_, i) => `:k${i}`);

/** Adds, for each `prefix` whose `prefix*` route exists, the per-depth routes that fileKey reads. */
export function withKeyRoutes<R extends Record<string, unknown>>(routes: R, prefixes: string[]): R {
  for (const prefix of prefixes) {
    const handlers = routes[`${prefix}*`]!;
    for (let depth = 1; depth <= LIMIT.keySegments; depth++) (routes as Record<string, unknown>)[prefix + SEGMENTS.slice(0, depth).join("/")] = handlers;
  }
  return routes;
}

const FILES = "/v1/files/";
const HISTORY = "/v1/file-history/";
const LOCKS = "/v1/file-locks/";

export function fileKey(req: Request & Params, prefix: string): string {
  const path = new URL(req.url).pathname;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path.slice(prefix.length));
  } catch {
    throw new ClawlinkError("bad_request", "the file key is not valid percent-encoding", "encode the key with encodeURIComponent per segment");
  }
  const segments: string[] = [];
  for (let i = 0; req.params[`k${i}`] !== undefined; i++) segments.push(req.params[`k${i}`]!);
  if (segments.length) return parseWith(FileKey, segments.join("/"), "file key");
  // Only the catch-all route matched: the path as sent has an empty segment or too many.
  parseWith(FileKey, decoded, "file key");
  throw badRequest(`invalid file key: a file key must not have empty, '.' or '..' segments, and has at most ${LIMIT.keySegments} segments`, "see docs/protocol.md for the fields");
}

/** `If-Match: "N"` (write only over version N), `If-None-Match: *` (only create), `X-Clawlink-Merge: true`. */
function putConditions(req: Request): PutOptions {
  const ifMatch = req.headers.get("if-match");
  const ifNoneMatch = req.headers.get("if-none-match");
  const merge = req.headers.get(HEADER.merge);
  if (ifMatch !== null && ifNoneMatch !== null) throw badRequest("send If-Match or If-None-Match, not both", "If-Match: \"N\" writes over version N; If-None-Match: * writes only a new key");
  let ifVersion: number | undefined;
  if (ifNoneMatch !== null) {
    if (ifNoneMatch.trim() !== "*") throw badRequest(`If-None-Match takes only *, meaning "only if the key holds no file"`, "send If-None-Match: *, or If-Match: \"N\" to write over version N");
    ifVersion = 0;
  }
  if (ifMatch !== null) {
    const m = /^\s*"(\d{1,15})"\s*$/.exec(ifMatch);
    if (!m) throw badRequest(`If-Match must be the ETag of one version, such as "3", not ${ifMatch}`, "take it from the ETag header of a GET or PUT");
    ifVersion = Number(m[1]);
  }
  if (merge !== null && merge !== "true" && merge !== "false") throw badRequest("X-Clawlink-Merge must be true or false", "send X-Clawlink-Merge: true with If-Match, or leave the header out");
  if (merge === "true" && ifVersion === undefined) throw badRequest("X-Clawlink-Merge needs If-Match: the version the edit started from", "send If-Match: \"N\" with N the version you read (its ETag), or `clawlink file-put --if-version N --merge`");
  return { ifVersion, merge: merge === "true" };
}

function versionHeaders(f: FileVersionRecord): Record<string, string> {
  return {
    "content-type": "application/octet-stream",
    etag: `"${f.version}"`,
    [HEADER.version]: String(f.version),
    [HEADER.sha256]: f.sha256,
    // Bun streams a large body chunked, without Content-Length: this is how a client knows the size up front.
    [HEADER.size]: String(f.size),
    [HEADER.author]: f.author,
    [HEADER.createdAt]: iso(f.createdAt),
  };
}
