/** The HTTP+JSON binding: resource paths under /a2a/{name}, google.rpc.Status errors, SSE for streams. */
import * as v from "valibot";
import { ClawlinkError } from "../../errors";
import { CancelTaskRequest, GetTaskRequest, ListTasksRequest, SendMessageRequest } from "../../protocol/a2a";
import { describeIssues, holdsLoneSurrogate } from "../../protocol/codec";
import { FINAL_STATES } from "../../protocol/schemas";
import { invalidParams, notUnicode, parseError, pushNotSupported, unsupported } from "./errors";
import type { Caller, Operations, Target } from "./operations";
import { sseData, taskStream } from "./stream";
import { a2aTask } from "./views";

/** One authenticated call on one endpoint, whichever binding carried it. */
export interface Call {
  ops: Operations;
  caller: Caller;
  target: Target;
  signal: AbortSignal;
  /**
   * The answer may take long (a blocking SendMessage, a stream): counts the connection under the relay's
   * connection limits (429/503 past them, before anything is done) and lifts its idle timeout. Resolves with its release.
   */
  hold(): Promise<() => void>;
  /** What a stream may buffer for a reader that does not read before it is closed, in bytes. */
  streamBufferBytes: number;
  /** Ends a connection whose reader stopped reading: the idle timer closes it within seconds, unsent bytes and all. */
  cutOff(): void;
  /** The body's text, read within the relay's message limit. */
  body(): Promise<string>;
}

const A2A_JSON = { "content-type": "application/a2a+json" };
const reply = (body: unknown) => new Response(JSON.stringify(body), { headers: A2A_JSON });

async function bodyOf<S extends v.GenericSchema>(call: Call, schema: S, what: string): Promise<v.InferOutput<S>> {
  const text = await call.body();
  let raw: unknown = {};
  if (text.trim() !== "") {
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw parseError(`the body is not valid JSON: ${(err as Error).message}`, `send the ${what} as one JSON object (HTTP+JSON binding)`);
    }
    if (holdsLoneSurrogate(text, raw)) throw notUnicode();
  }
  return check(schema, raw, what);
}

function check<S extends v.GenericSchema>(schema: S, raw: unknown, what: string): v.InferOutput<S> {
  const r = v.safeParse(schema, raw);
  if (r.success) return r.output;
  throw invalidParams(`invalid ${what}: ${describeIssues(r.issues)}`, "see the A2A v1.0 specification, HTTP+JSON binding");
}

/** Query parameters are strings; the request objects want numbers and booleans where the fields are. */
function queryObject(q: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, val] of q) {
    if (k === "A2A-Version") continue;
    if (k === "pageSize" || k === "historyLength") out[k] = val.trim() === "" ? NaN : Number(val);
    else if (k === "includeArtifacts") out[k] = val === "true" ? true : val === "false" ? false : val;
    else out[k] = val;
  }
  return out;
}

const noRoute = (method: string, path: string) =>
  new ClawlinkError("not_found", `no A2A operation is ${method} ${path}`, "HTTP+JSON paths: POST /message:send, POST /message:stream, GET /tasks, GET /tasks/{id}, POST /tasks/{id}:cancel, POST /tasks/{id}:subscribe");

/** Serves `path` (the part after /a2a/{name}). */
export async function callRest(call: Call, method: string, path: string, query: URLSearchParams): Promise<Response> {
  const { ops, caller, target } = call;
  const frame = (response: object) => sseData(response);
  if (method === "POST" && (path === "/message:send" || path === "/message:stream")) {
    const req = await bodyOf(call, SendMessageRequest, "SendMessageRequest");
    const stream = path === "/message:stream";
    // Counted before the task is sent: a refusal leaves nothing behind.
    const release = stream || !req.configuration?.returnImmediately ? await call.hold() : undefined;
    try {
      let task = await ops.send(caller, target, req);
      if (stream) return taskStream(ops, caller, task.id, frame, call, release!);
      if (!req.configuration?.returnImmediately && !FINAL_STATES.has(task.state)) {
        task = await ops.settled(caller, task.id, call.signal);
        ops.seen(caller, task);
      }
      return reply({ task: a2aTask(task, { historyLength: req.configuration?.historyLength }) });
    } catch (err) {
      release?.();
      throw err;
    } finally {
      if (!stream) release?.();
    }
  }
  if (method === "GET" && path === "/tasks") return reply(await ops.list(caller, target, check(ListTasksRequest, queryObject(query), "ListTasks query")));
  if (path === "/extendedAgentCard") throw unsupported("this agent has no extended card", "its public card at .well-known/agent-card.json is all there is");
  const m = /^\/tasks\/([^/:]+)(:cancel|:subscribe|\/pushNotificationConfigs(?:\/.*)?)?$/.exec(path);
  if (!m) throw noRoute(method, path);
  let id: string;
  try {
    id = decodeURIComponent(m[1]!);
  } catch {
    throw invalidParams("the task id in the path is not valid percent-encoding");
  }
  const action = m[2] ?? "";
  if (action.startsWith("/pushNotificationConfigs")) throw pushNotSupported();
  if (action === "" && method === "GET") {
    const q = check(GetTaskRequest, { ...queryObject(query), id }, "GetTask query");
    return reply(a2aTask(await ops.task(caller, target, id), { historyLength: q.historyLength }));
  }
  if (action === ":cancel" && method === "POST") {
    check(CancelTaskRequest, { id }, "task id");
    return reply(a2aTask(await ops.cancel(caller, target, id)));
  }
  // The specification's text says POST, its proto says GET: both are served.
  if (action === ":subscribe" && (method === "POST" || method === "GET")) {
    const task = await ops.task(caller, target, id);
    if (FINAL_STATES.has(task.state)) throw unsupported(`task ${task.id} has ended (${task.state}); there is nothing to subscribe to`, "GET /tasks/{id} shows how it ended");
    return taskStream(ops, caller, task.id, frame, call, await call.hold());
  }
  throw noRoute(method, path);
}
