/**
 * The durable store (`relay --data PATH`): every record also lives in SQLite (WAL), so a relay
 * killed with `kill -9` and restarted on the same file has everything it had acknowledged.
 * Reads are served from memory, as in MemoryStore; writes are journaled and committed in
 * groups, once per turn of the event loop, before the requests that made them are answered.
 */
import { Database, type Statement } from "bun:sqlite";
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import type { Message, Priority } from "../protocol/schemas";
import type { Entry } from "./queue";
import { randomKey } from "./keys";
import { MemoryStore, type AgentRecord, type FileHeadRecord, type FileLockRecord, type FileVersionRecord, type Inflight, type TaskRecord } from "./store";

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


export class SqliteStore extends MemoryStore {
  private db: Database;
  /** Row writes waiting for the next commit, by row: a later write to the same row replaces an earlier one. */
  private pending = new Map<string, () => void>();
  private flushing: Promise<void> | undefined;
  private loading = true;
  private closed = false;
  private q: Record<string, Statement>;
  /** Highest message sequence number on disk, so new messages sort after restored ones. */
  override readonly lastSeq: number;

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
      // Each queued copy of a message has its own sequence number: rows are appended, never scattered.
      putMessage: this.db.prepare(
        "INSERT OR REPLACE INTO messages (seq, agent, priority, body, inflight, until, via_socket) VALUES ($seq, $agent, $priority, $body, $inflight, $until, $via)",
      ),
      deleteMessage: this.db.prepare("DELETE FROM messages WHERE seq = $seq"),
      putFileHead: this.db.prepare("INSERT OR REPLACE INTO file_heads (key, record) VALUES ($key, $record)"),
      putFileVersion: this.db.prepare(
        "INSERT OR REPLACE INTO file_versions (key, version, bytes, sha256, author, created_at) VALUES ($key, $version, $bytes, $sha256, $author, $createdAt)",
      ),
      deleteFileVersions: this.db.prepare("DELETE FROM file_versions WHERE key = $key AND version <= $upTo"),
      putFileLock: this.db.prepare("INSERT OR REPLACE INTO file_locks (key, record) VALUES ($key, $record)"),
      deleteFileLock: this.db.prepare("DELETE FROM file_locks WHERE key = $key"),
    };
    this.lastSeq = this.load();
    this.loading = false;
  }

  /** Reads everything back into memory. Messages that were out on a socket go back to their queue. */
  private load(): number {
    for (const row of this.db.query<{ record: string }, []>("SELECT record FROM agents").all()) super.putAgent(JSON.parse(row.record));
    for (const row of this.db.query<{ record: string }, []>("SELECT record FROM tasks").all()) super.putTask(JSON.parse(row.record));
    const rows = this.db
      .query<{ agent: string; seq: number; priority: Priority; body: string; inflight: number; until: number | null; via_socket: number }, []>(
        "SELECT agent, seq, priority, body, inflight, until, via_socket FROM messages ORDER BY seq",
      )
      .all();
    let lastSeq = -1;
    for (const r of rows) {
      const entry: Entry = { msg: JSON.parse(r.body) as Message, to: r.agent, priority: r.priority, seq: r.seq };
      lastSeq = Math.max(lastSeq, r.seq);
      if (r.inflight && !r.via_socket) super.putInflight(r.agent, { entry, until: r.until ?? 0, conn: null });
      else this.enqueue(entry);
    }
    for (const row of this.db.query<{ record: string }, []>("SELECT record FROM file_heads").all()) super.putFileHead(JSON.parse(row.record));
    const versions = this.db.query<{ key: string; version: number; bytes: Uint8Array; sha256: string; author: string; created_at: number }, []>(
      "SELECT key, version, bytes, sha256, author, created_at FROM file_versions ORDER BY key, version",
    );
    for (const f of versions.all()) {
      super.putFileVersion({ key: f.key, version: f.version, bytes: f.bytes, sha256: f.sha256, author: f.author, createdAt: f.created_at });
    }
    for (const row of this.db.query<{ record: string }, []>("SELECT record FROM file_locks").all()) super.putFileLock(JSON.parse(row.record));
    return lastSeq;
  }

  private journal(row: string, write: () => void) {
    if (this.loading) return;
    this.pending.delete(row); // re-inserted last, so it runs after writes it depends on
    this.pending.set(row, write);
  }

  /** Commits what is pending; resolves once it is on disk. One commit serves every request of this turn. */
  override sync(): Promise<void> | undefined {
    if (this.pending.size === 0) return this.flushing;
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
    const writes = this.pending;
    this.pending = new Map();
    try {
      this.db.transaction(() => {
        for (const write of writes.values()) write();
      })();
    } catch (err) {
      // The transaction rolled back: keep the whole batch for the next commit, or later rows would land without it.
      this.pending = writes;
      throw err;
    }
  }

  /** The relay key kept in the file, made on first use: a restarted relay still recognises its agents' secrets. */
  override secretKey(): Uint8Array {
    const row = this.db.query<{ value: Uint8Array }, []>("SELECT value FROM meta WHERE key = 'secret_key'").get();
    if (row) return new Uint8Array(row.value);
    const key = randomKey();
    this.db.query("INSERT INTO meta (key, value) VALUES ('secret_key', $value)").run({ value: key });
    return key;
  }

  override close() {
    this.commit();
    this.closed = true;
    this.db.close();
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
  private writeMessage(entry: Entry, inflight: Inflight | null) {
    this.journal(`m:${entry.seq}`, () =>
      this.q.putMessage!.run({
        agent: entry.to,
        seq: entry.seq,
        priority: entry.priority,
        body: JSON.stringify(entry.msg),
        inflight: inflight ? 1 : 0,
        until: inflight?.until ?? null,
        via: inflight && inflight.conn !== null ? 1 : 0,
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
