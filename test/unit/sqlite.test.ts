/** What only the durable store promises: a write resolves once on disk, a failed commit is retried, sockets' messages come back. */
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { statSync } from "node:fs";
import { join } from "node:path";
import { SqliteStore } from "../../src/relay/store/sqlite";
import { cleanup, tempHome } from "../_helpers";

afterAll(cleanup);

const agent = (id: string) => ({ id, name: id, caps: [], description: "", machine: "", secretHash: `hash-${id}` });
const RULES = { staleBefore: 0, maxAgents: 100, takeOver: true, allowNew: true, note: "", room: {} };
const note = (id: string, to: string) => ({ to, priority: "normal" as const, msg: { type: "broadcast" as const, id, from: "a", to: null, created_at: "t", content: id, topic: "", tags: [] } });
/** Rows as the file has them: the store holds the file alone, and writes only in its commits. */
const rows = (s: SqliteStore, sql: string) => dbOf(s).query(sql).all();
const dbOf = (s: SqliteStore) => (s as unknown as { file: { db: Database } }).file.db;
/** SQLite answers a write past max_page_count exactly as it answers a full disk: SQLITE_FULL. */
const fillDisk = (s: SqliteStore) => {
  const db = dbOf(s);
  db.exec(`PRAGMA max_page_count = ${(db.query("PRAGMA page_count").get() as { page_count: number }).page_count}`);
};
const freeDisk = (s: SqliteStore) => dbOf(s).exec("PRAGMA max_page_count = 1073741823");

describe("sqlite store", () => {
  test("a write resolves only once its rows are committed; a read never waits", async () => {
    const path = join(tempHome(), "relay.db");
    const s = new SqliteStore(path);
    const claimed = s.claimName(agent("a"), 1, RULES);
    expect(rows(s, "SELECT id FROM agents")).toEqual([]);
    expect(await s.getAgent("a")).toBeDefined();
    await claimed;
    expect(rows(s, "SELECT id FROM agents")).toEqual([{ id: "a" }]);
    await s.enqueueIfRoom(note("m_1", "a"), {});
    expect(rows(s, "SELECT agent, inflight FROM messages")).toEqual([{ agent: "a", inflight: 0 }]);
    await s.claimNext("a", null, 1, { max: 1, ackWindowMs: 1000, room: {} });
    expect(rows(s, "SELECT inflight, until FROM messages")).toEqual([{ inflight: 1, until: 1001 }]);
    await s.ack("a", ["m_1"]);
    expect(rows(s, "SELECT * FROM messages")).toEqual([]);
    await s.close();
  });

  test("messages read back weigh what they weighed when queued: a recipient's byte budget is as full after a restart", async () => {
    const path = join(tempHome(), "relay.db");
    const one = Buffer.byteLength(JSON.stringify(note("m_1", "a").msg));
    // New broadcasts stop short of the share kept for replies (rules.ts, REPLY_RESERVE): two fit, a third does not.
    const room = { maxRecipientBytes: Math.ceil((2.5 * one * 8) / 7) };
    const s = new SqliteStore(path);
    await s.claimName(agent("a"), 1, RULES);
    for (const id of ["m_1", "m_2"]) expect(await s.enqueueIfRoom(note(id, "a"), room)).toMatchObject({ ok: true });
    const refused = await s.enqueueIfRoom(note("m_3", "a"), room);
    expect(refused).toMatchObject({ ok: false });
    await s.close();
    const again = new SqliteStore(path);
    expect(await again.enqueueIfRoom(note("m_3", "a"), room)).toEqual(refused);
    await again.claimNext("a", null, 1, { max: 1, ackWindowMs: 1000, room: {} });
    await again.ack("a", ["m_1"]);
    expect(await again.enqueueIfRoom(note("m_3", "a"), room)).toMatchObject({ ok: true });
    await again.close();
  });

  test("an agent seen on requests or by a socket closing reads back seen within 5 s of it, so a restart cannot make it stale", async () => {
    const path = join(tempHome(), "relay.db");
    const T = 1_000_000;
    const s = new SqliteStore(path);
    await s.claimName(agent("a"), T, RULES);
    await s.touchAgent("a", T + 2_000);
    await s.touchAgent("a", T + 6_000);
    await s.attachConnection("a", "r.1", T + 7_000);
    await s.detachConnection("a", "r.1", T + 12_000);
    await s.touchAgent("a", T + 15_000);
    expect((await s.getAgent("a"))!.lastSeen).toBe(T + 15_000);
    await s.close();
    let again = new SqliteStore(path);
    // Written at 6 s (5 s past registering) and at 12 s (when its socket closed, 6 s past that); 15 s lags 3 s.
    expect((await again.getAgent("a"))!.lastSeen).toBe(T + 12_000);
    await again.touchAgent("a", T + 16_000);
    await again.close();
    again = new SqliteStore(path);
    expect((await again.getAgent("a"))!.lastSeen).toBe(T + 12_000);
    await again.touchAgent("a", T + 17_000);
    await again.close();
    again = new SqliteStore(path);
    expect((await again.getAgent("a"))!.lastSeen).toBe(T + 17_000);
    await again.close();
  });

  test("a task read back weighs against its sender's byte budget as it did before the restart", async () => {
    const path = join(tempHome(), "relay.db");
    const task = (id: string) => ({ id, from: "a", to: "b", cap: null, task: "x".repeat(1000), context: {}, priority: "normal" as const, leaseS: 30, ttlS: null, createdAt: 1, idempotencyKey: null });
    const room = { maxSenderBytes: 1500 };
    const s = new SqliteStore(path);
    for (const id of ["a", "b"]) await s.claimName(agent(id), 1, RULES);
    expect(await s.createTask(task("t_1"), room)).toMatchObject({ ok: true });
    const refused = await s.createTask(task("t_2"), room);
    expect(refused).toMatchObject({ ok: false, refused: "sender_full" });
    await s.close();
    const again = new SqliteStore(path);
    expect(await again.createTask(task("t_2"), room)).toEqual(refused);
    await again.close();
  });

  test("the database file and its journal are readable by the owner only", async () => {
    const path = join(tempHome(), "sub", "relay.db");
    const s = new SqliteStore(path);
    await s.claimName(agent("a"), 1, RULES);
    for (const f of [path, `${path}-wal`]) expect(statSync(f).mode & 0o777).toBe(0o600);
    await s.close();
  });

  test("a commit that fails (a full disk) is undone: what waited for it is refused with 507, memory is what the file holds, and the next commit works", async () => {
    const path = join(tempHome(), "relay.db");
    const s = new SqliteStore(path);
    const health: (string | null)[] = [];
    s.onHealth((err) => health.push(err && `${err.status} ${err.code}`));
    await s.claimName(agent("a"), 1, RULES);
    fillDisk(s);
    const [b, big] = await Promise.allSettled([
      s.claimName(agent("b"), 1, RULES),
      s.putFileVersionIf("big", 0, { bytes: new Uint8Array(64 * 1024), sha256: "h", author: "a", authorId: "a", createdAt: 1 }, { maxVersions: 5, maxTotalBytes: 1e9 }),
    ]);
    expect(b).toMatchObject({ status: "rejected", reason: { status: 507, code: "insufficient_storage" } });
    expect(big).toMatchObject({ status: "rejected", reason: { status: 507 } });
    expect(await s.getAgent("b")).toBeUndefined();
    expect(await s.getFileHead("big")).toBeUndefined();
    expect(await s.getAgent("a")).toBeDefined();
    expect(health).toEqual(["507 insufficient_storage"]);
    freeDisk(s);
    await s.claimName(agent("c"), 1, RULES);
    expect(health).toEqual(["507 insufficient_storage", null]);
    await s.close();
    const again = new SqliteStore(path);
    expect((await again.listAgents()).map((x) => x.id).sort()).toEqual(["a", "c"]);
    await again.close();
  });

  test("a message is handed out only once committed; a rollback keeps this process's sockets and what they were handed", async () => {
    const path = join(tempHome(), "relay.db");
    const s = new SqliteStore(path);
    await s.claimName(agent("a"), 1, RULES);
    await s.attachConnection("a", "r1.1");
    await s.enqueueIfRoom(note("m_1", "a"), {});
    expect((await s.claimNext("a", "r1.1", 1, { max: 10, ackWindowMs: 1000, room: {} })).messages.map((m) => m.id)).toEqual(["m_1"]);
    const queued = s.enqueueIfRoom(note("m_2", "a"), {});
    expect((await s.claimNext("a", "r1.1", 1, { max: 10, ackWindowMs: 1000, room: {} })).messages).toEqual([]);
    await queued;
    expect((await s.claimNext("a", "r1.1", 1, { max: 10, ackWindowMs: 1000, room: {} })).messages.map((m) => m.id)).toEqual(["m_2"]);
    fillDisk(s);
    // One commit carries both, and fails: neither happened.
    const refused = await Promise.allSettled([
      s.enqueueIfRoom(note("m_3", "a"), {}),
      s.putFileVersionIf("big", 0, { bytes: new Uint8Array(64 * 1024), sha256: "h", author: "a", authorId: "a", createdAt: 1 }, { maxVersions: 5, maxTotalBytes: 1e9 }),
    ]);
    expect(refused.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    freeDisk(s);
    expect((await s.getAgent("a"))!.conns).toEqual(["r1.1"]);
    // m_1 and m_2 are still out on r1.1: closing it queues them again.
    await s.detachConnection("a", "r1.1");
    expect((await s.claimNext("a", null, 2, { max: 10, ackWindowMs: 1000, room: {} })).messages.map((m) => m.id)).toEqual(["m_1", "m_2"]);
    await s.close();
  });

  test("the relay key is kept in the file", async () => {
    const path = join(tempHome(), "relay.db");
    const s = new SqliteStore(path);
    const key = await s.relayKey(new Uint8Array(32).fill(7));
    expect(await s.relayKey(new Uint8Array(32).fill(9))).toEqual(key);
    await s.close();
    const again = new SqliteStore(path);
    expect(await again.relayKey(new Uint8Array(32).fill(9))).toEqual(new Uint8Array(32).fill(7));
    await again.close();
  });

  test("after a restart, what went out on a socket is queued again; what a poll took stays in flight until its lease", async () => {
    const path = join(tempHome(), "relay.db");
    const s = new SqliteStore(path);
    await s.claimName(agent("a"), 1, RULES);
    await s.attachConnection("a", "r1.1");
    await s.enqueueIfRoom(note("m_1", "a"), {});
    await s.enqueueIfRoom(note("m_2", "a"), {});
    await s.claimNext("a", "r1.1", 1, { max: 1, ackWindowMs: 1000, room: {} });
    await s.claimNext("a", null, 1, { max: 1, ackWindowMs: 1000, room: {} });
    await s.close();
    const again = new SqliteStore(path);
    expect((await again.getAgent("a"))!.conns).toEqual([]);
    expect((await again.claimNext("a", null, 2, { max: 10, ackWindowMs: 1000, room: {} })).messages.map((m) => m.id)).toEqual(["m_1"]);
    expect((await again.requeueExpired(1001, 10, {})).requeued).toBe(1);
    await again.close();
  });

  test("new messages are numbered after those kept, so they sort after them", async () => {
    const path = join(tempHome(), "relay.db");
    const s = new SqliteStore(path);
    await s.claimName(agent("a"), 1, RULES);
    for (const id of ["m_1", "m_2"]) await s.enqueueIfRoom(note(id, "a"), {});
    await s.close();
    const again = new SqliteStore(path);
    await again.enqueueIfRoom(note("m_3", "a"), {});
    expect((await again.claimNext("a", null, 1, { max: 10, ackWindowMs: 1000, room: {} })).messages.map((m) => m.id)).toEqual(["m_1", "m_2", "m_3"]);
    await again.close();
  });
});
