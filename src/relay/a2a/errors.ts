/** A2A errors, and every error as each binding shows it: a JSON-RPC error object or a google.rpc.Status body. */
import { ClawlinkError, type ErrorCode } from "../../errors";
import { RPC, type RpcId } from "../../protocol/a2a";
import { loneSurrogate } from "../../protocol/codec";

const ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo";
const A2A_DOMAIN = "a2a-protocol.org";

/** An error the A2A specification names: its JSON-RPC code, its reason, and the HTTP status of the HTTP+JSON binding. */
export class A2AError extends ClawlinkError {
  constructor(
    readonly rpcCode: number,
    readonly reason: string,
    status: number,
    message: string,
    hint?: string,
  ) {
    // A2A's reasons are its own codes, answered in its shapes; they never reach the CLI's exit codes.
    super(reason.toLowerCase() as ErrorCode, message, hint ?? "see the relay's card (/.well-known/agent-card.json)", { status });
  }
}

export const taskNotFound = (id: string) =>
  new A2AError(RPC.taskNotFound, "TASK_NOT_FOUND", 404, `no task ${id} was sent by you to this agent`, "ListTasks shows the tasks you sent here");
export const taskNotCancelable = (id: string, state: string) =>
  new A2AError(RPC.taskNotCancelable, "TASK_NOT_CANCELABLE", 400, `task ${id} is already ${state}`, "only a task that has not ended can be canceled");
export const unsupported = (message: string, hint?: string) => new A2AError(RPC.unsupportedOperation, "UNSUPPORTED_OPERATION", 400, message, hint);
export const pushNotSupported = () =>
  new A2AError(RPC.pushNotSupported, "PUSH_NOTIFICATION_NOT_SUPPORTED", 400, "this agent does not send push notifications", "follow a task with SubscribeToTask or poll it with GetTask");
export const contentTypeNotSupported = (message: string, hint?: string) => new A2AError(RPC.contentTypeNotSupported, "CONTENT_TYPE_NOT_SUPPORTED", 400, message, hint);
export const versionNotSupported = (message: string, hint = "send A2A-Version: 1.0") => new A2AError(RPC.versionNotSupported, "VERSION_NOT_SUPPORTED", 400, message, hint);
export const invalidParams = (message: string, hint?: string) => new A2AError(RPC.invalidParams, "INVALID_PARAMS", 400, message, hint);
export const invalidRequest = (message: string, hint?: string) => new A2AError(RPC.invalidRequest, "INVALID_REQUEST", 400, message, hint);
export const parseError = (message: string, hint: string) => new A2AError(RPC.parseError, "PARSE_ERROR", 400, message, hint);
/** A request holding a lone UTF-16 surrogate: the relay's refusal (codec.ts), as A2A's invalid params. */
export const notUnicode = () => {
  const { message, hint } = loneSurrogate("the request");
  return invalidParams(message, hint);
};
export const methodNotFound = (message: string, hint?: string) => new A2AError(RPC.methodNotFound, "METHOD_NOT_FOUND", 404, message, hint);

export const unauthenticated = (presented: boolean) =>
  new ClawlinkError(
    "unauthorized",
    presented ? "the bearer token is neither the relay token nor a registered agent's secret" : "this relay has a token, so this endpoint needs a bearer token",
    "send Authorization: Bearer <the relay token, or a ClawLink agent's secret>",
    { headers: { "WWW-Authenticate": 'Bearer realm="clawlink"' } },
  );

interface Described {
  rpcCode: number;
  reason: string;
  domain: string;
  status: number;
  message: string;
  hint?: string;
  headers?: Record<string, string>;
}

/** What any error means in A2A terms; ClawLink's own errors keep their status and code as the reason. */
function describe(err: unknown): Described {
  if (err instanceof A2AError) return { rpcCode: err.rpcCode, reason: err.reason, domain: A2A_DOMAIN, status: err.status, message: err.message, hint: err.hint };
  if (err instanceof ClawlinkError) {
    const reason = err.code.toUpperCase();
    if (err.status === 400) return { rpcCode: RPC.invalidParams, reason: "INVALID_PARAMS", domain: A2A_DOMAIN, status: 400, message: err.message, hint: err.hint };
    return { rpcCode: RPC.server, reason, domain: "clawlink", status: err.status, message: err.message, hint: err.hint, headers: err.headers };
  }
  return { rpcCode: RPC.internal, reason: "INTERNAL", domain: "clawlink", status: 500, message: "the relay could not handle this request", hint: "retry; if it persists, check the relay's log" };
}

const info = (d: Described) => ({ "@type": ERROR_INFO, reason: d.reason, domain: d.domain, ...(d.hint ? { metadata: { hint: d.hint } } : {}) });

/** A JSON-RPC error object; `status` is the HTTP status to send it with (200 for protocol errors, as JSON-RPC does). */
export function rpcError(err: unknown, id: RpcId): { body: unknown; status: number; headers?: Record<string, string> } {
  const d = describe(err);
  const body = { jsonrpc: "2.0", id, error: { code: d.rpcCode, message: d.message, data: [info(d)] } };
  return { body, status: d.rpcCode === RPC.server || d.rpcCode === RPC.internal ? d.status : 200, headers: d.headers };
}

const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  405: "UNIMPLEMENTED",
  409: "FAILED_PRECONDITION",
  413: "OUT_OF_RANGE",
  415: "INVALID_ARGUMENT",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
};
const PRECONDITIONS = new Set(["TASK_NOT_CANCELABLE", "PUSH_NOTIFICATION_NOT_SUPPORTED", "UNSUPPORTED_OPERATION", "VERSION_NOT_SUPPORTED"]);

/** A google.rpc.Status body, as the HTTP+JSON binding answers errors. */
export function restError(err: unknown): { body: unknown; status: number; headers?: Record<string, string> } {
  const d = describe(err);
  const name = PRECONDITIONS.has(d.reason) ? "FAILED_PRECONDITION" : (STATUS_NAMES[d.status] ?? "UNKNOWN");
  return { body: { error: { code: d.status, status: name, message: d.message, details: [info(d)] } }, status: d.status, headers: d.headers };
}
