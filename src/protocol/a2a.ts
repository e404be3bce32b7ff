/**
 * A2A v1.0 on the wire (JSON-RPC and HTTP+JSON bindings, ProtoJSON field names): what the relay's
 * gateway reads and writes, and what `a2a-bridge` reads from an external agent. Types are inferred here.
 */
import * as v from "valibot";
import { LIMIT } from "./constants";
import { nestsWithin } from "./schemas";

export const A2A_VERSION = "1.0";
export const A2A_VERSION_HEADER = "A2A-Version";
export const CARD_PATH = "/.well-known/agent-card.json";

export const A2A_STATES = [
  "TASK_STATE_SUBMITTED",
  "TASK_STATE_WORKING",
  "TASK_STATE_COMPLETED",
  "TASK_STATE_FAILED",
  "TASK_STATE_CANCELED",
  "TASK_STATE_INPUT_REQUIRED",
  "TASK_STATE_REJECTED",
  "TASK_STATE_AUTH_REQUIRED",
] as const;
export const A2AState = v.picklist(A2A_STATES, `a task state is one of ${A2A_STATES.join(", ")}`);
export type A2AState = v.InferOutput<typeof A2AState>;
/** States a task never leaves. */
export const A2A_TERMINAL: ReadonlySet<string> = new Set(["TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED", "TASK_STATE_REJECTED"]);
/** States where the agent waits for the client; a blocking SendMessage returns at them too. */
export const A2A_INTERRUPTED: ReadonlySet<string> = new Set(["TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"]);

/** JSON-RPC error codes: the standard ones, then A2A's (specification section 5.4). */
export const RPC = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  /** ClawLink's errors with no A2A equivalent (auth, unknown agent, limits); the reason is in data. */
  server: -32000,
  taskNotFound: -32001,
  taskNotCancelable: -32002,
  pushNotSupported: -32003,
  unsupportedOperation: -32004,
  contentTypeNotSupported: -32005,
  versionNotSupported: -32009,
} as const;

/** Deep nesting is refused, as everywhere on the wire: serializing it again could exhaust the stack. */
const shallow = <T>(what: string) => v.check<T, string>((x) => nestsWithin(x, LIMIT.jsonDepth), `${what} must not nest deeper than ${LIMIT.jsonDepth} levels`);
const Struct = v.pipe(v.record(v.string(), v.unknown()), shallow("metadata"));
const Ident = (what: string) => v.pipe(v.string(), v.minLength(1, `${what} must not be empty`), v.maxLength(256, `${what} is at most 256 characters`));

/** One piece of content: exactly one of text, raw (base64), url or data. */
export const Part = v.pipe(
  v.object({
    text: v.optional(v.string()),
    raw: v.optional(v.string()),
    url: v.optional(v.string()),
    data: v.optional(v.pipe(v.unknown(), shallow("a data part"))),
    metadata: v.optional(Struct),
    filename: v.optional(v.string()),
    mediaType: v.optional(v.string()),
  }),
  v.check((p) => [p.text, p.raw, p.url, p.data].filter((x) => x !== undefined).length === 1, "a part holds exactly one of text, raw, url or data"),
);
export type Part = v.InferOutput<typeof Part>;

export const Role = v.picklist(["ROLE_USER", "ROLE_AGENT"], "role is ROLE_USER or ROLE_AGENT");

export const Message = v.object({
  messageId: Ident("messageId"),
  contextId: v.optional(v.string()),
  taskId: v.optional(v.string()),
  role: Role,
  parts: v.pipe(v.array(Part), v.minLength(1, "a message needs at least one part")),
  metadata: v.optional(Struct),
  extensions: v.optional(v.array(v.string())),
  referenceTaskIds: v.optional(v.array(v.string())),
});
export type Message = v.InferOutput<typeof Message>;

const HistoryLength = v.optional(v.pipe(v.number(), v.integer("historyLength is a whole number"), v.minValue(0, "historyLength is 0 or more")));

export const SendMessageRequest = v.object({
  tenant: v.optional(v.string()),
  message: Message,
  configuration: v.optional(
    v.object({
      acceptedOutputModes: v.optional(v.array(v.string())),
      historyLength: HistoryLength,
      returnImmediately: v.optional(v.boolean()),
      taskPushNotificationConfig: v.optional(v.unknown()),
    }),
  ),
  metadata: v.optional(Struct),
});
export type SendMessageRequest = v.InferOutput<typeof SendMessageRequest>;

export const GetTaskRequest = v.object({ tenant: v.optional(v.string()), id: Ident("id"), historyLength: HistoryLength });
export const CancelTaskRequest = v.object({ tenant: v.optional(v.string()), id: Ident("id"), metadata: v.optional(Struct) });
export const SubscribeToTaskRequest = v.object({ tenant: v.optional(v.string()), id: Ident("id") });
export const ListTasksRequest = v.object({
  tenant: v.optional(v.string()),
  contextId: v.optional(v.string()),
  status: v.optional(v.picklist(["TASK_STATE_UNSPECIFIED", ...A2A_STATES], `status is one of ${A2A_STATES.join(", ")}`)),
  pageSize: v.optional(v.pipe(v.number(), v.integer("pageSize is a whole number"), v.minValue(1, "pageSize is at least 1"), v.maxValue(100, "pageSize is at most 100"))),
  pageToken: v.optional(v.pipe(v.string(), v.maxLength(512))),
  historyLength: HistoryLength,
  statusTimestampAfter: v.optional(v.pipe(v.string(), v.isoTimestamp("statusTimestampAfter is an ISO 8601 time"))),
  includeArtifacts: v.optional(v.boolean()),
});
export type ListTasksRequest = v.InferOutput<typeof ListTasksRequest>;

/** A JSON-RPC 2.0 request envelope; `params` is parsed per method. */
export const JsonRpcRequest = v.object({
  jsonrpc: v.literal("2.0", 'jsonrpc must be "2.0"'),
  id: v.optional(v.union([v.string(), v.pipe(v.number(), v.integer()), v.null()], "id is a string, a whole number or null")),
  method: v.pipe(v.string("method is a string"), v.minLength(1, "method must not be empty")),
  params: v.optional(v.unknown()),
});
export type RpcId = string | number | null;

// ---------------------------------------------------------------- what agents answer

export const Artifact = v.object({
  artifactId: v.string(),
  name: v.optional(v.string()),
  description: v.optional(v.string()),
  parts: v.array(Part),
  metadata: v.optional(Struct),
});
export type Artifact = v.InferOutput<typeof Artifact>;

/** An agent's message in a status; lenient, since it is only read for its text. */
const StatusMessage = v.object({ messageId: v.optional(v.string()), role: v.optional(v.string()), parts: v.optional(v.array(Part), []) });

export const TaskStatus = v.object({
  state: v.union([A2AState, v.literal("TASK_STATE_UNSPECIFIED")]),
  message: v.optional(StatusMessage),
  timestamp: v.optional(v.string()),
});

export const Task = v.object({
  id: v.string(),
  contextId: v.optional(v.string()),
  status: TaskStatus,
  artifacts: v.optional(v.array(Artifact)),
  history: v.optional(v.array(v.unknown())),
  metadata: v.optional(Struct),
});
export type Task = v.InferOutput<typeof Task>;

/** SendMessage's answer: a task, or a direct message. */
export const SendMessageResponse = v.union([v.object({ task: Task }), v.object({ message: StatusMessage })], "the answer holds neither a task nor a message");

export const JsonRpcResponse = v.union([
  v.object({ jsonrpc: v.literal("2.0"), id: v.nullish(v.union([v.string(), v.number()])), result: v.unknown() }),
  v.object({ jsonrpc: v.literal("2.0"), id: v.nullish(v.union([v.string(), v.number()])), error: v.object({ code: v.number(), message: v.string(), data: v.optional(v.unknown()) }) }),
]);

// ---------------------------------------------------------------- Agent Cards

export const AgentInterface = v.object({
  url: v.pipe(v.string(), v.url("an interface url is an absolute URL")),
  protocolBinding: v.string(),
  protocolVersion: v.optional(v.string()),
  tenant: v.optional(v.string()),
});
export type AgentInterface = v.InferOutput<typeof AgentInterface>;

export const AgentSkill = v.object({
  id: v.string(),
  name: v.string(),
  description: v.optional(v.string(), ""),
  tags: v.optional(v.array(v.string()), []),
  examples: v.optional(v.array(v.string())),
});

/** The parts of a card a client acts on; other fields pass through unread. */
export const AgentCard = v.object({
  name: v.pipe(v.string(), v.minLength(1, "the card has no name")),
  description: v.optional(v.string(), ""),
  version: v.optional(v.string()),
  supportedInterfaces: v.optional(v.array(AgentInterface), []),
  capabilities: v.optional(v.object({ streaming: v.optional(v.boolean()), pushNotifications: v.optional(v.boolean()) }), {}),
  skills: v.optional(v.array(AgentSkill), []),
});
export type AgentCard = v.InferOutput<typeof AgentCard>;
