/** The JSON-RPC binding: one POST to /a2a/{name} per call, SSE for the two streaming methods. */
import * as v from "valibot";
import { CancelTaskRequest, GetTaskRequest, JsonRpcRequest, ListTasksRequest, SendMessageRequest, SubscribeToTaskRequest, type RpcId } from "../../protocol/a2a";
import { describeIssues, holdsLoneSurrogate, loneSurrogate } from "../../protocol/codec";
import { FINAL_STATES } from "../../protocol/schemas";
import { invalidParams, invalidRequest, methodNotFound, notUnicode, parseError, pushNotSupported, unsupported, versionNotSupported } from "./errors";
import type { Call } from "./rest";
import { sseData, taskStream } from "./stream";
import { a2aTask } from "./views";

/** A2A v0.3's method names, with their v1.0 successors: named in the error a v0.3 client gets. */
const V03: Record<string, string> = {
  "message/send": "SendMessage",
  "message/stream": "SendStreamingMessage",
  "tasks/get": "GetTask",
  "tasks/list": "ListTasks",
  "tasks/cancel": "CancelTask",
  "tasks/resubscribe": "SubscribeToTask",
  "tasks/pushNotificationConfig/set": "CreateTaskPushNotificationConfig",
  "tasks/pushNotificationConfig/get": "GetTaskPushNotificationConfig",
  "tasks/pushNotificationConfig/list": "ListTaskPushNotificationConfigs",
  "tasks/pushNotificationConfig/delete": "DeleteTaskPushNotificationConfig",
  "agent/getAuthenticatedExtendedCard": "GetExtendedAgentCard",
};
const PUSH_METHODS = new Set(["CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig", "ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig"]);

function params<S extends v.GenericSchema>(schema: S, raw: unknown, method: string): v.InferOutput<S> {
  const r = v.safeParse(schema, raw ?? {});
  if (r.success) return r.output;
  throw invalidParams(`invalid params for ${method}: ${describeIssues(r.issues)}`, "see the A2A v1.0 specification for the method's request object");
}

/** The request envelope from the body's text; `onId` learns the id as soon as it is known, for error replies. */
export function parseEnvelope(text: string, onId: (id: RpcId) => void): v.InferOutput<typeof JsonRpcRequest> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw parseError(`the body is not valid JSON: ${(err as Error).message}`, 'send one JSON-RPC 2.0 request object, e.g. {"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{...}}');
  }
  if (Array.isArray(raw)) throw invalidRequest("batches are not supported", "send one request per call");
  const id = (raw as { id?: unknown } | null)?.id;
  if (typeof id === "string" || (typeof id === "number" && Number.isInteger(id))) onId(id);
  if (holdsLoneSurrogate(text, raw)) throw notUnicode();
  const r = v.safeParse(JsonRpcRequest, raw);
  if (!r.success) throw invalidRequest(`not a JSON-RPC 2.0 request: ${describeIssues(r.issues)}`, 'send {"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{...}}');
  return r.output;
}

export async function callRpc(call: Call, rpc: v.InferOutput<typeof JsonRpcRequest>): Promise<Response> {
  if (rpc.id === undefined) return notified(call, rpc);
  const { ops, caller, target } = call;
  const id = rpc.id ?? null;
  const reply = (result: unknown) => Response.json({ jsonrpc: "2.0", id, result });
  const frame = (result: object) => sseData({ jsonrpc: "2.0", id, result });
  const method = rpc.method;
  switch (method) {
    case "SendMessage": {
      const req = params(SendMessageRequest, rpc.params, method);
      // Counted before the task is sent: a refusal leaves nothing behind.
      const release = req.configuration?.returnImmediately ? undefined : await call.hold();
      try {
        let task = await ops.send(caller, target, req);
        if (!req.configuration?.returnImmediately && !FINAL_STATES.has(task.state)) {
          task = await ops.settled(caller, task.id, call.signal);
          ops.seen(caller, task);
        }
        return reply({ task: a2aTask(task, { historyLength: req.configuration?.historyLength }) });
      } finally {
        release?.();
      }
    }
    case "SendStreamingMessage": {
      const req = params(SendMessageRequest, rpc.params, method);
      const release = await call.hold();
      try {
        return taskStream(ops, caller, (await ops.send(caller, target, req)).id, frame, call, release);
      } catch (err) {
        release();
        throw err;
      }
    }
    case "GetTask": {
      const req = params(GetTaskRequest, rpc.params, method);
      return reply(a2aTask(await ops.task(caller, target, req.id), { historyLength: req.historyLength }));
    }
    case "ListTasks":
      return reply(await ops.list(caller, target, params(ListTasksRequest, rpc.params, method)));
    case "CancelTask":
      return reply(a2aTask(await ops.cancel(caller, target, params(CancelTaskRequest, rpc.params, method).id)));
    case "SubscribeToTask": {
      const task = await ops.task(caller, target, params(SubscribeToTaskRequest, rpc.params, method).id);
      if (FINAL_STATES.has(task.state)) throw unsupported(`task ${task.id} has ended (${task.state}); there is nothing to subscribe to`, "GetTask shows how it ended");
      return taskStream(ops, caller, task.id, frame, call, await call.hold());
    }
    case "GetExtendedAgentCard":
      throw unsupported("this agent has no extended card", "its public card at .well-known/agent-card.json is all there is");
    default:
      if (PUSH_METHODS.has(method)) throw pushNotSupported();
      if (V03[method]) throw versionNotSupported(`${method} is an A2A v0.3 method; this relay speaks A2A v1.0`, `call ${V03[method]} instead, with the header A2A-Version: 1.0`);
      throw methodNotFound(`no method ${method}`, "A2A v1.0 methods: SendMessage, SendStreamingMessage, GetTask, ListTasks, CancelTask, SubscribeToTask");
  }
}

/**
 * A notification (a request without an id) is acted on but never answered (JSON-RPC 2.0, section 4.1):
 * a message is sent without waiting for its task, no stream is opened, reads do nothing, and the HTTP
 * answer is 204 with no body.
 */
function notified(call: Call, rpc: v.InferOutput<typeof JsonRpcRequest>): Response {
  const { ops, caller, target } = call;
  // Nobody hears how they went: a notification's errors are dropped, as its answer is.
  if (rpc.method === "SendMessage" || rpc.method === "SendStreamingMessage") ops.send(caller, target, params(SendMessageRequest, rpc.params, rpc.method)).catch(() => {});
  else if (rpc.method === "CancelTask") ops.cancel(caller, target, params(CancelTaskRequest, rpc.params, rpc.method).id).catch(() => {});
  return new Response(null, { status: 204 });
}
