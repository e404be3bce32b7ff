/**
 * What the Store port (`port.ts`) takes and gives: the records it keeps, the changes its operations
 * apply, and what each operation answers. Records are values: frozen, never changed afterwards.
 */
import type { ClawlinkError } from "../../errors";
import type { Message, MessageType, Priority, TaskState } from "../../protocol/schemas";

/** A new registration, or an agent registering again under its id. */
export interface NewAgent {
  readonly id: string;
  readonly name: string;
  readonly caps: readonly string[];
  readonly description: string;
  readonly machine: string;
  readonly secretHash: string;
}

export interface AgentRecord extends NewAgent {
  readonly registeredAt: number;
  readonly lastSeen: number;
  /** When the relay gave it its name, as proven by a name claim from before this relay started; none for a name given since. */
  readonly claimSince?: number | null;
  /** Its live connections on any relay, each `<relay instance>.<n>`. */
  readonly conns: readonly string[];
  /** When its first open connection opened (absent while it has none). */
  readonly connectedAt?: number | null;
  /** When its last connection closed (absent if it never had one, or while it has one). */
  readonly disconnectedAt?: number | null;
}

export interface Transition {
  readonly state: TaskState;
  readonly at: number;
  readonly note: string;
}

export interface TaskRecord {
  readonly id: string;
  readonly from: string;
  /** Its holder; null while it waits for an agent with its capability. */
  readonly to: string | null;
  readonly cap: string | null;
  readonly task: string;
  readonly context: Readonly<Record<string, unknown>>;
  readonly priority: Priority;
  readonly state: TaskState;
  readonly attempts: number;
  /** The agent it was last handed out to (claimed from that agent's queue); null until then. Absent in records kept before it was (`receivedBy`). */
  readonly handedTo?: string | null;
  readonly leaseS: number;
  readonly ttlS: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** The first entries and the latest (rules.ts, HISTORY); `historyDropped` counts those left out between them. */
  readonly history: readonly Transition[];
  readonly historyDropped?: number;
  /** The holder's latest progress note; null until it sends one (absent in records kept before notes were). */
  readonly note?: string | null;
  readonly result: string | null;
  readonly responseId: string | null;
  readonly idempotencyKey: string | null;
}

/** A task as its sender makes it: `to` is an agent's id or name (the store resolves it, as `findAgent`), or null to wait for an agent with `cap`. */
export type NewTask = Pick<TaskRecord, "id" | "from" | "to" | "cap" | "task" | "context" | "priority" | "leaseS" | "ttlS" | "createdAt" | "idempotencyKey">;

/** A message for one agent, as the core hands it to the store. */
export interface NewEntry {
  readonly to: string;
  readonly priority: Priority;
  readonly msg: Message;
}

/** The bounds one message must keep as it is queued; a bound left out does not apply to it. */
export interface Room {
  /** Messages waiting for the recipient, queued or handed out and not acknowledged. */
  readonly maxQueue?: number;
  /** Bytes of every message waiting, relay-wide. */
  readonly maxQueuedBytes?: number;
  /** Bytes of the messages one sender has waiting, across recipients, and of the unfinished tasks it sent. */
  readonly maxSenderBytes?: number;
  /** Bytes of the messages waiting for one recipient. */
  readonly maxRecipientBytes?: number;
}

export type Refusal =
  | { readonly ok: false; readonly refused: "queue_full"; readonly waiting: number; readonly name: string }
  /** `bytes` held now, `size` the message that did not fit. */
  | { readonly ok: false; readonly refused: "relay_full"; readonly bytes: number; readonly size: number }
  | { readonly ok: false; readonly refused: "sender_full"; readonly bytes: number; readonly size: number }
  | { readonly ok: false; readonly refused: "recipient_full"; readonly bytes: number; readonly size: number; readonly name: string };

/** A message an operation queued. */
export interface QueuedMessage {
  readonly to: string;
  readonly msg: Message;
  readonly priority: Priority;
  /** Already in flight on this connection, which takes every message: its relay pushes it without a claim (`attachConnection`'s `eagerMs`). */
  readonly conn?: string;
}

/** What an operation changed that a relay process may be waiting for. */
export interface Effects {
  /** Messages it queued. */
  readonly messages: readonly QueuedMessage[];
  /** Agents whose messages out went back to their queue. */
  readonly queued: readonly string[];
  /** Tasks whose record changed. */
  readonly tasks: readonly string[];
  /** The other relays were told already, by the operation itself (a Redis script publishes its changes): only this process needs telling. */
  readonly sent?: boolean;
}

/** Which messages a connection takes; null fields take every message. */
export interface Want {
  readonly types: readonly MessageType[] | null;
  readonly filePrefix: string | null;
}

export interface ClaimOptions {
  readonly max: number;
  /** Only messages this connection takes; the rest stays queued. */
  readonly want?: Want | null;
  /** How long a non-task message stays in flight before it is queued again (a task keeps its own lease). */
  readonly ackWindowMs: number;
  /** Where the status messages a delivery tells fit (skipped where not). */
  readonly room: Room;
}

export type TaskChange = {
  /** The state it moves to; left out, the state stays (progress on a working task). */
  readonly state?: TaskState;
  readonly note: string;
  readonly at: number;
  /** Refused unless this agent holds the task. */
  readonly holder?: string;
  readonly result?: string;
  readonly responseId?: string;
  /** The holder's latest progress note, kept on the task (the history records state changes only). */
  readonly progress?: string;
  /** Takes the task's own message out of its holder's queue or flight (it was answered or called off). */
  readonly withdraw?: boolean;
  /** Messages that go with the change (a response, a progress note): all must fit `room`, or nothing changes. */
  readonly messages?: readonly NewEntry[];
  /**
   * A message to the task's sender at the task's priority, its `to` filled in with the task's `from`: an
   * answer made without reading the task first. It goes with `messages`, under the same rule.
   */
  readonly reply?: Message;
  /** Refused (`state`) unless the task was handed out to its holder (`receivedBy`): a holder it was routed to has not received it yet. */
  readonly handedOut?: boolean;
  /** Bounds for `messages`, and for the status messages the change tells (skipped where they do not fit). */
  readonly room: Room;
};

export interface FileVersionMeta {
  readonly key: string;
  readonly version: number;
  readonly size: number;
  readonly sha256: string;
  /** The writing agent's name. */
  readonly author: string;
  readonly createdAt: number;
}

export interface FileVersionRecord extends FileVersionMeta {
  readonly bytes: Uint8Array;
}

/** A key's latest version number; kept after a delete so that numbers never repeat. */
export interface FileHeadRecord {
  readonly key: string;
  readonly version: number;
  readonly deletedBy: string | null;
  readonly deletedAt: number | null;
}

/** A lease: one agent's exclusive right to write a key until `until`. */
export interface FileLockRecord {
  readonly key: string;
  readonly holderId: string;
  readonly holderName: string;
  readonly since: number;
  readonly until: number;
}

export interface FileEntry {
  readonly latest: FileVersionMeta;
  readonly lock: FileLockRecord | null;
}

export interface NewFileVersion {
  readonly bytes: Uint8Array;
  readonly sha256: string;
  readonly author: string;
  readonly authorId: string;
  readonly createdAt: number;
}

export interface FileRules {
  readonly maxVersions: number;
  readonly maxTotalBytes: number;
}

/** When the relay decides that a task's holder is gone, and where its task may go instead. */
export interface LivenessRules {
  /** A holder whose last socket closed this long ago, with no sign of life since, has gone offline. */
  readonly graceMs: number;
  /** An agent connected, or seen this recently, can receive a task now. */
  readonly reachableMs: number;
  /** Where the status messages to the tasks' senders fit (skipped where not). */
  readonly room: Room;
}

/** A task taken back from a holder that went offline. */
export interface Reclaimed {
  /** The task as it now is: queued, for `to` (its new holder, the same one, or null while it waits for a capable agent). */
  readonly task: TaskRecord;
  /** The agent that lost it. */
  readonly holder: string;
}

export interface TaskQuery {
  readonly state?: TaskState;
  readonly role?: "sent" | "held";
  /** Tasks created after this task id (ids sort by creation). */
  readonly after?: string;
  readonly limit?: number;
}

export interface NameRules {
  readonly staleBefore: number;
  readonly maxAgents: number;
  /** Whether a stale holder of the name may be replaced. */
  readonly takeOver: boolean;
  /** Whether an id the store does not hold may be registered (a new one, or one whose secret the relay issued). */
  readonly allowNew: boolean;
  /** Why the tasks a replaced holder held failed. */
  readonly note: string;
  /**
   * The registrant proved the relay gave it this name at `since`, before this relay started (an in-memory
   * relay forgot who held it): it takes the name from a holder, stale or not, with no such proof or an older one.
   */
  readonly reclaim?: { readonly since: number; readonly note: string };
  /** Where the status messages about those tasks fit (skipped where not). */
  readonly room: Room;
}

type No<R extends string, T = object> = { readonly ok: false; readonly refused: R } & T;

export type ClaimedName =
  | { readonly ok: true; readonly agent: AgentRecord; readonly created: boolean; readonly replaced: AgentRecord | null; readonly reclaimed: boolean; readonly effects: Effects }
  | No<"wrong_secret">
  | No<"unknown_id">
  | No<"name_taken", { readonly holder: AgentRecord; readonly stale: boolean }>
  | No<"too_many_agents", { readonly count: number }>;

export type Created =
  | { readonly ok: true; readonly task: TaskRecord; readonly duplicate: boolean; readonly effects: Effects }
  | Refusal
  | No<"unknown_agent">;

export type Enqueued = { readonly ok: true; readonly id: string; readonly effects: Effects } | Refusal | No<"unknown_agent">;

/** What became of one message of `enqueueMany`. */
export type QueuedOne = { readonly ok: true; readonly id: string } | Refusal | No<"unknown_agent">;

/** The finished tasks kept after a change, and what they weigh (rules.ts: finishedBytes): whether pruning is due. */
export interface FinishedKept {
  readonly count: number;
  readonly bytes: number;
}

export type TaskChanged =
  | { readonly ok: true; readonly task: TaskRecord; readonly effects: Effects; readonly finished: FinishedKept }
  | No<"unknown_task">
  | No<"not_holder", { readonly task: TaskRecord }>
  | No<"state", { readonly task: TaskRecord }>
  | No<"no_room", { readonly room: Refusal }>;

export type FilePut =
  | { readonly ok: true; readonly version: FileVersionMeta }
  | No<"version", { readonly head: FileHeadRecord | null; readonly latest: FileVersionMeta | null }>
  | No<"locked", { readonly lock: FileLockRecord }>
  | No<"storage_full", { readonly pinned: number }>;

export type FileDeleted =
  | { readonly ok: true; readonly head: FileHeadRecord }
  | No<"unknown_file", { readonly head: FileHeadRecord | null }>
  | No<"locked", { readonly lock: FileLockRecord }>;

export type LeaseTaken = { readonly ok: true; readonly lock: FileLockRecord } | No<"locked", { readonly lock: FileLockRecord }>;

export type LeaseReleased =
  | { readonly ok: true; readonly lock: FileLockRecord }
  | No<"not_locked">
  | No<"not_holder", { readonly lock: FileLockRecord }>;

/** A fixed window's count after a `hit`. */
export interface Hit {
  /** Whether this hit was counted; false when the window already held `max` (nothing counted). */
  readonly ok: boolean;
  /** Events counted in the window, this one included. */
  readonly count: number;
  /** When the window ends (`now` when no window runs). */
  readonly resetAt: number;
}

/** A held connection counted, or refused because its identity already holds `max`. */
export interface Held {
  readonly ok: boolean;
  /** Connections the identity holds, on every relay of the store, this one included when counted. */
  readonly count: number;
}

export const NO_EFFECTS: Effects = Object.freeze({ messages: Object.freeze([]), queued: Object.freeze([]), tasks: Object.freeze([]) });
