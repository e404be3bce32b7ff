/** What only the Redis store does: chunked file bytes, scripts called by SHA and given again, teams apart by prefix. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RedisBus } from "../../src/relay/bus/redis";
import { agentTopic, FEED_TOPIC, type BusEvent } from "../../src/relay/bus/port";
import { announce } from "../../src/relay/core/announce";
import { iso } from "../../src/relay/clock";
import { taskMessage } from "../../src/relay/store/rules";
import { RedisStore, redactUrl, CHUNK } from "../../src/relay/store/redis/store";
import { redisMissing, startRedis, type TestRedis } from "../_redis";

const T0 = 10_000_000;
const FINAL: readonly string[] = ["completed", "failed", "canceled", "expired"];
const rules = { staleBefore: 0, maxAgents: 10, takeOver: true, allowNew: true, note: "", room: {} };
/** PUBLISH commands the server ran so far, from clients and scripts alike. */
const publishes = async (s: RedisStore) => Number(/cmdstat_publish:calls=(\d+)/.exec((await s.client.send("INFO", ["commandstats"])) as string)?.[1] ?? 0);
const agent = (id: string) => ({ id, name: id, caps: [], description: "", machine: "", secretHash: `h-${id}` });

describe.skipIf(redisMissing("test/unit/redis-store.test.ts") !== null)("redis store", () => {
  let redis: TestRedis;
  let n = 0;
  const open = (prefix = `r${++n}:`) => new RedisStore(redis.url, { prefix }).open();
  /** A store of its own with agents a and b registered at T0. */
  const agentsAandB = async () => {
    const s = await open();
    await s.claimName(agent("a"), T0, rules);
    await s.claimName(agent("b"), T0, rules);
    return s;
  };
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());

  test("a file larger than a chunk is kept in chunks, none larger than the limit, and read back whole", async () => {
    const s = await open();
    const bytes = new Uint8Array(CHUNK * 2 + 123).map((_, i) => (i * 7) & 255);
    expect(await s.putFileVersionIf("big.bin", 0, { bytes, sha256: "x", author: "a", authorId: "a", createdAt: T0 }, { maxVersions: 5, maxTotalBytes: 1e9 })).toMatchObject({ ok: true });
    const keys = (await s.client.send("KEYS", [`${s.prefix}blob:*`])) as string[];
    expect(keys.length).toBe(3);
    for (const k of keys) expect(Number(await s.client.send("STRLEN", [k]))).toBeLessThanOrEqual(CHUNK);
    // Kept for good, unlike chunks staged for a write that never happened.
    for (const k of keys) expect(Number(await s.client.send("PTTL", [k]))).toBe(-1);
    const back = (await s.getFileVersion("big.bin", 1))!;
    expect(back.bytes.byteLength).toBe(bytes.byteLength);
    expect(Buffer.from(back.bytes).equals(Buffer.from(bytes))).toBe(true);
    // A refused write leaves no chunks behind; dropped versions take theirs with them.
    expect(await s.putFileVersionIf("big.bin", 0, { bytes, sha256: "y", author: "a", authorId: "a", createdAt: T0 }, { maxVersions: 5, maxTotalBytes: 1e9 })).toMatchObject({ ok: false, refused: "version" });
    expect(((await s.client.send("KEYS", [`${s.prefix}blob:*`])) as string[]).length).toBe(3);
    await s.deleteFileIf("big.bin", "a", "a", T0);
    expect(((await s.client.send("KEYS", [`${s.prefix}blob:*`])) as string[]).length).toBe(0);
    await s.close();
  });

  test("a server that lost its scripts (SCRIPT FLUSH, a restart) is given them again", async () => {
    const s = await open();
    await s.claimName(agent("a"), T0, rules);
    await s.client.send("SCRIPT", ["FLUSH"]);
    expect(await s.touchAgent("a", T0 + 5)).toMatchObject({ id: "a", lastSeen: T0 + 5 });
    await s.close();
  });

  test("two prefixes on one server are two teams that never see each other", async () => {
    const [x, y] = await Promise.all([open("team-x:"), open("team-y:")]);
    await x.claimName(agent("a"), T0, rules);
    expect(await y.countAgents()).toBe(0);
    expect(await x.countAgents()).toBe(1);
    await Promise.all([x.close(), y.close()]);
  });

  test("the relay's key is made once and shared by every relay on the server", async () => {
    const [x, y] = await Promise.all([open("k:"), open("k:")]);
    const kx = await x.relayKey(new Uint8Array(32).fill(1));
    const ky = await y.relayKey(new Uint8Array(32).fill(2));
    expect([...ky]).toEqual([...kx]);
    expect(kx[0]).toBe(1);
    await Promise.all([x.close(), y.close()]);
  });

  test("a relay whose heartbeat ran out is claimed once: its connections go, and what went out on them is queued again", async () => {
    const [x, y] = await Promise.all([open("gone:"), open("gone:")]);
    await x.claimName(agent("a"), T0, rules);
    await x.claimName(agent("b"), T0, rules);
    await x.attachConnection("b", "r_dead.1");
    await x.attachConnection("b", "r_live.1");
    await x.attachConnection("a", "r_dead.2", T0 - 5000);
    await x.enqueueIfRoom({ to: "b", priority: "normal", msg: { type: "broadcast", id: "m_1", from: "a", to: null, created_at: "t", content: "hi", topic: "", tags: [] } }, {});
    expect((await x.claimNext("b", "r_dead.1", T0, { max: 10, ackWindowMs: 60_000, room: {} })).messages).toHaveLength(1);
    await x.client.send("ZADD", ["gone:relays", String(T0 - 1), "r_dead", String(T0 + 60_000), "r_live"]);
    expect(await x.deadRelays(T0)).toEqual(["r_dead"]);
    const [one, two] = await Promise.all([x.forgetRelay("r_dead", T0), y.forgetRelay("r_dead", T0)]);
    expect([one.forgot, two.forgot].sort()).toEqual([false, true]);
    expect([...one.effects.queued, ...two.effects.queued]).toEqual(["b"]);
    expect((await x.getAgent("b"))!.conns).toEqual(["r_live.1"]);
    // An agent whose only socket was on the dead relay is offline from now: a holder's grace runs.
    expect(await x.getAgent("a")).toMatchObject({ conns: [], connectedAt: null, disconnectedAt: T0 });
    expect(await x.countWaiting("b")).toBe(1);
    // A relay still heartbeating is never claimed.
    expect((await x.forgetRelay("r_live", T0)).forgot).toBe(false);
    await Promise.all([x.close(), y.close()]);
  });

  test("a relay taken for gone gives back the connections it counted, so no agent is locked out by a dead relay", async () => {
    const [x, y] = await Promise.all([open("held:"), open("held:")]);
    for (const conn of ["r_dead.h1", "r_dead.h2", "r_dead.h3", "r_live.h1"]) expect(await x.holdConnection("a", conn, 4)).toMatchObject({ ok: true });
    expect(await y.holdConnection("b", "r_dead.h4", 4)).toEqual({ ok: true, count: 1 });
    expect(await y.holdConnection("a", "r_live.h2", 4)).toEqual({ ok: false, count: 4 });
    await x.client.send("ZADD", ["held:relays", String(T0 - 1), "r_dead", String(T0 + 60_000), "r_live"]);
    expect((await y.forgetRelay("r_dead", T0)).forgot).toBe(true);
    expect(await y.holdConnection("a", "r_live.h2", 4)).toEqual({ ok: true, count: 2 });
    expect(await y.holdConnection("b", "r_live.h3", 1)).toEqual({ ok: true, count: 1 });
    // Nothing of the dead relay's is left; what the live one holds goes with its releases.
    expect(await x.client.send("EXISTS", ["held:hcr:r_dead"])).toBe(0);
    for (const [who, conn] of [["a", "r_live.h1"], ["a", "r_live.h2"], ["b", "r_live.h3"]] as const) await x.releaseConnection(who, conn);
    expect(((await x.client.send("KEYS", ["held:hc*"])) as string[]).sort()).toEqual([]);
    await Promise.all([x.close(), y.close()]);
  });

  test("a limit's window is a key that expires with it", async () => {
    const s = await open("win:");
    await s.hit("reg:10.0.0.1", 60_000, 3, Date.now());
    const pttl = Number(await s.client.send("PTTL", ["win:hit:reg:10.0.0.1"]));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(60_000);
    await s.close();
  });

  test("two relays sweeping at once expire each task and lease once", async () => {
    const [x, y] = await Promise.all([open("sweep:"), open("sweep:")]);
    await x.claimName(agent("a"), T0, rules);
    await x.claimName(agent("b"), T0, rules);
    const task = (id: string) => ({ id, from: "a", to: "b", cap: null, task: "t", context: {}, priority: "normal" as const, leaseS: 30, ttlS: 5, createdAt: T0, idempotencyKey: null });
    for (let i = 0; i < 20; i++) await x.createTask(task(`t_${i}`), {});
    for (let i = 0; i < 5; i++) await x.takeLease(`k${i}`, "a", "a", T0, T0 + 10);
    const later = T0 + 10_000;
    const [ex, ey] = await Promise.all([x.expireTasks(later, 100, {}), y.expireTasks(later, 100, {})]);
    expect(ex.tasks.length + ey.tasks.length).toBe(20);
    expect(new Set([...ex.tasks, ...ey.tasks].map((t) => t.id)).size).toBe(20);
    const [lx, ly] = await Promise.all([x.expireLeases(later), y.expireLeases(later)]);
    expect(lx.length + ly.length).toBe(5);
    await Promise.all([x.close(), y.close()]);
  });

  test("a task is in the ttl index only while queued: handed out the expiry sweep never reads it, queued again it expires", async () => {
    const s = await open("ttl:");
    await s.claimName(agent("a"), T0, rules);
    await s.claimName(agent("b"), T0, rules);
    const ttl = async () => (await s.client.send("ZRANGE", [`${s.prefix}ttl`, "0", "-1"])) as string[];
    const task = (id: string) => ({ id, from: "a", to: "b", cap: null, task: "t", context: {}, priority: "normal" as const, leaseS: 30, ttlS: 5, createdAt: T0, idempotencyKey: null });
    await s.createTask(task("t_1"), {});
    await s.createTask(task("t_2"), {});
    expect(await ttl()).toEqual(["t_1", "t_2"]);
    // Taken by a poll, so its lease is all that holds it.
    expect((await s.claimNext("b", null, T0, { max: 1, ackWindowMs: 60_000, room: {} })).messages.map((m) => m.id)).toEqual(["t_1"]);
    expect(await ttl()).toEqual(["t_2"]);
    // Past its ttl, the one handed out is not the sweep's; the one still queued expires.
    expect((await s.expireTasks(T0 + 6_000, 100, {})).tasks.map((t) => t.id)).toEqual(["t_2"]);
    // Its lease ran out before an ack: it is queued again, its ttl long past, and the next sweep expires it.
    expect((await s.requeueExpired(T0 + 31_000, 100, {})).requeued).toBe(1);
    expect((await s.getTask("t_1"))?.state).toBe("queued");
    expect(await ttl()).toEqual(["t_1"]);
    expect(Number(await s.client.send("ZSCORE", [`${s.prefix}ttl`, "t_1"]))).toBe(T0 + 5000);
    expect((await s.expireTasks(T0 + 32_000, 100, {})).tasks.map((t) => [t.id, t.state])).toEqual([["t_1", "expired"]]);
    expect(await ttl()).toEqual([]);
    await s.close();
  });

  test("two relays sweeping at once take back each lost holder's task and drop each unread message once", async () => {
    const [x, y] = await Promise.all([open("sweep2:"), open("sweep2:")]);
    await x.claimName(agent("a"), T0, rules);
    await x.claimName(agent("b"), T0, rules);
    const task = (id: string) => ({ id, from: "a", to: "b", cap: null, task: "t", context: {}, priority: "normal" as const, leaseS: 30, ttlS: null, createdAt: T0, idempotencyKey: null });
    for (let i = 0; i < 10; i++) await x.createTask(task(`t_${i}`), {});
    await x.attachConnection("b", "r1.1", T0);
    await x.claimNext("b", "r1.1", T0, { max: 100, ackWindowMs: 60_000, room: {} });
    await x.detachConnection("b", "r1.1", T0);
    // The detach queued them again; taking them over HTTP puts them out with b again, its socket closed.
    await x.claimNext("b", null, T0, { max: 100, ackWindowMs: 60_000, room: {} });
    const live = { graceMs: 15_000, reachableMs: 30_000, room: {} };
    const [rx, ry] = await Promise.all([x.reclaimTasks(T0 + 20_000, 100, live), y.reclaimTasks(T0 + 20_000, 100, live)]);
    expect(new Set([...rx.tasks, ...ry.tasks].map((r) => r.task.id)).size).toBe(10);
    expect(rx.tasks.length + ry.tasks.length).toBe(10);
    for (let i = 0; i < 10; i++) {
      await x.enqueueIfRoom({ to: "a", priority: "normal", msg: { type: "broadcast", id: `m_${i}`, from: "b", to: null, created_at: new Date(T0).toISOString(), content: "hi", topic: "", tags: [] } }, {});
    }
    const [ux, uy] = await Promise.all([x.expireUnread(T0 + 1, 100, T0 + 20_000, "unread", {}), y.expireUnread(T0 + 1, 100, T0 + 20_000, "unread", {})]);
    // The ten tasks queued again for b (sent before T0 + 1) expire with the broadcasts, each once.
    expect(ux.dropped + uy.dropped).toBe(20);
    expect(ux.tasks.length + uy.tasks.length).toBe(10);
    // What waits for a now is each task's latest status (expired), the broadcasts gone.
    const left = (await x.claimNext("a", null, T0 + 20_000, { max: 100, ackWindowMs: 60_000, room: {} })).messages;
    expect(left.map((m) => (m.type === "status" ? m.state : m.type))).toEqual(Array(10).fill("expired"));
    await Promise.all([x.close(), y.close()]);
  });

  test("a script tells the other relays what it changed itself, on the agent's topic, and the relay that ran it hears it once", async () => {
    const s = await open("tell:");
    const [here, there, nobody] = await Promise.all([1, 2, 3].map(() => new RedisBus(redis.url, "tell:").open()));
    s.publishAs(here!.origin);
    const heard: { here: BusEvent[]; there: BusEvent[]; nobody: BusEvent[] } = { here: [], there: [], nobody: [] };
    here!.subscribe((e) => heard.here.push(e));
    nobody!.subscribe((e) => heard.nobody.push(e));
    const arrived = new Promise<void>((done) => there!.subscribe((e) => (heard.there.push(e), done())));
    await there!.follow(agentTopic("b"));
    await s.claimName(agent("a"), T0, rules);
    await s.claimName(agent("b"), T0, rules);
    const before = await publishes(s);
    const r = await s.createTask({ id: "t_1", from: "a", to: "b", cap: null, task: "say hi", context: {}, priority: "high", leaseS: 30, ttlS: null, createdAt: T0, idempotencyKey: null }, {});
    if (!r.ok) throw new Error(r.refused);
    expect(r.effects.sent).toBe(true);
    announce(here!, r.effects);
    await arrived;
    // Two PUBLISHes, both by the script: on b's topic, and on the feed; the relay sent none of its own.
    expect((await publishes(s)) - before).toBe(2);
    const expected = [{ type: "queued" as const, agent: "b", priority: "high" as const, message: expect.objectContaining({ type: "task", id: "t_1", task: "say hi" }) }];
    expect(heard.there).toEqual(expected);
    await Bun.sleep(50);
    expect(heard.here).toEqual(expected);
    // A relay that follows neither b nor the feed is not woken.
    expect(heard.nobody).toEqual([]);
    await Promise.all([s.close(), here!.close(), there!.close(), nobody!.close()]);
  });

  test("the feed carries every topic's events to whoever listens to everything, while it is followed, and to nobody else", async () => {
    const s = await open("feed:");
    const [here, dash] = await Promise.all([1, 2].map(() => new RedisBus(redis.url, "feed:").open()));
    s.publishAs(here!.origin);
    const all: BusEvent[] = [];
    const followed: BusEvent[] = [];
    dash!.subscribe((e) => all.push(e), true);
    dash!.subscribe((e) => followed.push(e));
    await s.claimName(agent("a"), T0, rules);
    await s.claimName(agent("b"), T0, rules);
    const send = async (id: string) => {
      const r = await s.createTask({ id, from: "a", to: "b", cap: null, task: "say hi", context: {}, priority: "normal", leaseS: 30, ttlS: null, createdAt: T0, idempotencyKey: null }, {});
      if (!r.ok) throw new Error(r.refused);
    };
    const unfollow = await dash!.follow(FEED_TOPIC);
    // Followed too: heard once by each kind of listener, never twice.
    await dash!.follow(agentTopic("b"));
    await send("t_1");
    for (let i = 0; i < 100 && (all.length < 1 || followed.length < 1); i++) await Bun.sleep(10);
    unfollow();
    await Bun.sleep(50);
    expect(all.map((e) => e.type === "queued" && e.message?.id)).toEqual(["t_1"]);
    expect(followed.map((e) => e.type === "queued" && e.message?.id)).toEqual(["t_1"]);
    await Promise.all([s.close(), here!.close(), dash!.close()]);
  });

  test("a task whose text holds a lone surrogate, which no script could read back, is refused and leaves nothing behind", async () => {
    const s = await agentsAandB();
    const t = { id: "t_1", from: "a", to: "b", cap: null, task: "x\ud800y", context: {}, priority: "normal" as const, leaseS: 30, ttlS: null, createdAt: T0, idempotencyKey: null };
    await expect(s.createTask(t, {})).rejects.toThrow("lone UTF-16 surrogate");
    await expect(s.createTask({ ...t, task: "x", idempotencyKey: "\udc00" }, {})).rejects.toThrow("lone UTF-16 surrogate");
    expect(await s.getTask("t_1")).toBeUndefined();
    expect((await s.claimNext("b", null, T0, { max: 10, ackWindowMs: 1000, room: {} })).messages).toEqual([]);
    await s.close();
  });

  describe("a message queued alone goes out at once on a connection that takes everything", () => {
    const ACK = { max: 100, ackWindowMs: 60_000, room: {} };
    const broadcast = (id: string) => ({ to: "a", priority: "normal" as const, msg: { type: "broadcast" as const, id, from: "b", to: null, created_at: "t", content: "hi", topic: "", tags: [] } });
    const reply = (id: string) => ({ type: "response" as const, id, from: "b", to: "", created_at: "t", in_reply_to: "t_1", status: "completed" as const, result: "done" });
    /** a sent t_1 to b; b's socket `rb.1` took it, which told a it was delivered. */
    async function sent(s: RedisStore, aConn: { conn: string; eagerMs?: number }) {
      await s.claimName(agent("a"), T0, rules);
      await s.claimName(agent("b"), T0, rules);
      await s.attachConnection("a", aConn.conn, T0, aConn.eagerMs);
      // b's socket takes only tasks: it claims them.
      await s.attachConnection("b", "rb.1", T0);
      const r = await s.createTask(newTask, {});
      if (!r.ok) throw new Error(r.refused);
      expect(r.effects.messages.map((m) => m.conn)).toEqual([undefined]);
      return s.claimNext("b", "rb.1", T0, ACK);
    }
    const newTask = { id: "t_1", from: "a", to: "b", cap: null, task: "say hi", context: {}, priority: "normal" as const, leaseS: 30, ttlS: null, createdAt: T0, idempotencyKey: null };
    const answer = (s: RedisStore, at: number) => s.transitionTask("t_1", ["delivered"], { state: "completed", note: "", at, holder: "b", room: {}, withdraw: true, reply: reply(`m_r${at}`) });

    test("in flight on it as it is queued, in order, claimed by nobody, and queued again when that socket closes", async () => {
      const s = await open();
      const took = await sent(s, { conn: "ra.1", eagerMs: 60_000 });
      expect(took.messages.map((m) => m.id)).toEqual(["t_1"]);
      expect(took.effects.messages.map((m) => [m.msg.type, m.conn])).toEqual([["status", "ra.1"]]);
      const r = await answer(s, T0 + 1);
      if (!r.ok) throw new Error(r.refused);
      expect(r.effects.messages.map((m) => [m.msg.type, m.conn])).toEqual([["response", "ra.1"], ["status", "ra.1"]]);
      expect((await s.claimNext("a", "ra.1", T0 + 2, ACK)).messages).toEqual([]);
      await s.detachConnection("a", "ra.1", T0 + 3);
      const back = await s.claimNext("a", null, T0 + 4, ACK);
      // Statuses about one task coalesce as they come back, as any claimed ones do.
      expect(back.messages.map((m) => m.type).sort()).toEqual(["response", "status"]);
      // Gone with its socket, and forgotten with its agent.
      expect(await s.client.send("HGET", [`${s.prefix}ea`, "a"])).toBeNull();
      await s.attachConnection("a", "ra.2", T0 + 5, 60_000);
      expect(await s.client.send("HGET", [`${s.prefix}ea`, "a"])).toBe("ra.2 60000");
      await s.unregisterAgent("a", T0 + 6, "gone", {});
      expect(await s.client.send("HGET", [`${s.prefix}ea`, "a"])).toBeNull();
      await s.close();
    });

    test("a task sent to it is handed out as it is made (attempt 1, its lease), and handed out again once that socket closes", async () => {
      const s = await agentsAandB();
      await s.attachConnection("a", "ra.1", T0, 60_000);
      await s.attachConnection("b", "rb.1", T0, 60_000);
      const r = await s.createTask(newTask, {});
      if (!r.ok) throw new Error(r.refused);
      expect(r.effects.messages.map((m) => [m.to, m.conn, m.msg.type === "task" ? m.msg.attempt : m.msg.type === "status" ? m.msg.state : ""])).toEqual([["b", "rb.1", 1], ["a", "ra.1", "delivered"]]);
      expect((await s.getTask("t_1"))).toMatchObject({ state: "delivered", attempts: 1 });
      // Written once, as handed out: counted as delivered, held, in flight; never queued, pinned or waiting by name.
      const k = (...parts: string[]) => s.prefix + parts.join(":");
      expect(await s.countTasks()).toMatchObject({ queued: 0, delivered: 1 });
      expect(await s.countHeld(["b"])).toEqual([1]);
      expect([await s.countWaiting("b"), await s.countInFlight("b")]).toEqual([0, 1]);
      expect(await s.client.send("SMEMBERS", [k("hd", "b")])).toEqual(["t_1"]);
      expect(await s.client.send("EXISTS", [k("hw", "b"), k("pins")])).toBe(0);
      // The relay's notice to a counts toward the relay-wide bytes, and toward no sender's budget.
      expect(await s.client.send("HKEYS", [k("sbytes")])).toEqual(["a"]);
      expect((await s.claimNext("b", "rb.1", T0 + 1, ACK)).messages).toEqual([]);
      await s.detachConnection("b", "rb.1", T0 + 2);
      const again = await s.claimNext("b", null, T0 + 3, ACK);
      expect(again.messages).toEqual([expect.objectContaining({ type: "task", id: "t_1", attempt: 2, redelivered: true })]);
      await s.close();
    });

    test("handed out as it is made, sent by name or by id: the record kept is the one answered, its message goes to the id, and its sender hears it was delivered", async () => {
      const s = await open();
      const [alice, bob] = ["a_000000000001", "a_000000000002"];
      await s.claimName({ ...agent(alice), name: "alice" }, T0, rules);
      await s.claimName({ ...agent(bob), name: "bob" }, T0, rules);
      await s.attachConnection(alice, "ra.1", T0, 60_000);
      await s.attachConnection(bob, "rb.1", T0, 60_000);
      for (const [id, to] of [["t_1", "bob"], ["t_2", bob]] as const) {
        const r = await s.createTask({ ...newTask, id, from: alice, to, ttlS: 60 }, {});
        if (!r.ok) throw new Error(r.refused);
        const history = [{ state: "queued", at: T0, note: "for bob" }, { state: "delivered", at: T0, note: "attempt 1" }];
        expect(r.task).toMatchObject({ to: bob, state: "delivered", attempts: 1, handedTo: bob, updatedAt: T0, history });
        expect(r.task).toEqual((await s.getTask(id))!);
        const status = { type: "status", id: expect.any(String), from: "relay", to: alice, created_at: iso(T0), task_id: id, state: "delivered", note: "attempt 1" };
        expect(r.effects.messages.map((m): unknown[] => [m.to, m.conn, m.msg])).toEqual([[bob, "rb.1", { ...taskMessage(r.task), attempt: 1 }], [alice, "ra.1", status]]);
      }
      expect([await s.countWaiting(bob), await s.countInFlight(bob)]).toEqual([0, 2]);
      // Handed out, a ttl no longer runs.
      expect(await s.client.send("ZCARD", [`${s.prefix}ttl`])).toBe(0);
      await s.close();
    });

    test("so do a reply, a batch of replies and a broadcast, each in flight from when it was sent", async () => {
      const s = await agentsAandB();
      await s.attachConnection("a", "ra.1", T0, 1000);
      const at = new Date(T0).toISOString();
      const one = await s.enqueueIfRoom({ to: "a", priority: "normal", msg: { ...reply("m_1"), to: "a", created_at: at } }, {});
      if (!one.ok) throw new Error(one.refused);
      expect(one.effects.messages.map((m) => [m.msg.id, m.conn])).toEqual([["m_1", "ra.1"]]);
      expect((await s.claimNext("a", "ra.1", T0 + 1, ACK)).messages).toEqual([]);
      expect(await s.ack("a", ["m_1"])).toBe(1);
      const many = await s.enqueueMany([{ to: "a", priority: "normal", msg: { ...reply("m_2"), to: "a", created_at: at } }], {});
      expect(many.effects.messages.map((m) => [m.msg.id, m.conn])).toEqual([["m_2", "ra.1"]]);
      expect(await s.ack("a", ["m_2"])).toBe(1);
      const all = await s.broadcast({ ...broadcast("m_3").msg, created_at: at }, "b", {});
      expect(all.effects.messages.map((m) => [m.to, m.msg.id, m.conn])).toEqual([["a", "m_3", "ra.1"]]);
      // Its lease is the socket's ack window from when it was sent.
      expect((await s.requeueExpired(T0 + 999, 100, {})).requeued).toBe(0);
      expect((await s.requeueExpired(T0 + 1001, 100, {})).requeued).toBe(1);
      expect((await s.claimNext("a", null, T0 + 1002, ACK)).messages.map((m) => m.id)).toEqual(["m_3"]);
      await s.close();
    });

    test("only that very connection takes it: one whose id merely begins the same way does not", async () => {
      const s = await agentsAandB();
      await s.attachConnection("a", "ra.10", T0);
      // The agent's record is read as stored: `ra.1` must match a whole id in its connections, not part of one.
      await s.client.send("HSET", [`${s.prefix}ea`, "a", "ra.1 60000"]);
      const one = await s.enqueueIfRoom({ to: "a", priority: "normal", msg: { ...reply("m_1"), to: "a", created_at: new Date(T0).toISOString() } }, {});
      if (!one.ok) throw new Error(one.refused);
      expect(one.effects.messages.map((m) => [m.msg.id, m.conn])).toEqual([["m_1", undefined]]);
      expect((await s.claimNext("a", "ra.10", T0 + 1, ACK)).messages.map((m) => m.id)).toEqual(["m_1"]);
      await s.close();
    });

    test("every path out of a task handed out as it is made leaves no count, budget or index behind", async () => {
      const k = (s: RedisStore, ...parts: string[]) => s.prefix + parts.join(":");
      /** What is left once everything was read: bytes, budgets, pins, held tasks, queues, flights, indexes. */
      const left = async (s: RedisStore) => {
        const sizes: Record<string, unknown> = { bytes: Number((await s.client.send("GET", [k(s, "bytes")])) ?? 0), flying: await s.client.send("ZCARD", [k(s, "flying")]) };
        for (const h of ["sbytes", "rb", "pins", "held", "hl", "ea"]) sizes[h] = await s.client.send("HLEN", [k(s, h)]);
        for (const z of ["unassigned", "ttl"]) sizes[z] = await s.client.send("ZCARD", [k(s, z)]);
        const keys = ((await s.client.send("KEYS", [`${s.prefix}*`])) as string[]).map((x) => x.slice(s.prefix.length).split(":")[0]!).filter((x) => ["q", "m", "fl", "ab", "hw", "hd"].includes(x));
        return { ...sizes, keys };
      };
      const none = { bytes: 0, flying: 0, sbytes: 0, rb: 0, pins: 0, held: 0, hl: 0, ea: 0, unassigned: 0, ttl: 0, keys: [] };
      /** Each agent reads and acknowledges all it has, queued or in flight. */
      const readAll = async (s: RedisStore, at: number) => {
        for (const who of ["a", "b"]) {
          await s.claimNext(who, null, at, ACK);
          await s.ack(who, (await s.client.send("SMEMBERS", [k(s, "fl", who)])) as string[]);
        }
      };
      const paths: Record<string, (s: RedisStore) => Promise<unknown>> = {
        answered: (s) => answer(s, T0 + 1),
        "called off by its sender": (s) => s.transitionTask("t_1", ["queued", "delivered", "working"], { state: "canceled", note: "", at: T0 + 1, room: {}, withdraw: true }),
        // Not handed out (b's socket takes only what it claims), so its ttl runs out.
        "past its ttl, never handed out": (s) => s.expireTasks(T0 + 6_000, 100, {}),
        "its socket gone, then answered": async (s) => {
          await s.detachConnection("b", "rb.1", T0 + 1);
          await s.claimNext("b", null, T0 + 2, ACK);
          return answer(s, T0 + 3);
        },
        // Its lease runs out while the socket is still listed (renewed), then b's relay dies and is taken for gone.
        "its relay gone, then answered": async (s) => {
          expect((await s.requeueExpired(T0 + 31_000, 100, {})).requeued).toBe(0);
          await s.client.send("ZADD", [k(s, "relays"), String(T0 - 1), "rb"]);
          expect((await s.forgetRelay("rb", T0 + 31_001)).forgot).toBe(true);
          expect([await s.countWaiting("b"), await s.countInFlight("b")]).toEqual([1, 0]);
          await s.claimNext("b", null, T0 + 31_002, ACK);
          return answer(s, T0 + 31_003);
        },
      };
      for (const [path, end] of Object.entries(paths)) {
        const s = await agentsAandB();
        await s.attachConnection("a", "ra.1", T0, 60_000);
        const eager = !path.startsWith("past its ttl");
        await s.attachConnection("b", "rb.1", T0, eager ? 60_000 : undefined);
        const r = await s.createTask({ ...newTask, ttlS: 5 }, {});
        if (!r.ok) throw new Error(r.refused);
        expect(r.effects.messages.map((m) => m.conn)).toEqual(eager ? ["rb.1", "ra.1"] : [undefined]);
        await end(s);
        await readAll(s, T0 + 40_000);
        await s.detachConnection("a", "ra.1", T0 + 40_001);
        await s.detachConnection("b", "rb.1", T0 + 40_001);
        const t = await s.getTask("t_1");
        expect([path, FINAL.includes(t!.state)]).toEqual([path, true]);
        expect([path, await left(s)]).toEqual([path, none]);
        const states = await s.countTasks();
        expect([path, Object.values(states).reduce((x, y) => x + y, 0)]).toEqual([path, 1]);
        await s.pruneTasks(T0 + 50_000, 0, 0);
        expect([path, Number((await s.client.send("GET", [k(s, "finbytes")])) ?? 0), Object.values(await s.countTasks()).reduce((x, y) => x + y, 0)]).toEqual([path, 0, 0]);
        await s.close();
      }
    });

    test("a name or connection spelled inside another field's text is never taken for the agent's own", async () => {
      const s = await open();
      const decoys = ['x","name":"evil","conns":["rb.9"],"d":"', '"conns":["rb.9"]', '\\', 'é\u2028 name":"evil'];
      await s.claimName(agent("a"), T0, rules);
      await s.claimName({ ...agent("b"), caps: decoys, description: decoys[0]!, machine: decoys[3]! }, T0, rules);
      await s.attachConnection("b", "rb.1", T0, 60_000);
      // The socket said to take everything is one b no longer has, though its text is in b's record.
      await s.client.send("HSET", [`${s.prefix}ea`, "b", "rb.9 60000"]);
      const r = await s.createTask(newTask, {});
      if (!r.ok) throw new Error(r.refused);
      expect(r.effects.messages.map((m) => m.conn)).toEqual([undefined]);
      expect((await s.getTask("t_1"))!.history[0]!.note).toBe("for b");
      expect((await s.claimNext("b", "rb.9", T0 + 1, ACK)).messages).toEqual([]);
      expect((await s.claimNext("b", "rb.1", T0 + 1, ACK)).messages.map((m) => m.id)).toEqual(["t_1"]);
      expect((await s.getAgent("b"))!.caps).toEqual(decoys);
      await s.close();
    });

    test("one in flight on it whose lease ran out is queued again", async () => {
      const s = await open();
      await sent(s, { conn: "ra.1", eagerMs: 1000 });
      expect((await s.requeueExpired(T0 + 999, 100, {})).requeued).toBe(0);
      expect((await s.requeueExpired(T0 + 1001, 100, {})).requeued).toBe(1);
      expect((await s.claimNext("a", "ra.1", T0 + 1002, ACK)).messages.map((m) => m.type)).toEqual(["status"]);
      await s.close();
    });

    test("not on a connection that takes only some messages, nor past others waiting (their order holds)", async () => {
      const filtered = await open();
      const took = await sent(filtered, { conn: "ra.1" });
      expect(took.effects.messages.map((m) => m.conn)).toEqual([undefined]);
      expect((await filtered.claimNext("a", "ra.1", T0, ACK)).messages.map((m) => m.type)).toEqual(["status"]);
      await filtered.close();
      const behind = await open();
      await behind.claimName(agent("a"), T0, rules);
      await behind.enqueueIfRoom(broadcast("m_1"), {});
      await sent(behind, { conn: "ra.1", eagerMs: 60_000 }).then((r) => expect(r.effects.messages.map((m) => m.conn)).toEqual([undefined]));
      const r = await answer(behind, T0 + 1);
      if (!r.ok) throw new Error(r.refused);
      expect(r.effects.messages.map((m) => m.conn)).toEqual([undefined, undefined]);
      expect((await behind.claimNext("a", "ra.1", T0 + 2, ACK)).messages.map((m) => (m.type === "status" ? `status:${m.state}` : m.type))).toEqual(["broadcast", "response", "status:completed"]);
      await behind.close();
    });
  });

  test("a store not told a bus origin publishes nothing itself", async () => {
    const s = await open();
    await s.claimName(agent("a"), T0, rules);
    const before = await publishes(s);
    const r = await s.enqueueIfRoom({ to: "a", priority: "normal", msg: { type: "broadcast", id: "m_1", from: "a", to: null, created_at: "t", content: "hi", topic: "", tags: [] } }, {});
    expect(r.ok && r.effects.sent).toBeFalsy();
    expect((await publishes(s)) - before).toBe(0);
    await s.close();
  });

  test("the operator sees the server's address without its password", () => {
    expect(redactUrl("redis://user:secret@host:6379/2")).toBe("redis://user:***@host:6379/2");
    expect(redactUrl("rediss://:secret@host:6380")).toBe("rediss://:***@host:6380");
    expect(redactUrl("redis://127.0.0.1:6379")).toBe("redis://127.0.0.1:6379");
  });

  test("a server that cannot be reached fails the store's start with the error, not a hang", async () => {
    const s = new RedisStore("redis://127.0.0.1:1", { prefix: "none:" });
    expect(s.open()).rejects.toThrow();
    await s.close();
  });
});
