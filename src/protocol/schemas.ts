/**
 * The wire contract: every request body, response body and WebSocket frame.
 * Relay and client both import these; every type is inferred from them. A few primitives are built at
 * once; the rest are `Deferred`, built on first use, so a one-shot command builds only what it parses with.
 */
import * as v from "valibot";
import { LIMIT } from "./constants";
import { Deferred, built, whenRead } from "./deferred";

// ---------------------------------------------------------------- primitives

export const AGENT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const CAP_RE = /^[a-z0-9][a-z0-9._:/-]{0,63}$/;

export const AgentName = v.pipe(
  v.string(),
  v.regex(AGENT_NAME_RE, "a name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"),
);
export const Capability = v.pipe(
  v.string(),
  v.regex(CAP_RE, "a capability is 1-64 lowercase letters, digits or . _ : / - (e.g. code-review)"),
);
export const Id = v.pipe(v.string(), v.minLength(1), v.maxLength(64));

/** Agent ids are issued by the relay only: `a_` and 12 characters of lowercase Crockford base32. */
export const AGENT_ID_RE = /^a_[0-9abcdefghjkmnpqrstvwxyz]{12}$/;
export const AgentId = v.pipe(
  v.string(),
  v.regex(AGENT_ID_RE, "an agent id is issued by the relay (a_ and 12 lowercase letters or digits); leave out id and secret to register a new agent"),
);
/** `relay` is the sender of status messages; `a2a` is kept for the relay's A2A sender. */
export const RESERVED_NAMES: readonly string[] = ["relay", "a2a"];
/** A name an agent may register: not reserved, and not shaped like an id, so a name never stands for another agent's id. */
export const NewAgentName = new Deferred(() => v.pipe(
  AgentName,
  v.check((s) => !/^a_/i.test(s), "a name must not start with a_, which is how agent ids start"),
  v.check((s) => !RESERVED_NAMES.includes(s.toLowerCase()), `the names ${RESERVED_NAMES.join(" and ")} are reserved for the relay`),
), whenRead);
/** What to do about a name the relay refuses. */
export const NAME_HINT = "choose another --name: 1-64 letters, digits, '.', '_' or '-', not starting with a_, and not relay or a2a";
export const Timestamp = v.string(); // ISO 8601, UTC
const Text = (max: number, what: string) =>
  v.pipe(v.string(), v.maxLength(max, `${what} is longer than ${max} characters`));
const Seconds = (what: string, max: number) =>
  v.pipe(
    v.number(),
    v.integer(`${what} must be a whole number of seconds`),
    v.minValue(1, `${what} must be at least 1 second`),
    v.maxValue(max, `${what} must be at most ${max} seconds`),
  );

export const PRIORITIES = ["urgent", "high", "normal", "low"] as const;
export const Priority = new Deferred(() => v.picklist(PRIORITIES, "priority must be one of low, normal, high, urgent"), whenRead);
export type Priority = v.InferOutput<typeof Priority>;

export const TASK_STATES = ["queued", "delivered", "working", "completed", "failed", "canceled", "expired"] as const;
export const TaskState = new Deferred(() => v.picklist(TASK_STATES, `a task state is one of ${TASK_STATES.join(", ")}`), whenRead);
export type TaskState = v.InferOutput<typeof TaskState>;
export const FINAL_STATES: ReadonlySet<TaskState> = new Set(["completed", "failed", "canceled", "expired"]);

/** True when `value` nests at most `max` objects or arrays deep; never looks further than that. */
export function nestsWithin(value: unknown, max: number): boolean {
  if (typeof value !== "object" || value === null) return true;
  if (max === 0) return false;
  for (const child of Object.values(value)) if (!nestsWithin(child, max - 1)) return false;
  return true;
}

/** A JSON object (never an array); deep nesting is refused because serializing it again could exhaust the stack. */
export const JsonObject = new Deferred(() => v.pipe(
  v.custom<Record<string, unknown>>((x) => typeof x === "object" && x !== null && !Array.isArray(x), "must be a JSON object, not an array or a value"),
  v.check((x) => nestsWithin(x, LIMIT.jsonDepth), `must not nest deeper than ${LIMIT.jsonDepth} levels`),
  v.record(v.string(), v.unknown()),
), whenRead);

// ---------------------------------------------------------------- agents

export const RegisterRequest = new Deferred(() => v.object({
  name: built(NewAgentName),
  caps: v.optional(v.pipe(v.array(Capability), v.maxLength(64, "at most 64 capabilities")), []),
  description: v.optional(Text(2000, "description"), ""),
  machine: v.optional(Text(255, "machine"), ""),
  /** Re-register an existing identity (keeping its id); needs that agent's secret in `secret`. */
  id: v.optional(AgentId),
  secret: v.optional(v.pipe(v.string(), v.maxLength(256))),
  /** The name claim the relay issued with this name (`Registration.claim`): after an in-memory restart it takes the name back from whoever registered it since. */
  claim: v.optional(v.pipe(v.string(), v.maxLength(128))),
}), whenRead);
export type RegisterRequest = v.InferOutput<typeof RegisterRequest>;

/**
 * listening: an inbox socket is open (tasks arrive at once); online: seen over HTTP in the last 30 s
 * (`--cap` routes to both); idle: its socket closed, or quiet for 30 s, but seen within 2 minutes
 * (not routed to); stale: not seen for longer.
 */
export const AgentStatus = new Deferred(() => v.picklist(["listening", "online", "idle", "stale"]), whenRead);
export type AgentStatus = v.InferOutput<typeof AgentStatus>;

export const Agent = new Deferred(() => v.object({
  id: Id,
  name: AgentName,
  caps: v.array(v.string()),
  description: v.string(),
  machine: v.string(),
  status: built(AgentStatus),
  connected: v.boolean(),
  registered_at: Timestamp,
  last_seen: Timestamp,
}), whenRead);
export type Agent = v.InferOutput<typeof Agent>;

/** The register response: the record plus the agent's secret, shown once. */
export const Registration = new Deferred(() => v.object({ ...Agent.entries, secret: v.string(), claim: v.optional(v.string()) }), whenRead);
export type Registration = v.InferOutput<typeof Registration>;

export const AgentList = new Deferred(() => v.object({ agents: v.array(built(Agent)) }), whenRead);

/** The heartbeat response: the agent's record, how many messages wait for it, and how many were handed out and not yet acknowledged. */
export const Heartbeat = new Deferred(() => v.object({ ...Agent.entries, pending: v.number(), in_flight: v.optional(v.number()) }), whenRead);

export const Health = new Deferred(() => v.object({
  ok: v.boolean(),
  version: v.string(),
  agents: v.number(),
  /** Where the relay keeps its state. */
  store: v.optional(v.picklist(["memory", "sqlite", "redis"])),
  /** Relays sharing the store, this one included (Redis only). */
  relays: v.optional(v.number()),
}), whenRead);
export type Health = v.InferOutput<typeof Health>;

// ---------------------------------------------------------------- messages (relay → agent)

const envelope = () => ({
  id: Id,
  from: Id,
  to: v.nullable(Id),
  created_at: Timestamp,
});

export const TaskMessage = new Deferred(() => v.object({
  type: v.literal("task"),
  ...envelope(),
  task: v.string(),
  context: built(JsonObject),
  priority: built(Priority),
  /** 1 on the first delivery; more when the task was handed out again (the holder did not acknowledge it, or went offline). */
  attempt: v.number(),
  /** Set on every delivery after the first: the work may have been started already. */
  redelivered: v.optional(v.boolean()),
  lease_s: v.number(),
}), whenRead);
export const ResponseMessage = new Deferred(() => v.object({
  type: v.literal("response"),
  ...envelope(),
  in_reply_to: Id,
  status: v.picklist(["completed", "failed"]),
  result: v.string(),
}), whenRead);
export const ProgressMessage = new Deferred(() => v.object({
  type: v.literal("progress"),
  ...envelope(),
  in_reply_to: Id,
  note: v.string(),
}), whenRead);
export const BroadcastMessage = new Deferred(() => v.object({
  type: v.literal("broadcast"),
  ...envelope(),
  content: v.string(),
  topic: v.string(),
  tags: v.array(v.string()),
}), whenRead);
export const StatusMessage = new Deferred(() => v.object({
  type: v.literal("status"),
  ...envelope(),
  task_id: Id,
  state: built(TaskState),
  note: v.string(),
}), whenRead);
export const FILE_ACTIONS = ["put", "delete", "lock", "unlock"] as const;
/** A change to a shared file, sent to every other agent. */
export const FileMessage = new Deferred(() => v.object({
  type: v.literal("file"),
  ...envelope(),
  key: v.string(),
  /** put: the new version; delete: the last version; lock, unlock: the latest version (0 if none). */
  version: v.number(),
  /** The name of the agent that made the change (for an expired lease, its holder). */
  by: v.string(),
  action: v.picklist(FILE_ACTIONS),
  /** put: the new version's size and sha256, and whether the relay merged it. */
  size: v.optional(v.number()),
  sha256: v.optional(v.string()),
  merged: v.optional(v.boolean()),
  /** lock: when the lease ends. */
  until: v.optional(Timestamp),
  /** unlock: the lease ran out instead of being released. */
  expired: v.optional(v.boolean()),
}), whenRead);
export type FileMessage = v.InferOutput<typeof FileMessage>;

export const Message = new Deferred(() => v.variant("type", [
  built(TaskMessage),
  built(ResponseMessage),
  built(ProgressMessage),
  built(BroadcastMessage),
  built(StatusMessage),
  built(FileMessage),
]), whenRead);
export type Message = v.InferOutput<typeof Message>;
export type TaskMessage = v.InferOutput<typeof TaskMessage>;
export type ResponseMessage = v.InferOutput<typeof ResponseMessage>;
export type MessageType = Message["type"];
export const MESSAGE_TYPES = ["task", "response", "progress", "broadcast", "status", "file"] as const satisfies readonly MessageType[];
/** `listen --type` and the inbox stream's `types` filter: a comma-separated list of message types. */
export const MessageTypes = new Deferred(() => v.pipe(
  v.string(),
  v.transform((s) => s.split(",").map((t) => t.trim()).filter(Boolean)),
  v.minLength(1, "name at least one message type"),
  v.check((ts) => ts.every((t) => (MESSAGE_TYPES as readonly string[]).includes(t)), `message types are ${MESSAGE_TYPES.join(", ")}`),
), whenRead);

export const Inbox = new Deferred(() => v.object({ messages: v.array(built(Message)) }), whenRead);

// ---------------------------------------------------------------- sending (agent → relay)

/** `from`, when given, must be the authenticated agent; the relay fills it in otherwise. */
const sendBase = () => ({ from: v.optional(Id) });

export const SendTask = new Deferred(() => v.object({
  type: v.literal("task"),
  ...sendBase(),
  to: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(64))),
  cap: v.optional(Capability),
  task: v.pipe(v.string(), v.minLength(1, "task must not be empty"), v.maxLength(1_000_000)),
  context: v.optional(built(JsonObject), {}),
  priority: v.optional(built(Priority), "normal"),
  lease_s: v.optional(Seconds("lease_s", LIMIT.leaseS), LIMIT.leaseDefaultS),
  ttl_s: v.optional(Seconds("ttl_s", LIMIT.taskTtlS)),
  idempotency_key: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(LIMIT.idempotencyKeyLength))),
  /** With `cap`: when no agent has it yet, keep the task until one registers. */
  queue: v.optional(v.boolean(), false),
}), whenRead);
export const SendResponse = new Deferred(() => v.object({
  type: v.literal("response"),
  ...sendBase(),
  to: v.optional(Id),
  in_reply_to: Id,
  status: v.optional(v.picklist(["completed", "failed"], "status must be completed or failed"), "completed"),
  result: v.pipe(v.string(), v.maxLength(1_000_000)),
}), whenRead);
export const SendProgress = new Deferred(() => v.object({
  type: v.literal("progress"),
  ...sendBase(),
  in_reply_to: Id,
  note: v.optional(Text(LIMIT.noteLength, "note"), ""),
}), whenRead);
export const SendBroadcast = new Deferred(() => v.object({
  type: v.literal("broadcast"),
  ...sendBase(),
  content: v.pipe(v.string(), v.minLength(1, "content must not be empty"), v.maxLength(1_000_000)),
  topic: v.optional(Text(LIMIT.topicLength, "topic"), ""),
  tags: v.optional(v.pipe(v.array(Text(LIMIT.tagLength, "a tag")), v.maxLength(LIMIT.tags, `at most ${LIMIT.tags} tags`)), []),
}), whenRead);

export const SendMessage = new Deferred(() => v.variant(
  "type",
  [built(SendTask), built(SendResponse), built(SendProgress), built(SendBroadcast)],
  "type must be one of task, response, progress, broadcast",
), whenRead);
export type SendMessage = v.InferOutput<typeof SendMessage>;
export type SendTask = v.InferOutput<typeof SendTask>;

export const Sent = new Deferred(() => v.object({
  id: Id,
  recipients: v.optional(v.number()),
  to: v.optional(v.nullable(Id)),
  duplicate: v.optional(v.boolean()),
}), whenRead);
export type Sent = v.InferOutput<typeof Sent>;

/** Counted before any id is looked at, and checked in one pass: an ack frame is cheap to refuse and to read. */
const AckIds = (what: string) =>
  v.pipe(
    v.array(v.unknown()),
    v.maxLength(LIMIT.ackIds, `an ack names at most ${LIMIT.ackIds} ${what}; send the rest in another ack`),
    v.check((ids) => ids.every((id) => typeof id === "string" && id.length >= 1 && id.length <= 64), `${what} are strings of 1 to 64 characters`),
    v.transform((ids) => ids as string[]),
  );
const ackFields = () => ({
  ids: v.optional(AckIds("message ids"), []),
  /** Also settle every message about these tasks (what `delegate --wait` already showed). */
  tasks: v.optional(AckIds("task ids"), []),
});
export const AckRequest = new Deferred(() => v.object(ackFields()), whenRead);

// ---------------------------------------------------------------- tasks

/**
 * A task's holder as its sender sees it. `online` is true while it listens or was seen in the last
 * 30 s; `since`: listening since, last seen at, or offline since (its socket closed).
 */
export const Holder = new Deferred(() => v.object({
  id: Id,
  name: v.string(),
  status: built(AgentStatus),
  online: v.boolean(),
  since: Timestamp,
}), whenRead);
export type Holder = v.InferOutput<typeof Holder>;

export const TaskTransition = new Deferred(() => v.object({ state: built(TaskState), at: Timestamp, note: v.string() }), whenRead);
export const Task = new Deferred(() => v.object({
  id: Id,
  from: Id,
  to: v.nullable(Id),
  cap: v.nullable(v.string()),
  task: v.string(),
  /** The sender's context object, as given with the task. */
  context: v.optional(built(JsonObject), {}),
  priority: built(Priority),
  state: built(TaskState),
  attempts: v.number(),
  lease_s: v.number(),
  ttl_s: v.nullable(v.number()),
  created_at: Timestamp,
  updated_at: Timestamp,
  /** Its first entries and its latest; `history_dropped` counts those left out between them. */
  history: v.array(built(TaskTransition)),
  history_dropped: v.optional(v.number(), 0),
  /** The holder's latest progress note; null until it sends one. */
  note: v.optional(v.nullable(v.string()), null),
  result: v.nullable(v.string()),
  /** Who holds it now, whether it can be reached, and since when (on `GET /v1/tasks/{id}` and task watches). */
  holder: v.optional(v.nullable(built(Holder))),
}), whenRead);
export type Task = v.InferOutput<typeof Task>;
/**
 * A page of `GET /v1/tasks`: `limit` tasks at most (`LIMIT.taskPageDefault` unless asked), cut short once
 * the page passes `LIMIT.taskPageBytes` (it always holds one task), and the cursor of the next page, null on the last.
 */
export const TaskList = new Deferred(() => v.object({ tasks: v.array(built(Task)), next_cursor: v.optional(v.nullable(v.string()), null) }), whenRead);
export type TaskList = v.InferOutput<typeof TaskList>;

// ---------------------------------------------------------------- files

/** A shared file's key: a relative path such as `reports/q3.md`. */
/**
 * Characters that print as nothing, as a blank, or reorder the text around them: two keys that differ only by
 * them would look alike. Unicode's default-ignorable set holds variation selectors and Hangul fillers too.
 */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Zl}\p{Zp}\u2800\ufffc]/u;
/** Spaces other than U+0020 (no-break, ideographic, thin ...): they look like the plain one. */
const ODD_SPACE = /[^\P{Zs} ]/u;
/** The first character of `k` that `re` matches, as U+XXXX. */
const codePoint = (k: string, re: RegExp) => `U+${(re.exec(k)?.[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;

/** Keys are compared in Unicode NFC, so `é` typed either way names one file. */
export const FileKey = new Deferred(() => v.pipe(
  v.string(),
  v.transform((k) => k.normalize("NFC")),
  v.minLength(1, "a file key must not be empty"),
  v.maxLength(LIMIT.keyLength, `a file key is at most ${LIMIT.keyLength} characters`),
  v.check((k) => !/\p{Cc}/u.test(k), "a file key must not contain control characters"),
  v.check(
    (k) => !INVISIBLE.test(k),
    (i) => `a file key must not contain invisible or direction-changing characters (zero-width spaces and joiners, soft hyphens, variation selectors, bidi overrides, blank symbols); it has ${codePoint(String(i.input), INVISIBLE)}`,
  ),
  v.check((k) => !ODD_SPACE.test(k), (i) => `a file key must not contain spaces other than the plain one (U+0020), which look alike; it has ${codePoint(String(i.input), ODD_SPACE)}`),
  v.check((k) => k.split("/").every((s) => s.trim() === s), "a file key's folder and file names must not start or end with a space"),
  v.check((k) => !k.includes("\\"), "a file key uses / between folders, never a backslash"),
  v.check((k) => !k.startsWith("/"), "a file key is a relative path; drop the leading /"),
  v.check((k) => k.startsWith("/") || k.split("/").every((s) => s !== "" && s !== "." && s !== ".."), "a file key must not have empty, '.' or '..' segments"),
  v.check((k) => k.split("/").length <= LIMIT.keySegments, `a file key has at most ${LIMIT.keySegments} segments`),
), whenRead);

/** The start of file keys (`file-list --prefix`, `file-watch --key`), compared as keys are: in NFC. */
export const KeyPrefix = new Deferred(() => v.pipe(v.string(), v.maxLength(LIMIT.keyLength, `a prefix is at most ${LIMIT.keyLength} characters`), v.transform((k) => k.normalize("NFC"))), whenRead);

/** One stored version of a shared file. Versions count up from 1 per key and never repeat. */
export const FileVersion = new Deferred(() => v.object({
  key: v.string(),
  version: v.number(),
  size: v.number(),
  sha256: v.string(),
  author: v.string(),
  created_at: Timestamp,
}), whenRead);
export type FileVersion = v.InferOutput<typeof FileVersion>;
export const FileHistory = new Deferred(() => v.object({ key: v.string(), versions: v.array(built(FileVersion)) }), whenRead);
export type FileHistory = v.InferOutput<typeof FileHistory>;

/** The answer to a put: the version written, or the latest one when it already held this content. */
export const FileWritten = new Deferred(() => v.object({
  ...FileVersion.entries,
  /** False when the content equalled the latest version, so no version was made. */
  created: v.boolean(),
  /** True when the relay merged the write with versions made since the one it started from. */
  merged: v.boolean(),
}), whenRead);
export type FileWritten = v.InferOutput<typeof FileWritten>;

/** A lease: while it lasts, only `holder` may write or delete the key. */
export const FileLock = new Deferred(() => v.object({
  key: v.string(),
  holder: v.string(),
  holder_id: Id,
  since: Timestamp,
  until: Timestamp,
}), whenRead);
export type FileLock = v.InferOutput<typeof FileLock>;
export const LockRequest = new Deferred(() => v.object({ ttl_s: Seconds("ttl_s", LIMIT.lockTtlS) }), whenRead);

/** The latest version of a file, and the lease on it if there is one. */
export const FileInfo = new Deferred(() => v.object({
  key: v.string(),
  version: v.number(),
  size: v.number(),
  sha256: v.string(),
  updated_by: v.string(),
  updated_at: Timestamp,
  lock: v.nullable(built(FileLock)),
}), whenRead);
export type FileInfo = v.InferOutput<typeof FileInfo>;
export const FileList = new Deferred(() => v.object({ files: v.array(built(FileInfo)) }), whenRead);
export const FileDeleted = new Deferred(() => v.object({ key: v.string(), version: v.number(), deleted: v.literal(true) }), whenRead);
export type FileDeleted = v.InferOutput<typeof FileDeleted>;

// ---------------------------------------------------------------- WebSocket frames

/** A `send` frame's own label, a string (up to 200 characters) or a number, echoed as given on its `sent` or `error` frame. */
export const FrameRef = new Deferred(() => v.union([v.pipe(v.string(), v.maxLength(200)), v.pipe(v.number(), v.finite())], "ref must be a string (at most 200 characters) or a number"), whenRead);
export type FrameRef = v.InferOutput<typeof FrameRef>;

/** Client → relay. `ref` is echoed on the acknowledgement so a sender can match replies. */
export const ClientFrame = new Deferred(() => v.variant(
  "op",
  [
    v.pipe(
      v.object({
        op: v.literal("send"),
        ref: v.optional(built(FrameRef)),
        message: v.optional(v.unknown()),
        messages: v.optional(
          v.pipe(v.array(v.unknown()), v.minLength(1, "a batch holds at least one message"), v.maxLength(LIMIT.sendBatch, `a batch holds at most ${LIMIT.sendBatch} messages; send the rest in another frame`)),
        ),
      }),
      v.check((f) => (f.message === undefined) !== (f.messages === undefined), "a send frame carries either `message` (one) or `messages` (a batch)"),
    ),
    v.object({ op: v.literal("ack"), ...ackFields() }),
    v.object({ op: v.literal("ping") }),
    /** Answers the relay's hello: `batch: true` asks for `messages` frames from now on. */
    v.object({ op: v.literal("hello"), batch: v.optional(v.boolean(), false) }),
  ],
  "op must be one of send, ack, ping, hello",
), whenRead);
export type ClientFrame = v.InferOutput<typeof ClientFrame>;

// ---------------------------------------------------------------- errors

export const ErrorBody = new Deferred(() => v.object({
  error: v.object({ code: v.string(), message: v.string(), hint: v.string() }),
}), whenRead);
export type ErrorBody = v.InferOutput<typeof ErrorBody>;

// ---------------------------------------------------------------- WebSocket frames, relay → client

/**
 * First on every socket: the agent as the relay holds it (on an inbox stream, once attached: `connected: true`).
 * `batch`: this relay takes batches, and sends `messages` frames to a client that answers with `{op: "hello", batch: true}`.
 */
export const HelloFrame = new Deferred(() => v.object({ op: v.literal("hello"), agent: built(Agent), batch: v.optional(v.boolean()) }), whenRead);
export const MessageFrame = new Deferred(() => v.object({ op: v.literal("message"), message: built(Message) }), whenRead);
/** To a client that asked for batches: messages pushed together, each acknowledged as if it came alone. */
export const MessagesFrame = new Deferred(() => v.object({ op: v.literal("messages"), messages: v.array(built(Message)) }), whenRead);
/** A `send` frame's message was committed; `ref` is the client's. */
export const SentFrame = new Deferred(() => v.object({ op: v.literal("sent"), ref: v.optional(built(FrameRef)), ...Sent.entries }), whenRead);
/** What a batch's confirmation says of each of its messages, in order: sent, or refused and why. */
export const BatchResult = new Deferred(() => v.union([built(Sent), built(ErrorBody)]), whenRead);
export type BatchResult = v.InferOutput<typeof BatchResult>;
/** A `send` frame's batch: one confirmation for all of it. */
export const BatchSentFrame = new Deferred(() => v.object({ op: v.literal("sent"), ref: v.optional(built(FrameRef)), results: v.array(built(BatchResult)) }), whenRead);
/** On a task watch: the task now and after every change; `response` once it is completed or failed. */
export const TaskFrame = new Deferred(() => v.object({ op: v.literal("task"), task: built(Task), response: v.nullable(built(ResponseMessage)) }), whenRead);
/** A frame the relay refused (with the `ref` of a `send`), or a task that cannot be watched. */
export const ErrorFrame = new Deferred(() => v.object({ op: v.literal("error"), ref: v.optional(built(FrameRef)), ...ErrorBody.entries }), whenRead);
export const PongFrame = new Deferred(() => v.object({ op: v.literal("pong") }), whenRead);

export const ServerFrame = new Deferred(() => v.variant("op", [built(HelloFrame), built(MessageFrame), built(MessagesFrame), built(SentFrame), built(BatchSentFrame), built(TaskFrame), built(ErrorFrame), built(PongFrame)]), whenRead);
/** What the relay sends: the schema's input, so defaults the client fills in need not be sent. */
export type ServerFrame = v.InferInput<typeof ServerFrame>;
