/** What only the durable store promises: a write resolves once on disk, a failed commit is retried, sockets' messages come back. */
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { statSync } from "node:fs";
import { join } from "node:path";
import { SqliteStore } from "../../src/relay/store/sqlite";
import { cleanup, tempHome } from "../_helpers";

afterAll(cleanup);

const agent = (id: string) => ({ id, name: id, caps: [], description: "", machine: "", secretHash: `hash-${id}` });
const RULES = { staleBefore: 0, maxAgents: 100, takeOver: true, note: "" };
const note = (id: string, to: string) => ({ to, priority: "normal" as const, msg: { type: "broadcast" as const, id, from: "a", to: null, created_at: "t", content: id, topic: "", tags: [] } });
const rows = (path: string, sql: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return db.query(sql).all();
  } finally {
    db.close();
  }
};

describe("sqlite store", () => {
  test("a write resolves only once its rows are committed; a read never waits", async () => {
    const path = join(tempHome(), "relay.db");
    const s = new SqliteStore(path);
    const claimed = s.claimName(agent("a"), 1, RULES);
    expect(rows(path, "SELECT id FROM agents")).toEqual([]);
    await claimed;
    expect(rows(path, "SELECT id FROM agents")).toEqual([{ id: "a" }]);
    await s.enqueueIfRoom(note("m_1", "a"), {});
    expect(rows(path, "SELECT agent, inflight FROM messages")).toEqual([{ agent: "a", inflight: 0 }]);
    await s.claimNext("a", null, 1, { max: 1, ackWindowMs: 1000 });
    expect(rows(path, "SELECT inflight, until FROM messages")).toEqual([{ inflight: 1, until: 1001 }]);
    await s.ack("a", ["m_1"]);
    expect(rows(path, "SELECT * FROM messages")).toEqual([]);
    await s.close();
  });

  test("the database file and its journal are readable by the owner only", async () => {
    const path = join(tempHome(), "sub", "relay.db");
    const s = new SqliteStore(path);
    await s.claimName(agent("a"), 1, RULES);
    for (const f of [path, `${path}-wal`]) expect(statSync(f).mode & 0o777).toBe(0o600);
    await s.close();
  });

  test("a commit that fails rejects what waited for it, and its rows go with the next commit", async () => {
    const path = join(tempHome(), "relay.db");
    const s = new SqliteStore(path);
    await s.claimName(agent("a"), 1, RULES);
    const db = (s as unknown as { db: Database }).db;
    db.exec("PRAGMA query_only = ON"); // stands in for a full disk
    await expect(s.claimName(agent("b"), 1, RULES)).rejects.toThrow();
    db.exec("PRAGMA query_only = OFF");
    await s.claimName(agent("c"), 1, RULES);
    await s.close();
    const again = new SqliteStore(path);
    expect((await again.listAgents()).map((x) => x.id).sort()).toEqual(["a", "b", "c"]);
    await again.close();
  });

  test("after a restart, what went out on a socket is queued again; what a poll took stays in flight until its lease", async () => {
    const path = join(tempHome(), "relay.db");
    const s = new SqliteStore(path);
    await s.claimName(agent("a"), 1, RULES);
    await s.attachConnection("a", "r1.1");
    await s.enqueueIfRoom(note("m_1", "a"), {});
    await s.enqueueIfRoom(note("m_2", "a"), {});
    await s.claimNext("a", "r1.1", 1, { max: 1, ackWindowMs: 1000 });
    await s.claimNext("a", null, 1, { max: 1, ackWindowMs: 1000 });
    await s.close();
    const again = new SqliteStore(path);
    expect((await again.getAgent("a"))!.conns).toEqual([]);
    expect((await again.claimNext("a", null, 2, { max: 10, ackWindowMs: 1000 })).messages.map((m) => m.id)).toEqual(["m_1"]);
    expect((await again.requeueExpired(1001, 10)).requeued).toBe(1);
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
    expect((await again.claimNext("a", null, 1, { max: 10, ackWindowMs: 1000 })).messages.map((m) => m.id)).toEqual(["m_1", "m_2", "m_3"]);
    await again.close();
  });
});
