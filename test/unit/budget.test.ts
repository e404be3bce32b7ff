/** The byte ledger and the queue it rides on: every path a message leaves by gives its bytes back. */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import * as v from "valibot";
import { SendMessage, type Message } from "../../src/protocol/schemas";
import { sizeOf } from "../../src/relay/budget";
import { newSinkId, type Sink } from "../../src/relay/delivery";
import { Hub } from "../../src/relay/hub";
import { SqliteStore } from "../../src/relay/sqlite-store";
import type { Store } from "../../src/relay/store";
import { cleanup, tempHome } from "../_helpers";
import { PriorityQueue, type Entry } from "../../src/relay/queue";

const entry = (id: string, seq: number, priority: Entry["priority"] = "normal"): Entry => ({
  msg: { type: "broadcast", id, from: "a", to: null, created_at: "", content: "", topic: "", tags: [] },
  to: "b",
  priority,
  seq,
  size: 1,
});

afterAll(cleanup);

describe("PriorityQueue", () => {
  test("removal by id anywhere leaves order, size and lookups right", () => {
    const q = new PriorityQueue();
    for (let i = 0; i < 10; i++) q.push(entry(`m${i}`, i, i % 3 ? "normal" : "high"));
    expect(q.remove("m4")?.msg.id).toBe("m4");
    expect(q.remove("m4")).toBeUndefined();
    expect(q.get("m5")?.seq).toBe(5);
    expect(q.get("m4")).toBeUndefined();
    q.push(entry("m4", 4)); // back where its age puts it
    expect(q.size).toBe(10);
    const order: string[] = [];
    for (let e = q.shift(); e; e = q.shift()) order.push(e.msg.id);
    expect(order).toEqual(["m0", "m3", "m6", "m9", "m1", "m2", "m4", "m5", "m7", "m8"]);
    expect(q.size).toBe(0);
  });

  test("many removals are swept out, and what stays comes out in order", () => {
    const q = new PriorityQueue();
    for (let i = 0; i < 5000; i++) q.push(entry(`m${i}`, i));
    for (let i = 0; i < 5000; i++) if (i % 5) q.remove(`m${i}`);
    expect(q.size).toBe(1000);
    expect([...q.entries()].length).toBe(1000);
    const ids: number[] = [];
    for (let e = q.shift(); e; e = q.shift()) ids.push(e.seq);
    expect(ids).toEqual(Array.from({ length: 1000 }, (_, i) => i * 5));
  });
});

describe("the byte ledger", () => {
  function setup(store?: Store) {
    let now = 1_000_000;
    const hub = new Hub({ clock: () => now, ackWindowMs: 5000, store });
    const reg = (name: string, caps: string[] = []) => hub.store.getAgent(hub.register({ name, caps, description: "", machine: "" }).id)!;
    const send = (from: ReturnType<typeof reg>, msg: unknown) => hub.send(from, v.parse(SendMessage, msg));
    /** The bytes of every message queued or in flight, counted from scratch. */
    const recount = () => {
      let n = 0;
      for (const agent of hub.store.listAgents()) {
        for (const e of hub.store.queued(agent.id)) n += e.size;
        for (const f of hub.store.listInflight(agent.id)) n += f.entry.size;
      }
      return n;
    };
    return { hub, reg, send, recount, advance: (ms: number) => hub.tick((now += ms)) };
  }

  test("counts each message at its serialized size, per sender, and gives it all back whichever way messages leave", () => {
    const { hub, reg, send, recount, advance } = setup();
    const a = reg("a");
    const b = reg("b", ["x"]);
    const c = reg("c");
    const t1 = send(a, { type: "task", to: "b", task: "one", lease_s: 10 }).id;
    const t2 = send(a, { type: "task", to: "b", task: "two", ttl_s: 5 }).id;
    send(c, { type: "broadcast", content: "hello" });
    const queued = [...hub.store.queued(b.id)];
    expect(queued[0]!.size).toBe(sizeOf(queued[0]!.msg));
    expect(hub.store.ledger.total).toBe(recount());
    expect(hub.store.ledger.of(a.id)).toBe(queued.filter((e) => e.msg.from === a.id).reduce((n, e) => n + e.size, 0));

    hub.take(b, 1); // t1 in flight
    advance(11_000); // its lease runs out: queued again; t2 expires
    expect(hub.store.getTask(t2)!.state).toBe("expired");
    expect(hub.store.ledger.total).toBe(recount());
    hub.take(b, 10); // t1 again, and the broadcast
    send(b, { type: "progress", in_reply_to: t1, note: "working" }); // settles t1
    send(b, { type: "progress", in_reply_to: t1, note: "still working" }); // replaces the unread note
    expect(hub.store.ledger.total).toBe(recount());
    const before = hub.store.ledger.total;
    send(a, { type: "task", cap: "y", queue: true, task: "later" }); // held for an agent with y, in no queue yet
    expect(hub.store.ledger.total - before).toBeGreaterThan(100);
    expect(hub.store.ledger.total - recount()).toBe(hub.store.ledger.total - before);
    const d = reg("d", ["y"]); // takes it
    expect(hub.store.ledger.total).toBe(recount());
    send(b, { type: "response", in_reply_to: t1, result: "done" });
    hub.unregister(c.id); // its queue goes

    // Everything handed out and acknowledged: nothing is held.
    // Taking tasks tells their senders (a status), so the senders go last.
    for (const agent of [d, b, a]) {
      hub.take(agent, 100);
      hub.ack(agent, [...hub.store.listInflight(agent.id)].map((f) => f.entry.msg.id));
    }
    expect(recount()).toBe(0);
    expect(hub.store.ledger.total).toBe(0);
    for (const agent of [a, b, c, d]) expect(hub.store.ledger.of(agent.id)).toBe(0);
  });

  test("a socket that drops hands its messages back without counting them twice", () => {
    const { hub, reg, send, recount } = setup();
    const a = reg("a");
    const b = reg("b");
    const got: Message[] = [];
    const sink: Sink = { id: newSinkId(), agentId: b.id, push: (m) => (got.push(m), 1), close() {} };
    hub.delivery.connect(sink);
    for (let i = 0; i < 3; i++) send(a, { type: "broadcast", content: `m${i}` });
    expect(got.length).toBe(3);
    expect(hub.store.ledger.total).toBe(recount());
    hub.delivery.disconnect(sink);
    expect(hub.store.queueLength(b.id)).toBe(3);
    expect(hub.store.ledger.total).toBe(recount());
    hub.ack(b, hub.take(b, 10).map((m) => m.id));
    expect(hub.store.ledger.total).toBe(0);
  });

  test("a durable store that rolls back a failed commit counts again what it reloads", async () => {
    const store = new SqliteStore(join(tempHome(), "relay.db"));
    const { hub, reg, send, recount } = setup(store);
    const a = reg("a");
    reg("b");
    send(a, { type: "task", to: "b", task: "kept" });
    send(a, { type: "task", cap: "later", queue: true, task: "held for a capability" });
    await store.sync();
    const before = { total: hub.store.ledger.total, a: hub.store.ledger.of(a.id) };
    expect(before.total).toBeGreaterThan(recount());

    // A full disk: SQLite answers a write past max_page_count as it answers one (SQLITE_FULL).
    const db = store["db"];
    db.exec(`PRAGMA max_page_count = ${(db.query("PRAGMA page_count").get() as { page_count: number }).page_count}`);
    send(a, { type: "task", to: "b", task: "x".repeat(100_000) });
    await expect(store.sync()!).rejects.toMatchObject({ status: 507 });
    expect({ total: hub.store.ledger.total, a: hub.store.ledger.of(a.id) }).toEqual(before);
    store.close();
  });
});
