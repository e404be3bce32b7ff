/**
 * The durable store (`relay --data PATH`): the memory store, with every row an operation changed
 * written to SQLite (WAL) before the operation resolves, so a relay killed with `kill -9` and
 * started again on the same file has everything it acknowledged.
 * - Reads are served from memory.
 * - Writes are committed in groups, once per turn of the event loop: every operation of a turn
 *   waits for the one commit that carries its rows.
 * - A row is written as it is at commit time, so several changes to it in a turn cost one write.
 * - Only committed messages are handed out; a commit that fails puts memory back to what the file
 *   holds (keeping this process's sockets and what they were handed), so a refused request left no trace.
 */
import type { ClawlinkError } from "../../errors";
import type { Message } from "../../protocol/schemas";
import { openDataFile, storeError, type DataFile, type Fsync } from "../datafile";
import type { FileJournal } from "./_files";
import type { Slot } from "./_inbox";
import { MemoryStore } from "./memory";
import { SCHEMA, Tables } from "./sqlite-tables";

/**
 * How far an agent's last seen in the file may lag the one in memory: after a restart, a task held by an
 * agent that polls is taken back at most this much early, and nobody is made stale (120 s) by it.
 */
const SEEN_KEPT_MS = 5_000;

export interface SqliteStoreOptions {
  fsync?: Fsync;
}

type Args<K extends keyof MemoryStore> = MemoryStore[K] extends (...a: infer A) => unknown ? A : never;

export class SqliteStore extends MemoryStore {
  private file: DataFile;
  private tables: Tables;
  /** What the operator should hear about the file (permissions tightened). */
  readonly notes: string[];
  /** Rows waiting for the next commit; each is written as memory has it then. */
  private pending = new Pending();
  /** Counts journal entries, so an operation that wrote nothing does not wait for a commit. */
  private journaled = 0;
  private flushing: Promise<void> | undefined;
  private loading = true;
  private closed = false;
  /** The last seen of each agent as the file has it. */
  private seenKept = new Map<string, number>();
  /** Set while commits fail; cleared by the next one that works. */
  private failing = false;
  /** Set when even reading the file back failed: nothing can be trusted until a restart. */
  private broken: ClawlinkError | undefined;
  private health: ((failure: ClawlinkError | null) => void)[] = [];

  constructor(
    readonly path: string,
    opts: SqliteStoreOptions = {},
  ) {
    super();
    this.file = openDataFile(path, opts.fsync, SCHEMA);
    this.notes = this.file.notes;
    this.tables = new Tables(this.file.db);
    this.load(new Map());
    this.loading = false;
  }

  /** Reads everything back into memory (sqlite-tables.ts reads the rows). */
  private load(known: Map<string, Uint8Array>) {
    this.tables.read(known, {
      agent: (agent) => {
        this.restoreAgent(agent);
        this.seenKept.set(agent.id, agent.lastSeen);
      },
      task: (task, bytes) => this.addTask(task, bytes),
      message: (seq, to, priority, msg, until, bytes) => this.restoreMessage(seq, to, priority, msg, until, bytes),
      file: (record) => this.files.restore(record),
    });
    this.committedSeq = this.seq - 1;
  }

  private journal() {
    if (this.loading) return false;
    this.journaled++;
    return true;
  }

  /**
   * Connections are live state and not kept. A heartbeat's last seen is kept at once; one from a request or
   * a socket closing only once it is SEEN_KEPT_MS past the last one kept, so a busy agent costs few writes
   * and a restart never shows an agent seen a moment ago as stale (whose name another could then take).
   */
  protected override agentChanged(id: string, keep: boolean) {
    const seen = this.agents.get(id)?.lastSeen;
    if (seen === undefined) this.seenKept.delete(id);
    else if (!keep && seen - (this.seenKept.get(id) ?? 0) < SEEN_KEPT_MS) return;
    else this.seenKept.set(id, seen);
    if (this.journal()) this.pending.agents.add(id);
  }

  protected override taskCreated(id: string) {
    if (this.journal()) this.pending.tasks.set(id, "created");
  }

  protected override taskChanged(id: string) {
    if (this.journal() && !this.pending.tasks.has(id)) this.pending.tasks.set(id, "changed");
  }

  protected override taskQueued(msg: Message, text: string) {
    // The text it was weighed by is the row's body: the commit need not make it again.
    if (!this.loading) this.pending.texts.set(msg, text);
  }

  protected override slotChanged(slot: Slot) {
    // Out on a socket is as good as queued on disk: a restart queues it again (its socket died with the relay).
    if (slot.where === "flying" && slot.conn !== null) return;
    // The latest slot of a sequence number is the one memory has (a message queued again is a fresh slot).
    if (this.journal()) this.pending.slots.set(slot.seq, slot);
  }

  private fileRow(row: string, write: () => void) {
    if (this.journal()) this.pending.files.set(row, write);
  }

  protected override fileJournal(): FileJournal {
    return {
      head: (key) => this.fileRow(`fh:${key}`, () => this.tables.fileHead(key, this.files.heads.get(key))),
      version: (key, version) => this.fileRow(`fv:${key}\0${version}`, () => this.tables.fileVersion(key, version, this.files.version(key, version))),
      dropped: (key, upTo) => this.fileRow(`fd:${key}\0${upTo}`, () => this.tables.dropFileVersions(key, upTo)),
      lock: (key) => this.fileRow(`fl:${key}`, () => this.tables.fileLock(key, this.files.locks.get(key))),
    };
  }

  /** Resolves once every change so far is on disk; one commit serves every operation of this turn. Rejects with 507 or 503 when it failed. */
  private sync(): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.pending.size === 0) return this.flushing ?? Promise.resolve();
    if (this.flushing) return this.flushing;
    const flushing = new Promise<void>((resolve, reject) =>
      setImmediate(() => {
        this.flushing = undefined;
        try {
          this.commit();
          resolve();
        } catch (err) {
          reject(err);
        }
      }),
    );
    flushing.catch(() => {}); // whoever waits on it hears of a failure; nobody else must
    return (this.flushing = flushing);
  }

  /** Writes the pending rows in one transaction; on failure rolls memory back to the file and throws 507 or 503. */
  private commit() {
    if (this.closed || this.pending.size === 0) return;
    const rows = this.pending;
    const upTo = this.seq - 1;
    this.pending = new Pending();
    try {
      this.write(rows);
    } catch (err) {
      const e = storeError(err);
      this.rollback(e);
      throw e;
    }
    this.committedSeq = upTo;
    if (this.failing) {
      this.failing = false;
      for (const listener of this.health) listener(null);
    }
  }

  /** Each row as memory has it now; a row gone from memory is deleted. */
  private write(rows: Pending) {
    this.tables.transaction(() => {
      for (const id of rows.agents) this.tables.agent(id, this.agents.get(id));
      for (const [id, how] of rows.tasks) this.tables.task(id, this.tasks.get(id), how);
      for (const slot of rows.slots.values()) this.tables.slot(slot, rows.texts);
      for (const write of rows.files.values()) write();
    });
  }

  /** After a failed commit: memory goes back to what the file holds, with this process's live state over it. */
  private rollback(err: ClawlinkError) {
    const known = new Map<string, Uint8Array>();
    for (const list of this.files.versions.values()) for (const f of list) known.set(`${f.key}\0${f.version}\0${f.sha256}`, f.bytes);
    const live = this.liveState();
    this.reset();
    this.loading = true;
    try {
      this.load(known);
      this.revive(live);
    } catch (loadErr) {
      this.broken = storeError(loadErr);
    } finally {
      this.loading = false;
    }
    if (!this.failing) for (const listener of this.health) listener(this.broken ?? err);
    this.failing = true;
  }

  onHealth(listener: (failure: ClawlinkError | null) => void) {
    this.health.push(listener);
  }

  override describe(): { kind: "sqlite"; path: string } {
    return { kind: "sqlite", path: this.path };
  }

  override async relayKey(fresh: Uint8Array) {
    return this.tables.relayKey(fresh);
  }

  /** Runs a write operation and resolves with its result once what it changed is on disk. */
  private durable<T>(run: () => Promise<T>): Promise<T> {
    if (this.broken) return Promise.reject(this.broken);
    const before = this.journaled;
    const result = run();
    if (this.journaled === before) return result;
    const committed = this.sync();
    return result.then((r) => committed.then(() => r));
  }

  // Every operation that writes resolves only once what it changed is on disk; reads are memory's.
  override claimName(...a: Args<"claimName">) { return this.durable(() => super.claimName(...a)); }
  override touchAgent(...a: Args<"touchAgent">) { return this.durable(() => super.touchAgent(...a)); }
  override unregisterAgent(...a: Args<"unregisterAgent">) { return this.durable(() => super.unregisterAgent(...a)); }
  override forgetAgents(...a: Args<"forgetAgents">) { return this.durable(() => super.forgetAgents(...a)); }
  override attachConnection(...a: Args<"attachConnection">) { return this.durable(() => super.attachConnection(...a)); }
  override detachConnection(...a: Args<"detachConnection">) { return this.durable(() => super.detachConnection(...a)); }
  override enqueueIfRoom(...a: Args<"enqueueIfRoom">) { return this.durable(() => super.enqueueIfRoom(...a)); }
  override enqueueMany(...a: Args<"enqueueMany">) { return this.durable(() => super.enqueueMany(...a)); }
  override broadcast(...a: Args<"broadcast">) { return this.durable(() => super.broadcast(...a)); }
  override claimNext(...a: Args<"claimNext">) {
    // For a socket, nothing a claim wrote matters after a restart (its messages are queued again), so it does not wait for the disk.
    if (a[1] !== null) return this.soon(() => super.claimNext(...a));
    return this.durable(() => super.claimNext(...a));
  }
  override ack(...a: Args<"ack">) { return this.durable(() => super.ack(...a)); }
  override clearTaskMessages(...a: Args<"clearTaskMessages">) { return this.durable(() => super.clearTaskMessages(...a)); }
  override requeue(...a: Args<"requeue">) { return this.durable(() => super.requeue(...a)); }
  override requeueExpired(...a: Args<"requeueExpired">) { return this.durable(() => super.requeueExpired(...a)); }
  override createTask(...a: Args<"createTask">) { return this.durable(() => super.createTask(...a)); }
  override assignWaiting(...a: Args<"assignWaiting">) { return this.durable(() => super.assignWaiting(...a)); }
  override transitionTask(...a: Args<"transitionTask">) { return this.durable(() => super.transitionTask(...a)); }
  override expireTasks(...a: Args<"expireTasks">) { return this.durable(() => super.expireTasks(...a)); }
  override pruneTasks(...a: Args<"pruneTasks">) { return this.durable(() => super.pruneTasks(...a)); }
  override reclaimTasks(...a: Args<"reclaimTasks">) { return this.durable(() => super.reclaimTasks(...a)); }
  override expireUnread(...a: Args<"expireUnread">) { return this.durable(() => super.expireUnread(...a)); }
  override putFileVersionIf(...a: Args<"putFileVersionIf">) { return this.durable(() => super.putFileVersionIf(...a)); }
  override deleteFileIf(...a: Args<"deleteFileIf">) { return this.durable(() => super.deleteFileIf(...a)); }
  override takeLease(...a: Args<"takeLease">) { return this.durable(() => super.takeLease(...a)); }
  override releaseLease(...a: Args<"releaseLease">) { return this.durable(() => super.releaseLease(...a)); }
  override expireLeases(...a: Args<"expireLeases">) { return this.durable(() => super.expireLeases(...a)); }

  /** Runs a write operation whose loss in a crash is harmless; its rows go with the next commit. */
  private soon<T>(run: () => Promise<T>): Promise<T> {
    if (this.broken) return Promise.reject(this.broken);
    const result = run();
    if (this.pending.size > 0) this.sync().catch(() => {}); // whoever waits on that commit hears of a failure
    return result;
  }

  override async close() {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.pending.size && !this.broken) this.write(this.pending);
    } catch {
      // Nobody was told these writes were kept: their requests were still waiting for this commit.
    }
    this.pending = new Pending();
    this.tables.finalize();
    this.file.close();
  }
}

/** Rows changed since the last commit, by table; a row changed twice is written once. */
class Pending {
  agents = new Set<string>();
  tasks = new Map<string, "created" | "changed">();
  slots = new Map<number, Slot>();
  files = new Map<string, () => void>();
  /** New tasks' messages with their JSON, made once when they were weighed. */
  texts = new Map<Message, string>();
  get size() {
    return this.agents.size + this.tasks.size + this.slots.size + this.files.size;
  }
}
