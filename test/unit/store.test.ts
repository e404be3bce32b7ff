/** One contract, two stores: what the memory store does, the SQLite store does too, and keeps across a reopen. */
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { statSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { Hub } from "../../src/relay/hub";
import { SqliteStore } from "../../src/relay/sqlite-store";
import { MemoryStore, type Store } from "../../src/relay/store";
import { SendMessage } from "../../src/protocol/schemas";
import { cleanup, tempHome } from "../_helpers";

afterAll(cleanup);

const stores: [string, () => Store][] = [
  ["memory", () => new MemoryStore()],
  ["sqlite", () => new SqliteStore(join(tempHome(), "relay.db"))],
];

for (const [kind, make] of stores) {
  describe(`${kind} store contract`, () => {
    const setup = (store = make()) => {
      let now = 5_000_000;
      const hub = new Hub({ store, clock: () => now });
      return { hub, store, advance: (ms: number) => hub.tick((now += ms)) };
    };
    const reg = (hub: Hub, name: string, caps: string[] = []) => hub.store.getAgent(hub.register({ name, caps, description: "", machine: "" }).id)!;
    const send = (hub: Hub, from: ReturnType<typeof reg>, m: unknown) => hub.send(from, v.parse(SendMessage, m));

    test("agents by id and name; rename frees the old name; delete drops the queue", () => {
      const { hub, store } = setup();
      const a = reg(hub, "a");
      expect(store.getAgentByName("a")!.id).toBe(a.id);
      store.putAgent({ ...a, name: "a2" });
      expect(store.getAgentByName("a")).toBeUndefined();
      expect(store.getAgentByName("a2")!.id).toBe(a.id);
      const b = reg(hub, "b");
      send(hub, b, { type: "task", to: a.id, task: "x" });
      expect(store.queueLength(a.id)).toBe(1);
      store.deleteAgent(a.id);
      expect(store.queueLength(a.id)).toBe(0);
      expect(store.agentCount()).toBe(1);
    });

    test("queues keep priority then age; removal and in-flight round trips", () => {
      const { hub, store } = setup();
      const a = reg(hub, "a");
      const b = reg(hub, "b");
      for (const [t, p] of [["n", "normal"], ["u", "urgent"], ["l", "low"], ["h", "high"]]) send(hub, a, { type: "task", to: "b", task: t, priority: p });
      expect(hub.take(b, 2).map((m: any) => m.task)).toEqual(["u", "h"]);
      expect([...store.listInflight(b.id)].length).toBe(2);
      expect(store.queueLength(b.id)).toBe(2);
      const [first] = [...store.listInflight(b.id)];
      expect(store.takeInflight(b.id, first!.entry.msg.id)).toBeDefined();
      expect(store.takeInflight(b.id, first!.entry.msg.id)).toBeUndefined();
    });

    test("idempotency keys find the first task", () => {
      const { hub, store } = setup();
      const a = reg(hub, "a");
      reg(hub, "b");
      const first = send(hub, a, { type: "task", to: "b", task: "x", idempotency_key: "k" });
      expect(store.getTaskByIdempotencyKey(a.id, "k")!.id).toBe(first.id);
      expect(send(hub, a, { type: "task", to: "b", task: "x", idempotency_key: "k" })).toMatchObject({ id: first.id, duplicate: true });
    });

    test("file versions come oldest first, are dropped up to a number, and a head outlives them", () => {
      const { store } = setup();
      const bytes = new TextEncoder().encode("x");
      for (const version of [2, 1, 3]) store.putFileVersion({ key: "k", version, bytes, sha256: "h", author: "a", createdAt: version });
      store.putFileHead({ key: "k", version: 3, deletedBy: null, deletedAt: null });
      expect(store.listFileVersions("k").map((f) => f.version)).toEqual([1, 2, 3]);
      store.deleteFileVersions("k", 2);
      expect(store.getFileVersion("k", 2)).toBeUndefined();
      expect(store.getFileVersion("k", 3)!.version).toBe(3);
      store.deleteFileVersions("k");
      store.putFileHead({ key: "k", version: 3, deletedBy: "a", deletedAt: 9 });
      expect(store.listFileVersions("k")).toEqual([]);
      expect([...store.listFileHeads()]).toEqual([{ key: "k", version: 3, deletedBy: "a", deletedAt: 9 }]);
    });

    if (kind === "sqlite") {
      test("the database file and its journal are readable by the owner only", async () => {
        const path = join(tempHome(), "sub", "relay.db");
        const store = new SqliteStore(path);
        const hub = new Hub({ store });
        reg(hub, "a");
        await store.sync();
        for (const f of [path, `${path}-wal`]) expect(statSync(f).mode & 0o777).toBe(0o600);
        store.close();
      });

      test("a reopened store has every agent, task, queued and in-flight message and file", async () => {
        const path = join(tempHome(), "relay.db");
        const { hub, store } = setup(new SqliteStore(path));
        const a = reg(hub, "a", ["x"]);
        const b = reg(hub, "b");
        const t1 = send(hub, a, { type: "task", to: "b", task: "one", priority: "high" });
        const t2 = send(hub, a, { type: "task", to: "b", task: "two", ttl_s: 60 });
        const polled = hub.take(b, 1);
        expect(polled[0]!.id).toBe(t1.id);
        send(hub, a, { type: "task", cap: "nobody-has-it", task: "later", queue: true });
        for (const [version, text] of [[1, "hi"], [2, "hello"], [3, "hello!"]] as const) {
          hub.store.putFileVersion({ key: "f.txt", version, bytes: new TextEncoder().encode(text), sha256: "h", author: "a", createdAt: version });
        }
        hub.store.putFileHead({ key: "f.txt", version: 3, deletedBy: null, deletedAt: null });
        hub.store.deleteFileVersions("f.txt", 1);
        hub.store.putFileLock({ key: "f.txt", holderId: a.id, holderName: "a", since: 1, until: 2 });
        hub.store.putFileLock({ key: "gone.txt", holderId: a.id, holderName: "a", since: 1, until: 2 });
        hub.store.deleteFileLock("gone.txt");
        await store.sync();
        store.close();

        const again = setup(new SqliteStore(path));
        expect(again.store.getAgentByName("a")).toMatchObject({ id: a.id, caps: ["x"] });
        expect(again.store.getTask(t2.id)).toMatchObject({ state: "queued", ttlS: 60 });
        expect([...again.store.listInflight(b.id)].map((i) => i.entry.msg.id)).toEqual([t1.id]);
        expect(again.hub.take(again.store.getAgent(b.id)!, 10).map((m) => m.id)).toEqual([t2.id]);
        expect(again.store.getFileHead("f.txt")).toMatchObject({ version: 3, deletedAt: null });
        expect(again.store.listFileVersions("f.txt").map((f) => [f.version, new TextDecoder().decode(f.bytes), f.author])).toEqual([
          [2, "hello", "a"],
          [3, "hello!", "a"],
        ]);
        expect([...again.store.listFileLocks()]).toEqual([{ key: "f.txt", holderId: a.id, holderName: "a", since: 1, until: 2 }]);
        // The task waiting for a capability is assigned when such an agent registers.
        const c = reg(again.hub, "c", ["nobody-has-it"]);
        expect(again.hub.take(c, 10).map((m: any) => m.task)).toEqual(["later"]);
        // New messages sort after restored ones.
        const t3 = send(again.hub, again.store.getAgent(a.id)!, { type: "task", to: "b", task: "three", priority: "high" });
        expect(again.hub.take(again.store.getAgent(b.id)!, 10).map((m) => m.id)).toEqual([t3.id]);
        again.store.close();
      });

      test("an agent unregistered and registered again in one turn comes back with an empty queue, also on disk", async () => {
        const path = join(tempHome(), "relay.db");
        const { hub, store } = setup(new SqliteStore(path));
        const a = reg(hub, "a");
        const b = hub.register({ name: "b", caps: [], description: "", machine: "" });
        send(hub, a, { type: "task", to: "b", task: "one" });
        send(hub, a, { type: "broadcast", content: "two" });
        await store.sync();
        hub.unregister(b.id);
        hub.register({ name: "b", caps: [], description: "", machine: "", id: b.id, secret: b.secret });
        expect(store.queueLength(b.id)).toBe(0);
        await store.sync();
        store.close();

        const again = setup(new SqliteStore(path));
        expect(again.store.queueLength(b.id)).toBe(0);
        again.store.close();
      });

      test("a commit that fails (a full disk) is undone: memory goes back to what is on disk, and the next commit works", async () => {
        const path = join(tempHome(), "relay.db");
        const store = new SqliteStore(path);
        const { hub } = setup(store);
        const events: string[] = [];
        store.subscribe({ rolledBack: (err) => events.push(`${err.status} ${err.code}`), recovered: () => events.push("recovered") });
        reg(hub, "a");
        await store.sync();
        const db = store["db"];
        // SQLite answers a write past max_page_count exactly as it answers a full disk: SQLITE_FULL.
        const cap = (pages: number) => db.exec(`PRAGMA max_page_count = ${pages}`);
        cap((db.query("PRAGMA page_count").get() as { page_count: number }).page_count);
        reg(hub, "b");
        hub.store.putFileVersion({ key: "big", version: 1, bytes: new Uint8Array(64 * 1024), sha256: "h", author: "b", createdAt: 1 });
        await expect(store.sync()!).rejects.toMatchObject({ status: 507, code: "insufficient_storage" });
        expect(store.getAgentByName("b")).toBeUndefined();
        expect(store.getFileVersion("big", 1)).toBeUndefined();
        expect(store.getAgentByName("a")).toBeDefined();
        expect(events).toEqual(["507 insufficient_storage"]);
        cap(1_000_000);
        reg(hub, "c");
        await store.sync();
        expect(events).toEqual(["507 insufficient_storage", "recovered"]);
        store.close();

        const again = setup(new SqliteStore(path));
        expect([...again.store.listAgents()].map((x) => x.name).sort()).toEqual(["a", "c"]);
        again.store.close();
      });

      test("closing with a commit already scheduled writes it once and settles the waiters", async () => {
        const path = join(tempHome(), "relay.db");
        const { hub, store } = setup(new SqliteStore(path));
        reg(hub, "a");
        const waiting = store.sync();
        store.close();
        await waiting;
        const again = setup(new SqliteStore(path));
        expect(again.store.getAgentByName("a")).toBeDefined();
        again.store.close();
      });

      test("a heartbeat is kept: an agent that sent one shortly before a restart is still online after it", async () => {
        const path = join(tempHome(), "relay.db");
        const { hub, store, advance } = setup(new SqliteStore(path));
        const a = reg(hub, "a");
        await store.sync();
        advance(100_000);
        hub.heartbeat(a);
        await store.sync();
        store.close();

        const again = setup(new SqliteStore(path));
        again.advance(150_000);
        expect(again.hub.view(again.store.getAgent(a.id)!).status).toBe("online");
        again.store.close();
      });

      test("the relay key is kept in the file: a reopened relay takes back an agent it forgot, and only with its secret", async () => {
        const path = join(tempHome(), "relay.db");
        const { hub, store } = setup(new SqliteStore(path));
        const a = hub.register({ name: "a", caps: [], description: "", machine: "" });
        hub.unregister(a.id);
        await store.sync();
        store.close();

        const again = setup(new SqliteStore(path));
        expect(() => again.hub.register({ name: "a", caps: [], description: "", machine: "", id: a.id, secret: `${a.id}.${"x".repeat(43)}` })).toThrow(
          `the relay does not know agent ${a.id} and did not issue this secret`,
        );
        expect(again.hub.register({ name: "a", caps: [], description: "", machine: "", id: a.id, secret: a.secret })).toMatchObject({ id: a.id, secret: a.secret });
        again.store.close();
      });

      test("a forgotten agent is deleted from the file; restored agents count their idle time from the start", async () => {
        const path = join(tempHome(), "relay.db");
        let now = 1_000_000;
        const hub = new Hub({ store: new SqliteStore(path), clock: () => now, staleAfterMs: 1000, forgetAfterMs: 60_000 });
        const gone = hub.register({ name: "gone", caps: [], description: "", machine: "" });
        now += 50_000;
        const kept = hub.register({ name: "kept", caps: [], description: "", machine: "" });
        hub.tick((now += 11_000));
        expect(hub.store.getAgent(gone.id)).toBeUndefined();
        await hub.store.sync();
        hub.store.close();

        now += 3_600_000;
        const again = new Hub({ store: new SqliteStore(path), clock: () => now, staleAfterMs: 1000, forgetAfterMs: 60_000 });
        expect(again.store.getAgent(gone.id)).toBeUndefined();
        again.tick((now += 1000));
        expect(again.store.getAgent(kept.id)).toBeDefined();
        again.tick((now += 60_000));
        expect(again.store.getAgent(kept.id)).toBeUndefined();
        again.store.close();
      });

      test("a delivered task keeps its ttl across a restart: queued again by its lease, it expires on time", async () => {
        const path = join(tempHome(), "relay.db");
        const { hub, store } = setup(new SqliteStore(path));
        const a = reg(hub, "a");
        const b = reg(hub, "b");
        const { id } = send(hub, a, { type: "task", to: "b", task: "t", lease_s: 10, ttl_s: 60 });
        expect(hub.take(b, 1).map((m) => m.id)).toEqual([id]);
        await store.sync();
        store.close();

        const again = setup(new SqliteStore(path));
        again.advance(11_000);
        expect(again.store.getTask(id)!.state).toBe("queued");
        again.advance(50_000);
        expect(again.store.getTask(id)!.state).toBe("expired");
        again.store.close();
      });
    }
  });
}
