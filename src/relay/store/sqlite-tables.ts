/**
 * The durable store's file: its tables, each record as a row, and the rows read back. `sqlite.ts` decides
 * when rows are written (one transaction per turn of the event loop); this decides what they hold.
 */
import type { Database, Statement } from "bun:sqlite";
import type { Message, Priority } from "../../protocol/schemas";
import type { Slot } from "./_inbox";
import type { AgentRecord, FileHeadRecord, FileLockRecord, FileVersionRecord, TaskRecord } from "./port";
import { frozenTask, messageText } from "./rules";

export const SCHEMA = `
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
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
`;

/** Where the rows read back go: the memory store's own ways of putting a record back. */
export interface Restore {
  agent(agent: AgentRecord): void;
  task(task: TaskRecord, bytes: number | undefined): void;
  message(seq: number, to: string, priority: Priority, msg: Message, until: number | null, bytes: number | undefined): void;
  file(record: FileHeadRecord | FileVersionRecord | FileLockRecord): void;
}

export class Tables {
  private q: Record<string, Statement>;

  constructor(private db: Database) {
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
  }

  /**
   * Reads everything back, in the order memory needs it. Messages that were out on a socket go back to their queue.
   * File contents already in memory are reused: a version's bytes never change.
   */
  read(known: Map<string, Uint8Array>, into: Restore) {
    for (const row of this.db.query<{ record: string }, []>("SELECT record FROM agents").all()) into.agent(JSON.parse(row.record));
    const states = new Map<string, string>();
    for (const row of this.db.query<{ id: string; state: string }, []>("SELECT id, state FROM task_states").all()) states.set(row.id, row.state);
    const tasks: TaskRecord[] = [];
    for (const row of this.db.query<{ id: string; record: string }, []>("SELECT id, record FROM tasks").all()) {
      const state = states.get(row.id);
      tasks.push(frozenTask({ ...JSON.parse(row.record), ...(state === undefined ? {} : JSON.parse(state)) }));
    }
    const rows = this.db
      .query<{ agent: string; seq: number; priority: Priority; body: string; inflight: number; until: number | null; via_socket: number }, []>(
        "SELECT agent, seq, priority, body, inflight, until, via_socket FROM messages ORDER BY seq",
      )
      .all();
    // A row's body is the message's JSON as it was weighed, so its length is the weight, with no second
    // JSON.stringify; a task with its message still queued weighs what that message does.
    const messages = rows.map((r) => JSON.parse(r.body) as Message);
    const sizes = rows.map((r) => Buffer.byteLength(r.body));
    const taskSizes = new Map<string, number>();
    for (let i = 0; i < messages.length; i++) if (messages[i]!.type === "task") taskSizes.set(messages[i]!.id, sizes[i]!);
    // In the order they last changed, so finished tasks are forgotten in the order they finished.
    for (const task of tasks.sort((a, b) => a.updatedAt - b.updatedAt)) into.task(task, taskSizes.get(task.id));
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      into.message(r.seq, r.agent, r.priority, messages[i]!, r.inflight && !r.via_socket ? (r.until ?? 0) : null, sizes[i]);
    }
    for (const row of this.db.query<{ record: string }, []>("SELECT record FROM file_heads").all()) into.file(JSON.parse(row.record));
    const versions = this.db.query<{ key: string; version: number; sha256: string; author: string; created_at: number }, []>(
      "SELECT key, version, sha256, author, created_at FROM file_versions ORDER BY key, version",
    );
    const bytesOf = this.db.query<{ bytes: Uint8Array }, { key: string; version: number }>("SELECT bytes FROM file_versions WHERE key = $key AND version = $version");
    for (const f of versions.all()) {
      const bytes = known.get(`${f.key}\0${f.version}\0${f.sha256}`) ?? bytesOf.get({ key: f.key, version: f.version })!.bytes;
      into.file({ key: f.key, version: f.version, size: bytes.byteLength, bytes, sha256: f.sha256, author: f.author, createdAt: f.created_at });
    }
    for (const row of this.db.query<{ record: string }, []>("SELECT record FROM file_locks").all()) into.file(JSON.parse(row.record));
  }

  /** Runs `write` as one transaction: all of its rows are kept, or none. */
  transaction(write: () => void) {
    this.db.run("BEGIN");
    try {
      write();
      this.db.run("COMMIT");
    } catch (err) {
      // SQLite may have rolled back already (a full disk does); a COMMIT that failed leaves the transaction open.
      if (this.db.inTransaction) this.db.run("ROLLBACK");
      throw err;
    }
  }

  /** An agent's row, or none once it is gone. */
  agent(id: string, a: AgentRecord | undefined) {
    if (a) this.q.putAgent!.run({ id, record: JSON.stringify(persisted(a)) });
    else this.q.deleteAgent!.run({ id });
  }

  /** A task's record is written whole once; what changes afterwards goes to task_states, so a big task is not written again. */
  task(id: string, t: TaskRecord | undefined, how: "created" | "changed") {
    if (!t) {
      this.q.deleteTask!.run({ id });
      this.q.deleteTaskState!.run({ id });
    } else if (how === "created") this.q.putTask!.run({ id, record: JSON.stringify(t satisfies TaskRecord) });
    else this.q.putTaskState!.run({ id, state: JSON.stringify(taskState(t)) });
  }

  slot(slot: Slot, texts: ReadonlyMap<Message, string>) {
    if (slot.where === "gone") {
      this.q.deleteMessage!.run({ seq: slot.seq });
      return;
    }
    const flying = slot.where === "flying";
    this.q.putMessage!.run({
      seq: slot.seq,
      agent: slot.to,
      priority: slot.priority,
      body: texts.get(slot.msg) ?? messageText(slot.msg),
      inflight: flying ? 1 : 0,
      until: flying ? slot.until : null,
      via: flying && slot.conn !== null ? 1 : 0,
    });
  }

  fileHead(key: string, head: FileHeadRecord | undefined) {
    if (head) this.q.putFileHead!.run({ key, record: JSON.stringify(head) });
  }

  fileVersion(key: string, version: number, f: FileVersionRecord | undefined) {
    if (f) this.q.putFileVersion!.run({ key, version, bytes: f.bytes, sha256: f.sha256, author: f.author, createdAt: f.createdAt });
    else this.q.deleteFileVersion!.run({ key, version });
  }

  /** Versions of `key` numbered `upTo` or lower. */
  dropFileVersions(key: string, upTo: number) {
    this.q.deleteFileVersions!.run({ key, upTo });
  }

  fileLock(key: string, lock: FileLockRecord | undefined) {
    if (lock) this.q.putFileLock!.run({ key, record: JSON.stringify(lock) });
    else this.q.deleteFileLock!.run({ key });
  }

  /** The relay key kept in the file, made on first use: a restarted relay still recognises its agents' secrets. */
  relayKey(fresh: Uint8Array) {
    const row = this.db.query<{ value: Uint8Array }, []>("SELECT value FROM meta WHERE key = 'secret_key'").get();
    if (row) return new Uint8Array(row.value);
    this.db.query("INSERT INTO meta (key, value) VALUES ('secret_key', $value)").run({ value: fresh });
    return fresh;
  }

  /** A statement left open would keep the connection, and so the lock, alive. */
  finalize() {
    for (const statement of Object.values(this.q)) statement.finalize();
  }
}

/** The part of a task record that changes after it is created. */
const taskState = ({ to, state, attempts, handedTo, updatedAt, history, historyDropped, note, result, responseId }: TaskRecord) => ({ to, state, attempts, handedTo, updatedAt, history, historyDropped, note, result, responseId });

/** What is kept of an agent: not its live connections. */
const persisted = ({ conns: _, ...rest }: AgentRecord) => rest;
