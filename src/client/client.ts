/** The typed client every command uses: one method per relay endpoint, errors as ClawlinkError. */
import * as v from "valibot";
import { ClawlinkError } from "../errors";
import type { RegisterRequest, SendMessage } from "../protocol/schemas";
import { HEADER, LIMIT } from "../protocol/constants";
import { built } from "../protocol/deferred";
import type { AgentsQuery, InboxQuery, SocketQuery, TasksQuery } from "../protocol/queries";
import { toQuery } from "../protocol/query-string";
import { ackedOf, agentListOf, agentOf, healthOf, heartbeatOf, inboxOf, sentOf } from "./answers";
import { takeEarly } from "./early";
import { redirected, unreachable } from "./failures";
import { trustedCAs, warnIfUnverified } from "./trust";

export interface ClientOptions {
  /** The relay's URL, or several relays of one team comma-separated: a relay that cannot be reached gives way to the next. */
  relay: string;
  token?: string;
  /** The agent's secret; sent instead of the token on agent requests. */
  secret?: string;
  /** A private CA (PEM) trusted for an https:// relay, besides the bundled and system ones. */
  ca?: string;
  /** Where the relay URL came from ("--relay", "relay in /home/.clawlink/config.json", ...), named in hints. */
  relayFrom?: string;
}

type Auth = "token" | "agent";
/** A request body; a function opens it anew for each relay tried (a stream can be read only once). */
type Body = Bun.BodyInit | (() => Bun.BodyInit);

type Schemas = typeof import("../protocol/schemas");
/**
 * The wire schemas, loaded on first use: a command's request goes out before they are (loading them costs
 * about 1 ms), and the answer's schema is picked by name while the request is on the wire.
 */
const schemas = (): Promise<Schemas> => import("../protocol/schemas");

/** The connection was refused or the host not found: nothing of the request reached any relay. */
const refused = (err: unknown) => /^(ECONNREFUSED|ConnectionRefused|ENOTFOUND|EHOSTUNREACH|ENETUNREACH)$/.test((err as { code?: string }).code ?? "");

export class Client {
  private trust: { ca: string[] } | undefined;
  private urls: string[];
  /** The relay in use: the first of the list until one cannot be reached. */
  private current = 0;

  constructor(readonly opts: ClientOptions) {
    this.urls = opts.relay.split(",");
  }

  /** TLS options for fetch and WebSocket: none for http://. */
  private get tls() {
    if (!this.relay.startsWith("https:")) return undefined;
    if (!this.trust) warnIfUnverified(this.relay);
    return (this.trust ??= { ca: trustedCAs(this.opts.ca) });
  }

  /** The relay in use. */
  get relay() {
    return this.urls[this.current]!;
  }

  /** Each relay of the list, in order. */
  get list(): readonly string[] {
    return this.urls;
  }

  /** Which relays of the list answer `GET /v1/health` now, asked all at once. */
  probe(timeoutMs = 10_000): Promise<{ url: string; answers: boolean; problem?: string }[]> {
    return Promise.all(
      this.urls.map(async (url) => {
        try {
          await new Client({ ...this.opts, relay: url }).raw("GET", "/v1/health", { auth: "token", signal: AbortSignal.timeout(timeoutMs) });
          return { url, answers: true };
        } catch (err) {
          // Any HTTP answer is an answer; only a connection that fails (or TLS that cannot be trusted) is not.
          const down = !(err instanceof ClawlinkError) || err.code === "unreachable" || err.code === "tls";
          return down ? { url, answers: false, problem: (err as Error).message } : { url, answers: true };
        }
      }),
    );
  }

  /** Every relay of the list, comma-separated (what an identity remembers). */
  get relays() {
    return this.urls.join(",");
  }

  /** Moves to the next relay of the list; false when there is only one. */
  failover(): boolean {
    if (this.urls.length < 2) return false;
    this.current = (this.current + 1) % this.urls.length;
    return true;
  }

  private headers(auth: Auth, extra?: Record<string, string>): Record<string, string> {
    const bearer = auth === "agent" ? (this.opts.secret ?? this.opts.token) : (this.opts.token ?? this.opts.secret);
    // Copied by a loop, not spread: every request starts here.
    const headers: Record<string, string> = bearer ? { authorization: `Bearer ${bearer}` } : {};
    for (const name in extra) headers[name] = extra[name]!;
    return headers;
  }

  /** Sends a request and returns the raw response, or throws the relay's error. */
  async raw(method: string, path: string, init: { auth?: Auth; body?: Body; json?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
    const headers = this.headers(init.auth ?? "agent", init.headers);
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers["content-type"] = "application/json";
    }
    let res: Response;
    // A relay that cannot be reached gives way to the next of the list; each is tried once. A stream is sent once
    // unless given as a function that opens it again; a file's body moves on only when nothing of it was sent.
    const small = typeof body === "string" || body === undefined;
    for (let tries = !small && body instanceof ReadableStream ? 1 : this.urls.length; ; tries--) {
      let started = Date.now();
      try {
        // Never followed: a redirect could carry the token, the secret and task bodies anywhere, over http too.
        const sent = typeof body === "function" ? body() : body;
        // The CLI's entry may have sent this very request already (commands/_quick.ts): its outcome is this one's.
        const early = sent === undefined && init.signal === undefined ? takeEarly(method, this.relay + path, headers) : undefined;
        if (early) started = early.started;
        res = await (early ? early.outcome : fetch(this.relay + path, { method, headers, body: sent, signal: init.signal, duplex: "half", tls: this.tls, redirect: "manual" } as RequestInit));
        break;
      } catch (err) {
        if ((err as Error).name === "AbortError" || (err as Error).name === "TimeoutError") throw err;
        const moveOn = tries > 1 && (small || refused(err));
        if (!moveOn || !this.failover()) throw unreachable(this.relay, err, this.opts.relayFrom, this.opts.ca !== undefined, tries <= 1 ? this.relays : undefined, Date.now() - started);
      }
    }
    if (res.status >= 300 && res.status < 400) throw redirected(this.relay, this.relay + path, res);
    if (!res.ok) throw await relayError(res);
    return res;
  }

  /**
   * Sends a request and parses its answer with `answer`: a schema, or the name of one of the wire schemas.
   * With `quick` (a hand check giving the schema's output, `answers.ts`), an answer it takes never loads the
   * wire schemas; one it refuses is parsed by the schema, so a refusal reads the same.
   */
  private async call<S extends v.GenericSchema | keyof Schemas>(answer: S, method: string, path: string, init: Parameters<Client["raw"]>[2] = {}, quick?: (raw: unknown) => unknown): Promise<v.InferOutput<S extends keyof Schemas ? Extract<Schemas[S], v.GenericSchema> : Extract<S, v.GenericSchema>>> {
    type Out = v.InferOutput<S extends keyof Schemas ? Extract<Schemas[S], v.GenericSchema> : Extract<S, v.GenericSchema>>;
    const sent = this.raw(method, path, init);
    let schema: v.GenericSchema | undefined;
    if (!quick) {
      // A failure is thrown by `await sent` below; caught here, it is not reported as unhandled while the schemas load.
      sent.catch(() => {});
      // The schema is loaded, built and its regular expressions compiled while the request is on the wire, not after the answer is in.
      schema = await this.schemaOf(answer);
    }
    const res = await sent;
    const raw = await res.json().catch(() => undefined);
    if (quick) {
      const taken = quick(raw);
      if (taken !== undefined) return taken as Out;
    }
    const parsed = v.safeParse(schema ?? (await this.schemaOf(answer)), raw);
    if (!parsed.success) {
      throw new ClawlinkError("bad_response", `the relay at ${this.relay} answered in an unexpected shape`, "check that the relay runs the same clawlink version as this client (`clawlink --version`)");
    }
    return parsed.output as Out;
  }

  private async schemaOf(answer: v.GenericSchema | keyof Schemas): Promise<v.GenericSchema> {
    const schema = built((typeof answer === "string" ? (await schemas())[answer as keyof Schemas] : answer) as v.GenericSchema);
    compileRegexes(schema);
    return schema;
  }

  health() {
    return this.call("Health", "GET", "/v1/health", { auth: "token" }, healthOf);
  }
  register(req: Partial<RegisterRequest> & { name: string }) {
    return this.call("Registration", "POST", "/v1/agents", { auth: "token", json: req });
  }
  agents(q: AgentsQuery = {}) {
    return this.call("AgentList", "GET", `/v1/agents${toQuery({ cap: q.cap || undefined, all: q.all })}`, {}, agentListOf).then((r) => r.agents);
  }
  agent(idOrName: string) {
    return this.call("Agent", "GET", `/v1/agents/${encodeURIComponent(idOrName)}`, {}, agentOf);
  }
  heartbeat(id: string) {
    return this.call("Heartbeat", "POST", `/v1/agents/${id}/heartbeat`, {}, heartbeatOf);
  }
  unregister(id: string) {
    return this.raw("DELETE", `/v1/agents/${id}`).then(() => undefined);
  }
  send(msg: SendMessage | (Partial<SendMessage> & { type: string })) {
    return this.call("Sent", "POST", "/v1/messages", { json: msg }, sentOf);
  }
  inbox(id: string, q: InboxQuery & { signal?: AbortSignal } = {}) {
    const qs = toQuery({ wait: q.wait || undefined, max: q.max || undefined, ack: q.ack });
    return this.call("Inbox", "GET", `/v1/agents/${id}/inbox${qs}`, { signal: q.signal }, inboxOf).then((r) => r.messages);
  }
  /** Acknowledges any number of ids, in as many requests as the relay's cap per ack needs. */
  async ack(id: string, ids: string[]) {
    let acked = 0;
    for (let i = 0; i < ids.length; i += LIMIT.ackIds) {
      const r = await this.call(v.object({ acked: v.number() }), "POST", `/v1/agents/${id}/ack`, { json: { ids: ids.slice(i, i + LIMIT.ackIds) } }, ackedOf);
      acked += r.acked;
    }
    return { acked };
  }
  /** One page of the agent's tasks, oldest first; `next_cursor` fetches the next. */
  tasks(q: TasksQuery = {}) {
    return this.call("TaskList", "GET", `/v1/tasks${toQuery({ state: q.state || undefined, role: q.role || undefined, limit: q.limit, cursor: q.cursor })}`);
  }
  task(id: string) {
    return this.call("Task", "GET", `/v1/tasks/${encodeURIComponent(id)}`);
  }
  cancel(id: string) {
    return this.call("Task", "POST", `/v1/tasks/${encodeURIComponent(id)}/cancel`);
  }
  /** Uploads a new version; `ifVersion` makes it a compare-and-swap, `merge` lets the relay merge text edits. */
  async putFile(key: string, body: Body, opts: { ifVersion?: number; merge?: boolean; size?: number } = {}) {
    const headers: Record<string, string> = { "content-type": "application/octet-stream" };
    // A streamed body (counted for a progress bar) still declares its length, so the relay sizes its buffer once.
    if (opts.size !== undefined) headers["content-length"] = String(opts.size);
    if (opts.ifVersion === 0) headers["if-none-match"] = "*";
    else if (opts.ifVersion !== undefined) headers["if-match"] = `"${opts.ifVersion}"`;
    if (opts.merge) headers[HEADER.merge] = "true";
    try {
      return await this.call("FileWritten", "PUT", filePath(key), { body, headers });
    } catch (err) {
      // A relay refuses a body far over its limit by closing the connection before reading it.
      const size = opts.size ?? (body instanceof Blob ? body.size : undefined);
      if (err instanceof ClawlinkError && (err.code === "unreachable" || err.code === "http_error") && size !== undefined && size > 0) {
        const refused = err.status === 413 || /EPIPE|ECONNRESET/.test(err.message);
        if (refused) {
          throw new ClawlinkError("too_large", `the relay at ${this.relay} closed the connection while receiving ${key} (${size} bytes)`, "a relay refuses files over its --max-file-bytes (256 MiB unless set): send a smaller file, or start the relay with a higher limit");
        }
      }
      throw err;
    }
  }
  /** The raw response of the latest version, or of `version`; headers carry version, sha256 and author. */
  getFile(key: string, version?: number) {
    return this.raw("GET", filePath(key) + toQuery({ version }));
  }
  fileHistory(key: string) {
    return this.call("FileHistory", "GET", filePath(key, "/v1/file-history/"));
  }
  lockFile(key: string, ttlS: number) {
    return this.call("FileLock", "PUT", filePath(key, "/v1/file-locks/"), { json: { ttl_s: ttlS } });
  }
  unlockFile(key: string) {
    return this.call("FileLock", "DELETE", filePath(key, "/v1/file-locks/"));
  }
  /** Ends one's lease on `key`; a key not locked (the lease ran out, or was never taken) is the end wanted already, not an error. */
  async releaseFile(key: string) {
    try {
      return { ...(await this.unlockFile(key)), unlocked: true as const };
    } catch (err) {
      if (!(err instanceof ClawlinkError && err.code === "not_locked")) throw err;
      return { key, unlocked: false as const, reason: "not_locked" as const, message: err.message };
    }
  }
  files(prefix?: string) {
    return this.call("FileList", "GET", `/v1/files${toQuery({ prefix: prefix || undefined })}`).then((r) => r.files);
  }
  deleteFile(key: string) {
    return this.call("FileDeleted", "DELETE", filePath(key));
  }

  /** Opens the agent's WebSocket: its inbox stream; with `task` the updates of one task; with `files` only file messages under that prefix. */
  socket(q: SocketQuery = {}): WebSocket {
    // Bun's WebSocket takes headers, so the secret never sits in a URL.
    return new WebSocket(this.relay.replace(/^http/, "ws") + socketPath(q), { headers: this.headers("agent"), tls: this.tls } as unknown as string[]);
  }

  /**
   * Why the relay refuses this WebSocket (a limit, a credential), asked over plain HTTP, since a
   * WebSocket that fails to open tells nothing; undefined when the relay would take it.
   */
  async socketRefusal(q: SocketQuery = {}): Promise<ClawlinkError | undefined> {
    try {
      await this.raw("GET", socketPath(q));
    } catch (err) {
      // 400 is "this endpoint speaks WebSocket only": everything else about the socket was fine.
      if (err instanceof ClawlinkError && err.status > 400) return err;
    }
    return undefined;
  }
}

/**
 * Runs each regular expression a schema checks with once, which compiles it: the first one a process runs
 * costs about 0.5 ms, and none runs before a command's request. Loops, not array methods, for the same reason.
 */
function compileRegexes(schema: unknown, depth = 0): void {
  if (depth > 8 || typeof schema !== "object" || schema === null) return;
  const s = schema as { type?: string; requirement?: unknown; entries?: Record<string, unknown>; item?: unknown; wrapped?: unknown; pipe?: unknown[]; options?: unknown[] };
  if (s.type === "regex" && s.requirement instanceof RegExp) {
    s.requirement.test("");
    return;
  }
  if (s.entries) for (const key in s.entries) compileRegexes(s.entries[key], depth + 1);
  compileRegexes(s.item, depth + 1);
  compileRegexes(s.wrapped, depth + 1);
  if (s.pipe) for (let i = 0; i < s.pipe.length; i++) compileRegexes(s.pipe[i], depth + 1);
  if (s.options) for (let i = 0; i < s.options.length; i++) compileRegexes(s.options[i], depth + 1);
}

const socketPath = (q: SocketQuery) => `/v1/ws${toQuery({ task: q.task || undefined, files: q.files, types: q.types })}`;

const filePath = (key: string, base = "/v1/files/") => base + key.split("/").map(encodeURIComponent).join("/");

async function relayError(res: Response): Promise<ClawlinkError> {
  const text = await res.text().catch(() => "");
  let body: v.InferOutput<Schemas["ErrorBody"]> | undefined;
  const { ErrorBody } = await schemas();
  try {
    const parsed = v.safeParse(ErrorBody, JSON.parse(text));
    if (parsed.success) body = parsed.output;
  } catch {}
  const retry = res.headers.get("retry-after");
  if (body) return ClawlinkError.received(body.error.code, res.status, body.error.message, body.error.hint, retry ? { "Retry-After": retry } : undefined);
  return new ClawlinkError("http_error", `the relay answered ${res.status} ${res.statusText}`, "is --relay pointing at a clawlink relay?", { status: res.status });
}
