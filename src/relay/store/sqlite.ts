/**
 * The durable store (`relay --data PATH`): the memory store, with every row an operation changed
 * written to SQLite (WAL) before the operation resolves, so a relay killed with `kill -9` and
 * started again on the same file has everything it acknowledged.
 * - Reads are served from memory.
 * - Writes are committed in groups, once per turn of the event loop: every operation of a turn
 *   waits for the one commit that carries its rows.
 * - A row is written as it is at commit time, so several changes to it in a turn cost one write.
 */
import { Database, type Statement } from "bun:sqlite";
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import type { Message, Priority } from "../../protocol/schemas";
import type { FileJournal } from "./_files";
import type { Slot } from "./_inbox";
import { MemoryStore } from "./memory";
import type { AgentRecord, TaskRecord } from "./port";
import { frozenTask } from "./rules";

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS agents (id TEXT PRIMARY KEY, record TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, record TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS task_states (id TEXT PRIMARY KEY, state TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY, agent TEXT NOT NULL, priority TEXT NOT NULL, body TEXT NOT NULL,
    inflight INTEGER NOT NULL DEFAULT 0, until INTEGER, via_socket INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE IF NOT EXISTS file_heads (key TEXT PRIMARY KEY, record TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS file_versions (
    key TEXT NOT NULL, version INTEGER NOT NULL, bytes BLOB NOT NULL, sha256 TEXT NOT NULL, author TEXT NOT NULL, created_at INTEGER NOT NULL,
    PRIMARY KEY (key, version)
  );
  CREATE TABLE IF NOT EXISTS file_locks (key TEXT PRIMARY KEY, record TEXT NOT NULL);
`;

type Args<K extends keyof MemoryStore> = MemoryStore[K] extends (...a: infer A) => unknown ? A : never;

export class SqliteStore extends MemoryStore {
  private db: Database;
  /** Rows waiting for the next commit; each is written as memory has it then. */
  private pending = new Pending();
  /** Counts journal entries, so an operation that wrote nothing does not wait for a commit. */
  private journaled = 0;
  private flushing: Promise<void> | undefined;
  private loading = true;
  private closed = false;
  private q: Record<string, Statement>;

  constructor(path: string) {
    super();
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Owner-only from the first byte: it holds secret hashes, tasks and files. SQLite gives its -wal and -shm files the same mode.
    if (!existsSync(path)) closeSync(openSync(path, "w", 0o600));
    this.db = new Database(path, { create: true, strict: true });
    // WAL with synchronous=NORMAL: a commit survives the process being killed; a power cut may lose the last ones.
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -65536;");
    this.db.exec(SCHEMA);
    this.q = {
      putAgent: this.db.prepare("INSERT OR REPLACE INTO agents (id, record) VALUES ($id, $record)"),
      deleteAgent: this.db.prepare("DELETE FROM agents WHERE id = $id"),
      putTask: this.db.prepare("INSERT OR REPLACE INTO tasks (id, record) VALUES ($id, $record)"),
      deleteTask: this.db.prepare("DELETE FROM tasks WHERE id = $id"),
      putTaskState: this.db.prepare("INSERT OR REPLACE INTO task_states (id, state) VALUES ($id, $state)"),
      deleteTaskState: this.db.prepare("DELETE FROM task_states WHERE id = $id"),
      putMessage: this.db.prepare(
        "INSERT OR REPLACE INTO messages (seq, agent, priority, body, inflight, until, via_socket) VALUES ($seq, $agent, $priority, $body, $inflight, $until, $via)",
      ),
      deleteMessage: this.db.prepare("DELETE FROM messages WHERE seq = $seq"),
      putFileHead: this.db.prepare("INSERT OR REPLACE INTO file_heads (key, record) VALUES ($key, $record)"),
      putFileVersion: this.db.prepare(
        "INSERT OR REPLACE INTO file_versions (key, version, bytes, sha256, author, created_at) VALUES ($key, $version, $bytes, $sha256, $author, $createdAt)",
      ),
      deleteFileVersion: this.db.prepare("DELETE FROM file_versions WHERE key = $key AND version = $version"),
      deleteFileVersions: this.db.prepare("DELETE FROM file_versions WHERE key = $key AND version <= $upTo"),
      putFileLock: this.db.prepare("INSERT OR REPLACE INTO file_locks (key, record) VALUES ($key, $record)"),
      deleteFileLock: this.db.prepare("DELETE FROM file_locks WHERE key = $key"),
    };
    this.load();
    this.loading = false;
  }

  /** Reads everything back into memory. Messages that were out on a socket go back to their queue. */
  private load() {
    for (const row of this.db.query<{ record: string }, []>("SELECT record FROM agents").all()) this.restoreAgent(JSON.parse(row.record));
    const states = new Map<string, string>();
    for (const row of this.db.query<{ id: string; state: string }, []>("SELECT id, state FROM task_states").all()) states.set(row.id, row.state);
    for (const row of this.db.query<{ id: string; record: string }, []>("SELECT id, record FROM tasks").all()) {
      const state = states.get(row.id);
      this.addTask(frozenTask({ ...JSON.parse(row.record), ...(state === undefined ? {} : JSON.parse(state)) }));
    }
    const rows = this.db
      .query<{ agent: string; seq: number; priority: Priority; body: string; inflight: number; until: number | null; via_socket: number }, []>(
        "SELECT agent, seq, priority, body, inflight, until, via_socket FROM messages ORDER BY seq",
      )
      .all();
    for (const r of rows) this.restoreMessage(r.seq, r.agent, r.priority, JSON.parse(r.body) as Message, r.inflight && !r.via_socket ? (r.until ?? 0) : null);
    for (const row of this.db.query<{ record: string }, []>("SELECT record FROM file_heads").all()) this.files.restore(JSON.parse(row.record));
    const versions = this.db.query<{ key: string; version: number; bytes: Uint8Array; sha256: string; author: string; created_at: number }, []>(
      "SELECT key, version, bytes, sha256, author, created_at FROM file_versions ORDER BY key, version",
    );
    for (const f of versions.all()) {
      this.files.restore({ key: f.key, version: f.version, size: f.bytes.byteLength, bytes: f.bytes, sha256: f.sha256, author: f.author, createdAt: f.created_at });
    }
    for (const row of this.db.query<{ record: string }, []>("SELECT record FROM file_locks").all()) this.files.restore(JSON.parse(row.record));
  }

  private journal() {
    if (this.loading) return false;
    this.journaled++;
    return true;
  }

  // Live state (last seen on a request, connections) is not kept; a heartbeat's last seen is.
  protected override agentChanged(id: string, keep: boolean) {
    if (keep && this.journal()) this.pending.agents.add(id);
  }

  protected override taskCreated(id: string) {
    if (this.journal()) this.pending.tasks.set(id, "created");
  }

  protected override taskChanged(id: string) {
    if (this.journal() && !this.pending.tasks.has(id)) this.pending.tasks.set(id, "changed");
  }

  protected override slotChanged(slot: Slot) {
    // Out on a socket is as good as queued on disk: a restart queues it again (its socket died with the relay).
    if (slot.where === "flying" && slot.conn !== null) return;
    // The latest slot of a sequence number is the one memory has (a message queued again is a fresh slot).
    if (this.journal()) this.pending.slots.set(slot.seq, slot);
  }

  private writeAgent(id: string) {
    const a = this.agents.get(id);
    if (a) this.q.putAgent!.run({ id, record: JSON.stringify(persisted(a)) });
    else this.q.deleteAgent!.run({ id });
  }

  /** A task's record is written whole once; what changes afterwards goes to task_states, so a big task is not written again. */
  private writeTask(id: string, how: "created" | "changed") {
    const t = this.tasks.get(id);
    if (!t) {
      this.q.deleteTask!.run({ id });
      this.q.deleteTaskState!.run({ id });
    } else if (how === "created") this.q.putTask!.run({ id, record: JSON.stringify(t satisfies TaskRecord) });
    else this.q.putTaskState!.run({ id, state: JSON.stringify(taskState(t)) });
  }

  private writeSlot(slot: Slot) {
    if (slot.where === "gone") {
      this.q.deleteMessage!.run({ seq: slot.seq });
      return;
    }
    const flying = slot.where === "flying";
    this.q.putMessage!.run({
      seq: slot.seq,
      agent: slot.to,
      priority: slot.priority,
      body: JSON.stringify(slot.msg),
      inflight: flying ? 1 : 0,
      until: flying ? slot.until : null,
      via: flying && slot.conn !== null ? 1 : 0,
    });
  }

  private fileRow(row: string, write: () => void) {
    if (this.journal()) this.pending.files.set(row, write);
  }

  protected override fileJournal(): FileJournal {
    return {
      head: (key) =>
        this.fileRow(`fh:${key}`, () => {
          const head = this.files.heads.get(key);
          if (head) this.q.putFileHead!.run({ key, record: JSON.stringify(head) });
        }),
      version: (key, version) =>
        this.fileRow(`fv:${key}\0${version}`, () => {
          const f = this.files.version(key, version);
          if (f) this.q.putFileVersion!.run({ key, version, bytes: f.bytes, sha256: f.sha256, author: f.author, createdAt: f.createdAt });
          else this.q.deleteFileVersion!.run({ key, version });
        }),
      dropped: (key, upTo) => this.fileRow(`fd:${key}\0${upTo}`, () => this.q.deleteFileVersions!.run({ key, upTo })),
      lock: (key) =>
        this.fileRow(`fl:${key}`, () => {
          const lock = this.files.locks.get(key);
          if (lock) this.q.putFileLock!.run({ key, record: JSON.stringify(lock) });
          else this.q.deleteFileLock!.run({ key });
        }),
    };
  }

  /** Resolves once every change so far is on disk; one commit serves every operation of this turn. */
  private sync(): Promise<void> {
    if (this.pending.size === 0) return this.flushing ?? Promise.resolve();
    return (this.flushing ??= new Promise<void>((resolve, reject) =>
      setImmediate(() => {
        this.flushing = undefined;
        try {
          this.commit();
          resolve();
        } catch (err) {
          reject(err);
        }
      }),
    ));
  }

  private commit() {
    if (this.closed || this.pending.size === 0) return;
    const rows = this.pending;
    this.pending = new Pending();
    try {
      this.db.transaction(() => {
        for (const id of rows.agents) this.writeAgent(id);
        for (const [id, how] of rows.tasks) this.writeTask(id, how);
        for (const slot of rows.slots.values()) this.writeSlot(slot);
        for (const write of rows.files.values()) write();
      })();
    } catch (err) {
      // The transaction rolled back: keep the whole batch for the next commit, or later rows would land without it.
      this.pending = rows;
      throw err;
    }
  }

  /** Runs a write operation and resolves with its result once what it changed is on disk. */
  private durable<T>(run: () => Promise<T>): Promise<T> {
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
  override putFileVersionIf(...a: Args<"putFileVersionIf">) { return this.durable(() => super.putFileVersionIf(...a)); }
  override deleteFileIf(...a: Args<"deleteFileIf">) { return this.durable(() => super.deleteFileIf(...a)); }
  override takeLease(...a: Args<"takeLease">) { return this.durable(() => super.takeLease(...a)); }
  override releaseLease(...a: Args<"releaseLease">) { return this.durable(() => super.releaseLease(...a)); }
  override expireLeases(...a: Args<"expireLeases">) { return this.durable(() => super.expireLeases(...a)); }

  /** Runs a write operation whose loss in a crash is harmless; its rows go with the next commit. */
  private soon<T>(run: () => Promise<T>): Promise<T> {
    const result = run();
    if (this.pending.size > 0) this.sync().catch(() => {}); // a failed commit keeps its rows for the next one
    return result;
  }

  override async close() {
    if (this.closed) return;
    this.commit();
    this.closed = true;
    this.db.close();
  }
}

/** Rows changed since the last commit, by table; a row changed twice is written once. */
class Pending {
  agents = new Set<string>();
  tasks = new Map<string, "created" | "changed">();
  slots = new Map<number, Slot>();
  files = new Map<string, () => void>();
  get size() {
    return this.agents.size + this.tasks.size + this.slots.size + this.files.size;
  }
}

/** The part of a task record that changes after it is created. */
const taskState = ({ to, state, attempts, updatedAt, history, result, responseId }: TaskRecord) => ({ to, state, attempts, updatedAt, history, result, responseId });

/** What is kept of an agent: not its live connections. */
const persisted = ({ conns: _, ...rest }: AgentRecord) => rest;
