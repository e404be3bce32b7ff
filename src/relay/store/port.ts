/**
 * The Store port: everything the relay keeps, changed only through these operations.
 * - Each operation is atomic on its own: a check and the act it guards are one call, never two,
 *   so several relay processes on one store cannot interleave inside it (in Redis, one Lua script each,
 *   named after the operation).
 * - Every method returns a Promise; a write resolves only once it is durable in that store.
 * - Records handed out are values: frozen, never changed afterwards; a change makes a new record.
 * - Operations report what they changed that someone may wait for (`Effects`); the core tells the Bus.
 */
import { ClawlinkError } from "../../errors";
import type { Message, TaskState } from "../../protocol/schemas";
import type { AgentRecord, ClaimOptions, ClaimedName, Created, Effects, Enqueued, FileDeleted, FileEntry, FileHeadRecord, FileLockRecord, FilePut, FileRules, FileVersionMeta, FileVersionRecord, Held, Hit, LeaseReleased, LeaseTaken, LivenessRules, NameRules, NewAgent, NewEntry, NewFileVersion, NewTask, QueuedMessage, QueuedOne, Reclaimed, Room, TaskChange, TaskChanged, TaskQuery, TaskRecord } from "./records";

export * from "./records";

/**
 * A store's refusal of an operation it sent and never heard back about (its server hung, or the
 * connection broke while the answer was owed): unlike a refusal up front, the operation may still run.
 */
export class OutcomeUnknown extends ClawlinkError {
  constructor(failure: ClawlinkError) {
    super(failure.code, failure.message, failure.hint);
  }
}

/** The store cannot do an operation now (away, refusing, or not answering): expected during an outage, not a bug. */
export const storeUnavailable = (err: unknown): err is ClawlinkError => err instanceof ClawlinkError && err.code === "store_unavailable";

/** A store's refusal up front: the operation never ran (unlike `OutcomeUnknown`, where it may have). */
export const refused = (err: unknown) => storeUnavailable(err) && !(err instanceof OutcomeUnknown);

/**
 * For a step that follows a committed change: an unavailable store loses the step (a notice, housekeeping
 * a sweep also does), rather than fail what the change confirms. Anything else is thrown again.
 */
export function unlessStoreUnavailable(err: unknown): void {
  if (!storeUnavailable(err)) throw err;
}

export interface Store {
  // ---------------------------------------------------------------- agents
  getAgent(id: string): Promise<AgentRecord | undefined>;
  getAgentByName(name: string): Promise<AgentRecord | undefined>;
  /** By id when the value is shaped like one, otherwise by name: a name never stands for another agent's id. */
  findAgent(idOrName: string): Promise<AgentRecord | undefined>;
  listAgents(): Promise<readonly AgentRecord[]>;
  countAgents(): Promise<number>;
  /**
   * Registers `agent` under its name, or registers it again under its id (its secret hash must match).
   * A name held by another agent that is connected or seen since `staleBefore` is refused; a stale
   * holder is replaced (as if it unregistered, with `note`) when `takeOver` allows it, and any holder
   * when `reclaim` outranks its claim. A new id past `maxAgents` is refused.
   */
  claimName(agent: NewAgent, now: number, rules: NameRules): Promise<ClaimedName>;
  /** Marks the agent seen at `now`; kept across a restart only when `keep` (a heartbeat). */
  touchAgent(id: string, now: number, keep?: boolean): Promise<AgentRecord | undefined>;
  /** Removes the agent with its queue, messages in flight and connections; the unfinished tasks it held fail with `note`. */
  unregisterAgent(id: string, now: number, note: string, room: Room): Promise<{ readonly agent: AgentRecord; readonly effects: Effects } | undefined>;
  /** Claims and removes (as `unregisterAgent`) agents not seen since `staleBefore`, with no connection, nothing but broadcasts queued, nothing in flight, and no unfinished task held. */
  forgetAgents(staleBefore: number, limit: number, now: number, note: string, room: Room): Promise<{ readonly agents: readonly AgentRecord[]; readonly effects: Effects }>;
  /**
   * Adds a live connection, which may then claim messages; undefined when the agent is gone. `now` marks when it came online.
   * `eagerMs`: the connection takes every message, for this ack window. A store may then put a message
   * queued alone for the agent in flight on it as it queues it (a task handed out, as `claimNext` would),
   * and say so in its effects (`QueuedMessage.conn`); the Redis store does, saving relays the claim's
   * round trip. Memory and SQLite claim without one, and ignore it.
   */
  attachConnection(agentId: string, conn: string, now?: number, eagerMs?: number): Promise<AgentRecord | undefined>;
  /** Removes a connection; what went out on it and was not acknowledged is queued again. `now` marks when its last one closed. */
  detachConnection(agentId: string, conn: string, now?: number): Promise<Effects>;

  // ---------------------------------------------------------------- messages
  /** Queues one message within `room`. */
  enqueueIfRoom(entry: NewEntry, room: Room): Promise<Enqueued>;
  /** Queues each message in order as `enqueueIfRoom` would, in one step: one that does not fit is refused alone, the rest are queued. */
  enqueueMany(entries: readonly NewEntry[], room: Room): Promise<{ readonly results: readonly QueuedOne[]; readonly effects: Effects }>;
  /** Queues `msg` for every agent but `except` that has room; returns who got it. */
  broadcast(msg: Message, except: string | null, room: Room): Promise<{ readonly recipients: number; readonly effects: Effects }>;
  /**
   * Takes up to `max` queued messages, highest priority first, and puts them in flight on `conn`
   * (null for a poll), which must be attached. A task taken is delivered: its attempt counts up.
   * A copy of a task that has finished is dropped instead. A claim for a connection may resolve
   * before it is durable: after a restart, what went out on connections is queued again anyway.
   */
  claimNext(agentId: string, conn: string | null, now: number, opts: ClaimOptions): Promise<{ readonly messages: readonly Message[]; readonly effects: Effects }>;
  /** Settles in-flight messages; returns how many were. */
  ack(agentId: string, ids: readonly string[]): Promise<number>;
  /** Settles every queued or in-flight message about these tasks (what `delegate --wait` showed). */
  clearTaskMessages(agentId: string, taskIds: readonly string[]): Promise<number>;
  /** Puts in-flight messages back in the queue at their place (a socket refused them). */
  requeue(agentId: string, ids: readonly string[]): Promise<Effects>;
  /**
   * Claims messages still queued that were sent before `before` (`created_at`; a message handed out
   * and put back counts from when it was sent): a task among them, and a task still waiting for an
   * agent with its capability, expires with `note`; any other message is dropped. Returns how many.
   */
  expireUnread(before: number, limit: number, now: number, note: string, room: Room): Promise<{ readonly dropped: number; readonly tasks: readonly TaskRecord[]; readonly effects: Effects }>;
  /**
   * Claims in-flight messages whose lease ran out: tasks go back to queued (or are dropped if they
   * moved on), others are queued again. A task out on a connection still attached keeps its lease
   * (renewed from `now`): a connected listener is working on it.
   */
  requeueExpired(now: number, limit: number, room: Room): Promise<{ readonly requeued: number; readonly effects: Effects }>;
  /** Messages queued for the agent (not counting those in flight). */
  countWaiting(agentId: string): Promise<number>;
  /** Messages handed to the agent (any connection, or a poll) and not yet acknowledged. */
  countInFlight(agentId: string): Promise<number>;

  // ---------------------------------------------------------------- tasks
  getTask(id: string): Promise<TaskRecord | undefined>;
  /** The task a sender created with this idempotency key. */
  getTaskByKey(from: string, idempotencyKey: string): Promise<TaskRecord | undefined>;
  /** The agent's tasks, sent or held, oldest first. */
  listTasks(agentId: string, query: TaskQuery): Promise<readonly TaskRecord[]>;
  /** Unfinished tasks each agent holds (for routing by capability). */
  countHeld(agentIds: readonly string[]): Promise<readonly number[]>;
  /** The `limit` most recently changed tasks, newest first (for the relay's operator). */
  recentTasks(limit: number): Promise<readonly TaskRecord[]>;
  /** How many tasks are in each state. */
  countTasks(): Promise<Readonly<Record<TaskState, number>>>;
  /**
   * Creates a queued task and queues its message for its holder within `room`, or, with no holder,
   * keeps it until an agent with its capability registers. A repeated idempotency key of the same
   * sender returns the first task instead (`duplicate`).
   */
  createTask(task: NewTask, room: Room): Promise<Created>;
  /** Gives the tasks waiting for one of the agent's capabilities to it. */
  assignWaiting(agentId: string, now: number): Promise<{ readonly tasks: readonly TaskRecord[]; readonly effects: Effects }>;
  /** Compare-and-set: applies `change` if the task is in one of `from`, and queues what the change tells (rules.ts). */
  transitionTask(id: string, from: readonly TaskState[], change: TaskChange): Promise<TaskChanged>;
  /** Claims tasks still queued past their ttl and expires them. */
  expireTasks(now: number, limit: number, room: Room): Promise<{ readonly tasks: readonly TaskRecord[]; readonly effects: Effects }>;
  /**
   * Claims the unfinished tasks whose holder is gone: no connection, and its last socket closed
   * `graceMs` ago with no sign of life since, or (an HTTP holder) nothing from it or the task for
   * the task's lease. A task sent by capability goes to another agent with it that can receive now
   * (not its sender, unless no other can), or waits for one; a task sent to the agent is queued
   * for it again. A queued task routed by capability to a holder that cannot receive moves only
   * when another can. The senders are told by a status message.
   */
  reclaimTasks(now: number, limit: number, rules: LivenessRules): Promise<{ readonly tasks: readonly Reclaimed[]; readonly effects: Effects }>;
  /** Drops finished tasks that finished before `before`, and the oldest finished while more than `keep` or `keepBytes` of them are kept; returns them. */
  pruneTasks(before: number, keep: number, keepBytes?: number): Promise<readonly TaskRecord[]>;
  /** Bytes held: messages waiting, unfinished tasks, finished tasks kept (for the relay's operator and benchmarks). */
  heldBytes(): Promise<{ readonly queued: number; readonly finished: number }>;

  // ---------------------------------------------------------------- files
  getFileHead(key: string): Promise<FileHeadRecord | undefined>;
  getFileVersion(key: string, version: number): Promise<FileVersionRecord | undefined>;
  /** The versions kept, oldest first. */
  listFileVersions(key: string): Promise<readonly FileVersionMeta[]>;
  /** Every live key starting with `prefix`, with its latest version and running lease, by key. */
  listFiles(prefix: string, now: number): Promise<readonly FileEntry[]>;
  /** Bytes of the latest versions of every key but `key`: what a new version of `key` must fit beside. */
  pinnedBytes(key: string): Promise<number>;
  /**
   * Stores the key's next version if its latest is `expected` (0: no live file), nobody else holds a
   * running lease on it, and it fits; then drops versions past `maxVersions`, and the oldest non-latest
   * versions while every kept version together is over `maxTotalBytes`.
   */
  putFileVersionIf(key: string, expected: number, file: NewFileVersion, rules: FileRules): Promise<FilePut>;
  /** Deletes every version of a live key unless another agent holds a running lease on it. */
  deleteFileIf(key: string, actorId: string, actorName: string, now: number): Promise<FileDeleted>;
  /** The running lease on `key`, if any. */
  getLease(key: string, now: number): Promise<FileLockRecord | undefined>;
  /** Takes the lease until `until`, or renews it for its holder (`since` stays). */
  takeLease(key: string, holderId: string, holderName: string, now: number, until: number): Promise<LeaseTaken>;
  /** Ends the running lease on `key`, if `holderId` holds it (null: whoever does, as the relay's operator may). */
  releaseLease(key: string, holderId: string | null, now: number): Promise<LeaseReleased>;
  /** Claims and removes leases that ran out. */
  expireLeases(now: number): Promise<readonly FileLockRecord[]>;

  // ---------------------------------------------------------------- limits of every relay on the store together
  /**
   * Counts one event under `key` in a window of `windowMs` that starts at its first event, unless the window
   * holds `max` already (then nothing is counted). `max` 0 only reads. A window that ended is forgotten.
   */
  hit(key: string, windowMs: number, max: number, now: number): Promise<Hit>;
  /** Counts a connection `conn` (`<relay instance>.<n>`) held open by `identity`, unless it holds `max` already. */
  holdConnection(identity: string, conn: string, max: number): Promise<Held>;
  /** Stops counting a held connection (once; an unknown one is ignored). A relay taken for gone has its connections dropped. */
  releaseConnection(identity: string, conn: string): Promise<void>;

  /** What kind of store this is and where it keeps its data (for the relay's operator). */
  describe(): { readonly kind: "memory" | "sqlite" | "redis"; readonly path?: string };
  /** The key agent secrets are derived from: the one kept, or `fresh` if none was (then kept, if the store keeps anything). */
  relayKey(fresh: Uint8Array): Promise<Uint8Array>;
  /** Hears when writes start failing (each failed one refused, and undone) and when they work again (null). */
  onHealth?(listener: (failure: ClawlinkError | null) => void): void;

  close(): Promise<void>;
}
