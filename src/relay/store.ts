/**
 * Where the hub keeps its state. The hub owns the rules; a Store only keeps records.
 * MemoryStore is the default and touches no disk.
 */
import type { ClawlinkError } from "../errors";
import type { Priority, TaskState } from "../protocol/schemas";
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

  enqueue(entry: Entry): void;
  /** The entry `dequeue` would return, left in place. */
  peek(agentId: string): Entry | undefined;
  dequeue(agentId: string): Entry | undefined;
  removeQueued(agentId: string, msgId: string): Entry | undefined;
  queueLength(agentId: string): number;
  dropQueue(agentId: string): Entry[];
  queued(agentId: string): Iterable<Entry>;

  putInflight(agentId: string, item: Inflight): void;
  takeInflight(agentId: string, msgId: string): Inflight | undefined;
  listInflight(agentId: string): Iterable<Inflight>;
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

export class MemoryStore implements Store {
  private agents = new Map<string, AgentRecord>();
  private names = new Map<string, string>();
  private tasks = new Map<string, TaskRecord>();
  private tasksByAgent = new Map<string, Set<string>>();
  private idempotency = new Map<string, string>();
  private queues = new Map<string, PriorityQueue>();
  private inflight = new Map<string, Map<string, Inflight>>();
  private fileHeads = new Map<string, FileHeadRecord>();
  private fileVersions = new Map<string, FileVersionRecord[]>();
  readonly lastSeq: number = -1;
  private key: Uint8Array | undefined;
  committedSeq = Infinity;

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
    this.queues.delete(id);
    this.inflight.delete(id);
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

  enqueue(entry: Entry) {
    let q = this.queues.get(entry.to);
    if (!q) this.queues.set(entry.to, (q = new PriorityQueue()));
    q.push(entry);
  }
  peek(agentId: string) {
    return this.queues.get(agentId)?.peek();
  }
  dequeue(agentId: string) {
    return this.queues.get(agentId)?.shift();
  }
  removeQueued(agentId: string, msgId: string) {
    return this.queues.get(agentId)?.remove(msgId);
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
    return q ? [...q.entries()] : [];
  }

  putInflight(agentId: string, item: Inflight) {
    let m = this.inflight.get(agentId);
    if (!m) this.inflight.set(agentId, (m = new Map()));
    m.set(item.entry.msg.id, item);
  }
  takeInflight(agentId: string, msgId: string) {
    const m = this.inflight.get(agentId);
    const item = m?.get(msgId);
    if (item) {
      m!.delete(msgId);
      // Only agents with something in flight stay listed: the lease sweep visits them every tick.
      if (m!.size === 0) this.inflight.delete(agentId);
    }
    return item;
  }
  listInflight(agentId: string) {
    return [...(this.inflight.get(agentId)?.values() ?? [])];
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
