/**
 * The durable store (`relay --data PATH`): every record also lives in SQLite (WAL), so a relay
 * killed with `kill -9` and restarted on the same file has everything it had acknowledged.
 * Reads are served from memory, as in MemoryStore; writes are journaled and committed in
 * groups, once per turn of the event loop, before the requests that made them are answered.
 */
import { Database, type Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Message, Priority } from "../protocol/schemas";
import type { Entry } from "./queue";
import { MemoryStore, type AgentRecord, type FileRecord, type Inflight, type TaskRecord } from "./store";

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS agents (id TEXT PRIMARY KEY, record TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, record TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS messages (
    agent TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, priority TEXT NOT NULL, body TEXT NOT NULL,
    inflight INTEGER NOT NULL DEFAULT 0, until INTEGER, via_socket INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, id)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS files (key TEXT PRIMARY KEY, bytes BLOB NOT NULL, sha256 TEXT NOT NULL, updated_by TEXT NOT NULL, updated_at INTEGER NOT NULL);
`;

type Op = [Statement, Record<string, unknown>];

export class SqliteStore extends MemoryStore {
  private db: Database;
  private pending: Op[] = [];
  private flushing: Promise<void> | undefined;
  private loading = true;
  private q: Record<string, Statement>;
  /** Highest message sequence number on disk, so new messages sort after restored ones. */
  override readonly lastSeq: number;

  constructor(path: string) {
    super();
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { create: true, strict: true });
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
    this.db.exec(SCHEMA);
    this.q = {
      putAgent: this.db.prepare("INSERT OR REPLACE INTO agents (id, record) VALUES ($id, $record)"),
      deleteAgent: this.db.prepare("DELETE FROM agents WHERE id = $id"),
      deleteAgentMessages: this.db.prepare("DELETE FROM messages WHERE agent = $agent"),
      putTask: this.db.prepare("INSERT OR REPLACE INTO tasks (id, record) VALUES ($id, $record)"),
      enqueue: this.db.prepare(
        "INSERT OR REPLACE INTO messages (agent, id, seq, priority, body, inflight, until, via_socket) VALUES ($agent, $id, $seq, $priority, $body, 0, NULL, 0)",
      ),
      inflight: this.db.prepare("UPDATE messages SET inflight = 1, until = $until, via_socket = $via, body = $body WHERE agent = $agent AND id = $id"),
      deleteMessage: this.db.prepare("DELETE FROM messages WHERE agent = $agent AND id = $id"),
      putFile: this.db.prepare(
        "INSERT OR REPLACE INTO files (key, bytes, sha256, updated_by, updated_at) VALUES ($key, $bytes, $sha256, $updatedBy, $updatedAt)",
      ),
      deleteFile: this.db.prepare("DELETE FROM files WHERE key = $key"),
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
    for (const f of this.db.query<{ key: string; bytes: Uint8Array; sha256: string; updated_by: string; updated_at: number }, []>("SELECT * FROM files").all()) {
      super.putFile({ key: f.key, bytes: f.bytes, sha256: f.sha256, updatedBy: f.updated_by, updatedAt: f.updated_at });
    }
    return lastSeq;
  }

  private journal(stmt: Statement, params: Record<string, unknown>) {
    if (!this.loading) this.pending.push([stmt, params]);
  }

  /** Commits what is pending; resolves once it is on disk. One commit serves every request of this turn. */
  override sync(): Promise<void> | undefined {
    if (this.pending.length === 0) return this.flushing;
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
    const ops = this.pending;
    this.pending = [];
    this.db.transaction(() => {
      for (const [stmt, params] of ops) stmt.run(params as any);
    })();
  }

  override close() {
    if (this.pending.length) this.commit();
    this.db.close();
  }

  override putAgent(agent: AgentRecord) {
    super.putAgent(agent);
    this.journal(this.q.putAgent!, { id: agent.id, record: JSON.stringify(agent) });
  }
  override deleteAgent(id: string) {
    super.deleteAgent(id);
    this.journal(this.q.deleteAgent!, { id });
    this.journal(this.q.deleteAgentMessages!, { agent: id });
  }
  override putTask(task: TaskRecord) {
    super.putTask(task);
    this.journal(this.q.putTask!, { id: task.id, record: JSON.stringify(task) });
  }
  override enqueue(entry: Entry) {
    super.enqueue(entry);
    this.journal(this.q.enqueue!, { agent: entry.to, id: entry.msg.id, seq: entry.seq, priority: entry.priority, body: JSON.stringify(entry.msg) });
  }
  override removeQueued(agentId: string, msgId: string) {
    const e = super.removeQueued(agentId, msgId);
    if (e) this.journal(this.q.deleteMessage!, { agent: agentId, id: msgId });
    return e;
  }
  override dropQueue(agentId: string) {
    const dropped = super.dropQueue(agentId);
    for (const e of dropped) this.journal(this.q.deleteMessage!, { agent: agentId, id: e.msg.id });
    return dropped;
  }
  override putInflight(agentId: string, item: Inflight) {
    super.putInflight(agentId, item);
    this.journal(this.q.inflight!, { agent: agentId, id: item.entry.msg.id, until: item.until, via: item.conn === null ? 0 : 1, body: JSON.stringify(item.entry.msg) });
  }
  override takeInflight(agentId: string, msgId: string) {
    const item = super.takeInflight(agentId, msgId);
    // Settled or about to be queued again; a requeue journals its own insert.
    if (item) this.journal(this.q.deleteMessage!, { agent: agentId, id: msgId });
    return item;
  }
  override putFile(file: FileRecord) {
    super.putFile(file);
    this.journal(this.q.putFile!, { key: file.key, bytes: file.bytes, sha256: file.sha256, updatedBy: file.updatedBy, updatedAt: file.updatedAt });
  }
  override deleteFile(key: string) {
    const had = super.deleteFile(key);
    if (had) this.journal(this.q.deleteFile!, { key });
    return had;
  }
}
