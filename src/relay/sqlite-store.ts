/**
 * The durable store (`relay --data PATH`): every record also lives in SQLite (WAL), so a relay
 * killed with `kill -9` and restarted on the same file has everything it had acknowledged.
 * Reads are served from memory, as in MemoryStore; writes are journaled and committed in
 * groups, once per turn of the event loop, before the requests that made them are answered.
 * What others can see (pushes, wake-ups) waits for the commit that holds it; a failed commit
 * puts memory back to what is on disk, so a request that was refused left no trace.
 */
import type { Database, Statement } from "bun:sqlite";
import type { ClawlinkError } from "../errors";
import type { Message, Priority } from "../protocol/schemas";
import { openDataFile, storeError, type DataFile, type Fsync } from "./datafile";
import type { Entry } from "./queue";
import { randomKey } from "./keys";
import {
  MemoryStore,
  type AgentRecord,
  type FileHeadRecord,
  type FileLockRecord,
  type FileVersionRecord,
  type Inflight,
  type StoreListener,
  type TaskRecord,
} from "./store";

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS agents (id TEXT PRIMARY KEY, record TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, record TEXT NOT NULL);
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
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
`;

export interface SqliteStoreOptions {
  fsync?: Fsync;
}

export class SqliteStore extends MemoryStore {
  private file: DataFile;
  private db: Database;
  /** Row writes waiting for the next commit, by row: a later write to the same row replaces an earlier one. */
  private pending = new Map<string, () => void>();
  /** What runs once the pending writes are committed. */
  private effects: (() => void)[] = [];
  /** The highest message number journaled so far. */
  private journaledSeq = -1;
  private flushing: Promise<void> | undefined;
  private loading = true;
  private closed = false;
  /** Set while commits fail; cleared by the next one that succeeds. */
  private failing = false;
  /** Set when even reading the file back failed: nothing can be trusted until a restart. */
  private broken: ClawlinkError | undefined;
  private listeners: StoreListener[] = [];
  private q: Record<string, Statement>;
  /** Highest message sequence number on disk, so new messages sort after restored ones. */
  override readonly lastSeq: number;
  /** What the operator should hear about the file (permissions tightened). */
  readonly notes: string[];

  constructor(
    readonly path: string,
    opts: SqliteStoreOptions = {},
  ) {
    super();
    // Messages that were out on a socket when the last relay stopped go back to their queue.
    this.file = openDataFile(path, opts.fsync, `${SCHEMA}; UPDATE messages SET inflight = 0, until = NULL, via_socket = 0 WHERE via_socket != 0;`);
    this.db = this.file.db;
    this.notes = this.file.notes;
    this.q = {
      putAgent: this.db.prepare("INSERT OR REPLACE INTO agents (id, record) VALUES ($id, $record)"),
      deleteAgent: this.db.prepare("DELETE FROM agents WHERE id = $id"),
      putTask: this.db.prepare("INSERT OR REPLACE INTO tasks (id, record) VALUES ($id, $record)"),
      deleteTask: this.db.prepare("DELETE FROM tasks WHERE id = $id"),
      // Each queued copy of a message has its own sequence number: rows are appended, never scattered.
      putMessage: this.db.prepare(
        "INSERT OR REPLACE INTO messages (seq, agent, priority, body, inflight, until, via_socket) VALUES ($seq, $agent, $priority, $body, $inflight, $until, $via)",
      ),
      deleteMessage: this.db.prepare("DELETE FROM messages WHERE seq = $seq"),
      putFileHead: this.db.prepare("INSERT OR REPLACE INTO file_heads (key, record) VALUES ($key, $record)"),
      putFileVersion: this.db.prepare(
        "INSERT OR REPLACE INTO file_versions (key, version, bytes, sha256, author, created_at) VALUES ($key, $version, $bytes, $sha256, $author, $createdAt)",
      ),
      fileBytes: this.db.prepare("SELECT bytes FROM file_versions WHERE key = $key AND version = $version"),
      deleteFileVersions: this.db.prepare("DELETE FROM file_versions WHERE key = $key AND version <= $upTo"),
      putFileLock: this.db.prepare("INSERT OR REPLACE INTO file_locks (key, record) VALUES ($key, $record)"),
      deleteFileLock: this.db.prepare("DELETE FROM file_locks WHERE key = $key"),
    };
    this.lastSeq = this.load(new Map());
    this.committedSeq = this.lastSeq;
    this.journaledSeq = this.lastSeq;
    this.loading = false;
  }

  /**
   * Reads everything back into memory. A message in flight stays with its connection (`via_socket`
   * holds the connection's number; 0 for a poll). File contents already in memory are reused:
   * a version's bytes never change.
   */
  private load(known: Map<string, Uint8Array>): number {
    for (const row of this.db.query<{ record: string }, []>("SELECT record FROM agents").all()) super.putAgent(JSON.parse(row.record));
    for (const row of this.db.query<{ record: string }, []>("SELECT record FROM tasks").all()) super.putTask(JSON.parse(row.record));
    const rows = this.db
      .query<{ agent: string; seq: number; priority: Priority; body: string; inflight: number; until: number | null; via_socket: number }, []>(
        "SELECT agent, seq, priority, body, inflight, until, via_socket FROM messages ORDER BY seq",
      )
      .all();
    let lastSeq = -1;
    for (const r of rows) {
      const entry: Entry = { msg: JSON.parse(r.body) as Message, to: r.agent, priority: r.priority, seq: r.seq, size: Buffer.byteLength(r.body) };
      lastSeq = Math.max(lastSeq, r.seq);
      if (r.inflight) super.putInflight(r.agent, { entry, until: r.until ?? 0, conn: r.via_socket || null });
      else super.enqueue(entry);
    }
    for (const row of this.db.query<{ record: string }, []>("SELECT record FROM file_heads").all()) super.putFileHead(JSON.parse(row.record));
    const versions = this.db.query<{ key: string; version: number; sha256: string; author: string; created_at: number }, []>(
      "SELECT key, version, sha256, author, created_at FROM file_versions ORDER BY key, version",
    );
    for (const f of versions.all()) {
      const bytes = known.get(`${f.key}\0${f.version}\0${f.sha256}`) ?? (this.q.fileBytes!.get({ key: f.key, version: f.version }) as { bytes: Uint8Array }).bytes;
      super.putFileVersion({ key: f.key, version: f.version, bytes, sha256: f.sha256, author: f.author, createdAt: f.created_at });
    }
    for (const row of this.db.query<{ record: string }, []>("SELECT record FROM file_locks").all()) super.putFileLock(JSON.parse(row.record));
    return lastSeq;
  }

  private journal(row: string, write: () => void) {
    if (this.loading) return;
    this.pending.delete(row); // re-inserted last, so it runs after writes it depends on
    this.pending.set(row, write);
  }

  override subscribe(listener: StoreListener) {
    this.listeners.push(listener);
  }

  override afterCommit(effect: () => void) {
    this.effects.push(effect);
    this.sync();
  }

  /** Commits what is pending; resolves once it is on disk. One commit serves every request of this turn. */
  override sync(): Promise<void> | undefined {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closed || (this.pending.size === 0 && this.effects.length === 0)) return this.flushing;
    if (this.flushing) return this.flushing;
    const flushing = new Promise<void>((resolve, reject) =>
      setImmediate(() => {
        this.flushing = undefined;
        let effects: (() => void)[];
        try {
          effects = this.commit();
        } catch (err) {
          reject(err);
          return;
        }
        resolve();
        this.run(effects);
      }),
    );
    flushing.catch(() => {}); // whoever waits on it hears of a failure; nobody else must
    return (this.flushing = flushing);
  }

  /** Writes the pending rows in one transaction and returns the effects they release. Throws 507 or 503 after rolling back. */
  private commit(): (() => void)[] {
    const writes = this.pending;
    const effects = this.effects;
    const seq = this.journaledSeq;
    this.pending = new Map();
    this.effects = [];
    if (this.closed || writes.size === 0) return effects;
    try {
      this.write(writes);
    } catch (err) {
      const e = storeError(err);
      this.rollback(e);
      throw e;
    }
    this.committedSeq = seq;
    if (this.failing) {
      this.failing = false;
      for (const l of this.listeners) l.recovered?.();
    }
    return effects;
  }

  private write(writes: Map<string, () => void>) {
    this.db.run("BEGIN");
    try {
      for (const write of writes.values()) write();
      this.db.run("COMMIT");
    } catch (err) {
      // SQLite may have rolled back already (a full disk does); a COMMIT that failed leaves the transaction open.
      if (this.db.inTransaction) this.db.run("ROLLBACK");
      throw err;
    }
  }

  override describe() {
    return { kind: "sqlite" as const, path: this.path };
  }

  /** The relay key kept in the file, made on first use: a restarted relay still recognises its agents' secrets. */
  override secretKey(): Uint8Array {
    const row = this.db.query<{ value: Uint8Array }, []>("SELECT value FROM meta WHERE key = 'secret_key'").get();
    if (row) return new Uint8Array(row.value);
    const key = randomKey();
    this.db.query("INSERT INTO meta (key, value) VALUES ('secret_key', $value)").run({ value: key });
    return key;
  }

  /** After a failed commit: memory goes back to what the file holds, and the relay rebuilds what it derives from it. */
  private rollback(err: ClawlinkError) {
    const known = new Map<string, Uint8Array>();
    for (const head of this.listFileHeads()) {
      for (const f of this.listFileVersions(head.key)) known.set(`${f.key}\0${f.version}\0${f.sha256}`, f.bytes);
    }
    this.reset();
    this.loading = true;
    try {
      this.load(known);
    } catch (loadErr) {
      this.broken = storeError(loadErr);
    } finally {
      this.loading = false;
    }
    this.failing = true;
    for (const l of this.listeners) l.rolledBack?.(this.broken ?? err);
  }

  private run(effects: (() => void)[]) {
    for (const effect of effects) {
      try {
        effect();
      } catch (err) {
        for (const l of this.listeners) l.effectFailed?.(err);
      }
    }
  }

  override close() {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.pending.size && !this.broken) this.write(this.pending);
    } catch {
      // Nobody was told these writes were kept: their requests were still waiting for this commit.
    }
    this.pending.clear();
    this.effects = [];
    // A statement left open would keep the connection, and so the lock, alive.
    for (const statement of Object.values(this.q)) statement.finalize();
    this.file.close();
  }

  // Records are serialized at commit, so several changes to one record in a turn cost one write.
  override putAgent(agent: AgentRecord) {
    super.putAgent(agent);
    this.journal(`a:${agent.id}`, () => this.q.putAgent!.run({ id: agent.id, record: JSON.stringify(agent) }));
  }
  override deleteAgent(id: string) {
    // Row by row, so registering the id again in the same turn (which replaces the agent's write) keeps these deletes.
    for (const e of this.queued(id)) this.deleteMessage(e);
    for (const item of this.listInflight(id)) this.deleteMessage(item.entry);
    super.deleteAgent(id);
    this.journal(`a:${id}`, () => this.q.deleteAgent!.run({ id }));
  }
  override putTask(task: TaskRecord) {
    super.putTask(task);
    this.journal(`t:${task.id}`, () => this.q.putTask!.run({ id: task.id, record: JSON.stringify(task) }));
  }
  override deleteTask(id: string) {
    super.deleteTask(id);
    this.journal(`t:${id}`, () => this.q.deleteTask!.run({ id }));
  }
  private writeMessage(entry: Entry, inflight: Inflight | null) {
    if (entry.seq > this.journaledSeq) this.journaledSeq = entry.seq;
    this.journal(`m:${entry.seq}`, () =>
      this.q.putMessage!.run({
        agent: entry.to,
        seq: entry.seq,
        priority: entry.priority,
        body: JSON.stringify(entry.msg),
        inflight: inflight ? 1 : 0,
        until: inflight?.until ?? null,
        via: inflight?.conn ?? 0,
      }),
    );
  }
  private deleteMessage(entry: Entry) {
    this.journal(`m:${entry.seq}`, () => this.q.deleteMessage!.run({ seq: entry.seq }));
  }
  override enqueue(entry: Entry) {
    super.enqueue(entry);
    this.writeMessage(entry, null);
  }
  // Leaving the queue deletes the row; going in flight right after writes it anew.
  override dequeue(agentId: string) {
    const e = super.dequeue(agentId);
    if (e) this.deleteMessage(e);
    return e;
  }
  override removeQueued(agentId: string, msgId: string) {
    const e = super.removeQueued(agentId, msgId);
    if (e) this.deleteMessage(e);
    return e;
  }
  override dropQueue(agentId: string) {
    const dropped = super.dropQueue(agentId);
    for (const e of dropped) this.deleteMessage(e);
    return dropped;
  }
  override putInflight(agentId: string, item: Inflight) {
    super.putInflight(agentId, item);
    this.writeMessage(item.entry, item);
  }
  override takeInflight(agentId: string, msgId: string) {
    const item = super.takeInflight(agentId, msgId);
    // Settled, or about to be queued again (which writes the row anew).
    if (item) this.deleteMessage(item.entry);
    return item;
  }
  override putFileHead(head: FileHeadRecord) {
    super.putFileHead(head);
    this.journal(`fh:${head.key}`, () => this.q.putFileHead!.run({ key: head.key, record: JSON.stringify(head) }));
  }
  override putFileVersion(f: FileVersionRecord) {
    super.putFileVersion(f);
    this.journal(`fv:${f.key}\0${f.version}`, () =>
      this.q.putFileVersion!.run({ key: f.key, version: f.version, bytes: f.bytes, sha256: f.sha256, author: f.author, createdAt: f.createdAt }),
    );
  }
  override deleteFileVersions(key: string, upTo = Infinity) {
    super.deleteFileVersions(key, upTo);
    const bound = Number.isFinite(upTo) ? upTo : Number.MAX_SAFE_INTEGER;
    this.journal(`fd:${key}\0${bound}`, () => this.q.deleteFileVersions!.run({ key, upTo: bound }));
  }
  override putFileLock(lock: FileLockRecord) {
    super.putFileLock(lock);
    this.journal(`fl:${lock.key}`, () => this.q.putFileLock!.run({ key: lock.key, record: JSON.stringify(lock) }));
  }
  override deleteFileLock(key: string) {
    super.deleteFileLock(key);
    this.journal(`fl:${key}`, () => this.q.deleteFileLock!.run({ key }));
  }
}
