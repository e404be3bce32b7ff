/**
 * Where the hub keeps its state. The hub owns the rules; a Store only keeps records.
 * MemoryStore is the default and touches no disk.
 */
import type { ClawlinkError } from "../errors";
import type { Message, Priority, TaskState } from "../protocol/schemas";
import { Ledger } from "./budget";
import { randomKey } from "./keys";
import { PriorityQueue, type Entry } from "./queue";

export interface AgentRecord {
  id: string;
  name: string;
  caps: string[];
  description: string;
  machine: string;
  secretHash: string;
  registeredAt: number;
  lastSeen: number;
}

export interface TaskRecord {
  id: string;
  from: string;
  to: string | null;
  cap: string | null;
  task: string;
  context: Record<string, unknown>;
  priority: Priority;
  state: TaskState;
  attempts: number;
  leaseS: number;
  ttlS: number | null;
  createdAt: number;
  updatedAt: number;
  history: { state: TaskState; at: number; note: string }[];
  /** The holder's latest progress note (absent in records kept before notes were). */
  note?: string;
  result: string | null;
  responseId: string | null;
  idempotencyKey: string | null;
}

/** A message handed to its recipient and not yet acknowledged. */
export interface Inflight {
  entry: Entry;
  /** When it goes back to the queue unless acknowledged. */
  until: number;
  /** The connection it went out on (null for a poll), so a dropped socket requeues at once. */
  conn: number | null;
}

/** One stored version of a shared file. */
export interface FileVersionRecord {
  key: string;
  version: number;
  bytes: Uint8Array;
  sha256: string;
  /** The writing agent's name. */
  author: string;
  createdAt: number;
}

/** A key's latest version number; kept after a delete so that numbers never repeat. */
export interface FileHeadRecord {
  key: string;
  version: number;
  deletedBy: string | null;
  deletedAt: number | null;
}

/** A lease: one agent's exclusive right to write a key until `until`. */
export interface FileLockRecord {
  key: string;
  holderId: string;
  holderName: string;
  since: number;
  until: number;
}

/** What a store reports about its commits. */
export interface StoreListener {
  /** A commit failed: every record is back at its last committed state, and nothing of it was shown to anyone. */
  rolledBack?(err: ClawlinkError): void;
  /** A commit succeeded after one failed. */
  recovered?(): void;
  /** Code run after a commit threw (a bug): reported, not lost. */
  effectFailed?(err: unknown): void;
}

export interface Store {
  getAgent(id: string): AgentRecord | undefined;
  getAgentByName(name: string): AgentRecord | undefined;
  listAgents(): Iterable<AgentRecord>;
  agentCount(): number;
  putAgent(agent: AgentRecord): void;
  deleteAgent(id: string): void;

  getTask(id: string): TaskRecord | undefined;
  getTaskByIdempotencyKey(from: string, key: string): TaskRecord | undefined;
  listTasks(agentId: string): Iterable<TaskRecord>;
  putTask(task: TaskRecord): void;
  /** Forgets a task record (a finished one past its retention). */
  deleteTask(id: string): void;

  /** Bytes of every message queued or in flight, in all and per sender; kept up to date by the operations below. */
  readonly ledger: Ledger;
  enqueue(entry: Entry): void;
  /** The entry `dequeue` would return, left in place. */
  peek(agentId: string): Entry | undefined;
  dequeue(agentId: string): Entry | undefined;
  removeQueued(agentId: string, msgId: string): Entry | undefined;
  /** A queued (not handed out) message by id. */
  getQueued(agentId: string, msgId: string): Entry | undefined;
  queueLength(agentId: string): number;
  dropQueue(agentId: string): Entry[];
  queued(agentId: string): Iterable<Entry>;
  /** Ids of the agent's messages, queued or in flight, about one task (responses, progress and status). */
  aboutTask(agentId: string, taskId: string): string[];
  /** The latest queued (not yet handed out) progress or status message about a task, which a newer one replaces. */
  unreadAbout(agentId: string, taskId: string, type: "progress" | "status"): Entry | undefined;

  putInflight(agentId: string, item: Inflight): void;
  takeInflight(agentId: string, msgId: string): Inflight | undefined;
  listInflight(agentId: string): Iterable<Inflight>;
  inflightCount(agentId: string): number;
  inflightAgents(): Iterable<string>;

  getFileHead(key: string): FileHeadRecord | undefined;
  listFileHeads(): Iterable<FileHeadRecord>;
  putFileHead(head: FileHeadRecord): void;
  getFileVersion(key: string, version: number): FileVersionRecord | undefined;
  /** Oldest first. */
  listFileVersions(key: string): FileVersionRecord[];
  putFileVersion(file: FileVersionRecord): void;
  /** Drops the key's versions numbered `upTo` or lower (all of them when omitted). */
  deleteFileVersions(key: string, upTo?: number): void;

  listAllTasks(): Iterable<TaskRecord>;
  /** The key agent secrets are derived from when none is given: one per process in memory, kept in the file by a durable store. */
  secretKey(): Uint8Array;
  /** What kind of store this is and where it keeps its data, for the dashboard. */
  describe(): { kind: "memory" | "sqlite" | "redis"; path?: string };
  /** The highest message sequence number kept, -1 if none: new messages continue after it. */
  readonly lastSeq: number;
  /** Resolves when every change so far is durable; undefined when there is nothing to wait for. Rejects with 507 or 503 when the commit failed. */
  sync(): Promise<void> | undefined;
  /** Runs `effect` once every change made so far is durable (at once in memory); a failed commit drops it. What others can see goes out this way. */
  afterCommit(effect: () => void): void;
  /** Messages numbered up to this are durable: only they may be pushed to a connection. */
  readonly committedSeq: number;
  subscribe(listener: StoreListener): void;
  close(): void;
  getFileLock(key: string): FileLockRecord | undefined;
  listFileLocks(): Iterable<FileLockRecord>;
  putFileLock(lock: FileLockRecord): void;
  deleteFileLock(key: string): void;
}

/** The task a message is about, for messages the task index keeps. */
function taskOf(msg: Message): string | undefined {
  if (msg.type === "progress" || msg.type === "response") return msg.in_reply_to;
  if (msg.type === "status") return msg.task_id;
  return undefined;
}

/** The key under which the latest unread progress or status about a task is found. */
function unreadKey(msg: Message): string | undefined {
  if (msg.type === "progress") return `progress\0${msg.in_reply_to}`;
  if (msg.type === "status") return `status\0${msg.task_id}`;
  return undefined;
}

export class MemoryStore implements Store {
  private agents = new Map<string, AgentRecord>();
  private names = new Map<string, string>();
  private tasks = new Map<string, TaskRecord>();
  private tasksByAgent = new Map<string, Set<string>>();
  private idempotency = new Map<string, string>();
  private queues = new Map<string, PriorityQueue>();
  private inflight = new Map<string, Map<string, Inflight>>();
  /** Per agent, per task: the ids of its queued and in-flight messages about that task. */
  private about = new Map<string, Map<string, Set<string>>>();
  /** Per agent, per task and type (progress, status): the latest such message queued. */
  private unread = new Map<string, Map<string, string>>();
  readonly ledger = new Ledger();
  private fileHeads = new Map<string, FileHeadRecord>();
  private fileVersions = new Map<string, FileVersionRecord[]>();
  readonly lastSeq: number = -1;
  private key: Uint8Array | undefined;
  committedSeq = Infinity;

  describe(): { kind: "memory" | "sqlite" | "redis"; path?: string } {
    return { kind: "memory" };
  }
  secretKey() {
    return (this.key ??= randomKey());
  }
  sync(): Promise<void> | undefined {
    return undefined;
  }
  afterCommit(effect: () => void) {
    effect();
  }
  subscribe(_listener: StoreListener) {}
  close() {}

  /** Forgets every record (a durable store then reads them back from disk). */
  protected reset() {
    this.agents = new Map();
    this.names = new Map();
    this.tasks = new Map();
    this.tasksByAgent = new Map();
    this.idempotency = new Map();
    this.queues = new Map();
    this.inflight = new Map();
    this.fileHeads = new Map();
    this.fileVersions = new Map();
    this.fileLocks = new Map();
    this.about = new Map();
    this.unread = new Map();
    this.ledger.clear();
  }
  listAllTasks() {
    return this.tasks.values();
  }
  private fileLocks = new Map<string, FileLockRecord>();

  getAgent(id: string) {
    return this.agents.get(id);
  }
  getAgentByName(name: string) {
    const id = this.names.get(name);
    return id === undefined ? undefined : this.agents.get(id);
  }
  listAgents() {
    return this.agents.values();
  }
  agentCount() {
    return this.agents.size;
  }
  putAgent(agent: AgentRecord) {
    const old = this.agents.get(agent.id);
    if (old && old.name !== agent.name) this.names.delete(old.name);
    this.agents.set(agent.id, agent);
    this.names.set(agent.name, agent.id);
  }
  deleteAgent(id: string) {
    const agent = this.agents.get(id);
    if (!agent) return;
    this.agents.delete(id);
    if (this.names.get(agent.name) === id) this.names.delete(agent.name);
    for (const e of this.queues.get(id)?.entries() ?? []) this.ledger.sub(e.msg.from, e.size);
    for (const item of this.inflight.get(id)?.values() ?? []) this.ledger.sub(item.entry.msg.from, item.entry.size);
    this.queues.delete(id);
    this.inflight.delete(id);
    this.about.delete(id);
    this.unread.delete(id);
  }

  getTask(id: string) {
    return this.tasks.get(id);
  }
  getTaskByIdempotencyKey(from: string, key: string) {
    const id = this.idempotency.get(`${from}\0${key}`);
    return id === undefined ? undefined : this.tasks.get(id);
  }
  *listTasks(agentId: string) {
    for (const id of this.tasksByAgent.get(agentId) ?? []) {
      const task = this.tasks.get(id);
      if (task) yield task;
    }
  }
  putTask(task: TaskRecord) {
    if (!this.tasks.has(task.id)) {
      if (task.idempotencyKey) this.idempotency.set(`${task.from}\0${task.idempotencyKey}`, task.id);
      this.index(task.from, task.id);
    }
    if (task.to) this.index(task.to, task.id);
    this.tasks.set(task.id, task);
  }
  private index(agentId: string, taskId: string) {
    let set = this.tasksByAgent.get(agentId);
    if (!set) this.tasksByAgent.set(agentId, (set = new Set()));
    set.add(taskId);
  }
  deleteTask(id: string) {
    const task = this.tasks.get(id);
    if (!task) return;
    this.tasks.delete(id);
    if (task.idempotencyKey) this.idempotency.delete(`${task.from}\0${task.idempotencyKey}`);
    for (const agentId of [task.from, task.to]) {
      const set = agentId === null ? undefined : this.tasksByAgent.get(agentId);
      set?.delete(id);
      if (set?.size === 0) this.tasksByAgent.delete(agentId!);
    }
  }

  /** An entry arrives in the agent's queue or flight: count its bytes and index it by task. */
  private held(entry: Entry) {
    this.ledger.add(entry.msg.from, entry.size);
    const task = taskOf(entry.msg);
    if (task === undefined) return;
    let byTask = this.about.get(entry.to);
    if (!byTask) this.about.set(entry.to, (byTask = new Map()));
    let ids = byTask.get(task);
    if (!ids) byTask.set(task, (ids = new Set()));
    ids.add(entry.msg.id);
  }
  private released(entry: Entry) {
    this.ledger.sub(entry.msg.from, entry.size);
    const task = taskOf(entry.msg);
    if (task === undefined) return;
    const byTask = this.about.get(entry.to);
    const ids = byTask?.get(task);
    if (!ids) return;
    ids.delete(entry.msg.id);
    if (ids.size === 0) byTask!.delete(task);
    if (byTask!.size === 0) this.about.delete(entry.to);
  }

  enqueue(entry: Entry) {
    let q = this.queues.get(entry.to);
    if (!q) this.queues.set(entry.to, (q = new PriorityQueue()));
    q.push(entry);
    this.held(entry);
    const key = unreadKey(entry.msg);
    if (key === undefined) return;
    let latest = this.unread.get(entry.to);
    if (!latest) this.unread.set(entry.to, (latest = new Map()));
    latest.set(key, entry.msg.id);
  }
  /** A queued entry leaves the queue (handed out or removed). */
  private unqueued(e: Entry) {
    this.released(e);
    const key = unreadKey(e.msg);
    if (key === undefined) return;
    const latest = this.unread.get(e.to);
    if (latest?.get(key) !== e.msg.id) return;
    latest.delete(key);
    if (latest.size === 0) this.unread.delete(e.to);
  }
  peek(agentId: string) {
    return this.queues.get(agentId)?.peek();
  }
  dequeue(agentId: string) {
    const e = this.queues.get(agentId)?.shift();
    if (e) this.unqueued(e);
    return e;
  }
  removeQueued(agentId: string, msgId: string) {
    const e = this.queues.get(agentId)?.remove(msgId);
    if (e) this.unqueued(e);
    return e;
  }
  unreadAbout(agentId: string, taskId: string, type: "progress" | "status") {
    const id = this.unread.get(agentId)?.get(`${type}\0${taskId}`);
    return id === undefined ? undefined : this.getQueued(agentId, id);
  }
  getQueued(agentId: string, msgId: string) {
    return this.queues.get(agentId)?.get(msgId);
  }
  queueLength(agentId: string) {
    return this.queues.get(agentId)?.size ?? 0;
  }
  queued(agentId: string) {
    return [...(this.queues.get(agentId)?.entries() ?? [])];
  }
  dropQueue(agentId: string) {
    const q = this.queues.get(agentId);
    this.queues.delete(agentId);
    const dropped = q ? [...q.entries()] : [];
    for (const e of dropped) this.unqueued(e);
    return dropped;
  }
  aboutTask(agentId: string, taskId: string) {
    const ids = this.about.get(agentId)?.get(taskId);
    return ids ? [...ids] : [];
  }

  putInflight(agentId: string, item: Inflight) {
    let m = this.inflight.get(agentId);
    if (!m) this.inflight.set(agentId, (m = new Map()));
    const old = m.get(item.entry.msg.id);
    if (old) this.released(old.entry);
    m.set(item.entry.msg.id, item);
    this.held(item.entry);
  }
  takeInflight(agentId: string, msgId: string) {
    const m = this.inflight.get(agentId);
    const item = m?.get(msgId);
    if (item) {
      m!.delete(msgId);
      // Only agents with something in flight stay listed: the lease sweep visits them every tick.
      if (m!.size === 0) this.inflight.delete(agentId);
      this.released(item.entry);
    }
    return item;
  }
  listInflight(agentId: string) {
    return [...(this.inflight.get(agentId)?.values() ?? [])];
  }
  inflightCount(agentId: string) {
    return this.inflight.get(agentId)?.size ?? 0;
  }
  inflightAgents() {
    return [...this.inflight.keys()];
  }

  getFileHead(key: string) {
    return this.fileHeads.get(key);
  }
  listFileHeads() {
    return this.fileHeads.values();
  }
  putFileHead(head: FileHeadRecord) {
    this.fileHeads.set(head.key, head);
  }
  getFileVersion(key: string, version: number) {
    return this.fileVersions.get(key)?.find((f) => f.version === version);
  }
  listFileVersions(key: string) {
    return [...(this.fileVersions.get(key) ?? [])];
  }
  putFileVersion(file: FileVersionRecord) {
    const list = (this.fileVersions.get(file.key) ?? []).filter((f) => f.version !== file.version);
    list.push(file);
    list.sort((a, b) => a.version - b.version);
    this.fileVersions.set(file.key, list);
  }
  deleteFileVersions(key: string, upTo = Infinity) {
    const rest = (this.fileVersions.get(key) ?? []).filter((f) => f.version > upTo);
    if (rest.length) this.fileVersions.set(key, rest);
    else this.fileVersions.delete(key);
  }

  getFileLock(key: string) {
    return this.fileLocks.get(key);
  }
  listFileLocks() {
    return [...this.fileLocks.values()];
  }
  putFileLock(lock: FileLockRecord) {
    this.fileLocks.set(lock.key, lock);
  }
  deleteFileLock(key: string) {
    this.fileLocks.delete(key);
  }
}
