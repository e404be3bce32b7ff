/** How the Redis store makes and keeps tasks: tasks sent in one turn made by one script call, and the sets of what each agent holds. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RedisBus } from "../../src/relay/bus/redis";
import { agentTopic, type BusEvent } from "../../src/relay/bus/port";
import { iso } from "../../src/relay/clock";
import { RedisStore } from "../../src/relay/store/redis/store";
import { redisMissing, startRedis, type TestRedis } from "../_redis";

const T0 = 10_000_000;
const rules = { staleBefore: 0, maxAgents: 10, takeOver: true, allowNew: true, note: "", room: {} };
const agent = (id: string) => ({ id, name: id, caps: [], description: "", machine: "", secretHash: `h-${id}` });
const task = (id: string, to: string, idempotencyKey: string | null = null) => ({ id, from: "a", to, cap: null, task: "say hi", context: { n: id }, priority: "normal" as const, leaseS: 30, ttlS: null, createdAt: T0, idempotencyKey });
/** How many times the server ran `command` so far (INFO commandstats). */
const calls = async (s: RedisStore, command: string) => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec((await s.client.send("INFO", ["commandstats"])) as string)?.[1] ?? 0);

describe.skipIf(redisMissing("test/unit/redis-tasks.test.ts") !== null)("redis store: tasks", () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());

  test("tasks sent in one turn are made by one script call, each with its own answer as if sent alone, and told in one PUBLISH a channel", async () => {
    const s = await new RedisStore(redis.url, { prefix: "batch:" }).open();
    const [here, there] = await Promise.all([new RedisBus(redis.url, "batch:").open(), new RedisBus(redis.url, "batch:").open()]);
    s.publishAs(here.origin);
    const heard: BusEvent[] = [];
    there.subscribe((e) => heard.push(e));
    await there.follow(agentTopic("b"));
    await s.claimName(agent("a"), T0, rules);
    await s.claimName(agent("b"), T0, rules);
    const [scripts, published] = [await calls(s, "evalsha"), await calls(s, "publish")];
    // b's queue holds 3: the sixth task finds it full, after a duplicate and an unknown recipient in between.
    const room = { maxQueue: 3 };
    const [t1, t2, t3, t4, t5, t6] = await Promise.all([
      s.createTask(task("t_1", "b", "k"), room),
      s.createTask(task("t_2", "b", "k"), room),
      s.createTask(task("t_3", "nobody"), room),
      s.createTask(task("t_4", "b"), room),
      s.createTask(task("t_5", "b"), room),
      s.createTask(task("t_6", "b"), room),
    ]);
    expect(t1).toMatchObject({ ok: true, duplicate: false, task: { id: "t_1", to: "b", state: "queued", context: { n: "t_1" } } });
    expect(t2).toMatchObject({ ok: true, duplicate: true, task: { id: "t_1", context: { n: "t_1" } } });
    expect(t3).toEqual({ ok: false, refused: "unknown_agent" });
    expect(t4).toMatchObject({ ok: true, duplicate: false, task: { id: "t_4" } });
    expect(t5).toMatchObject({ ok: true, duplicate: false, task: { id: "t_5" } });
    expect(t6).toMatchObject({ ok: false, refused: "queue_full", waiting: 3, name: "b" });
    // Each made task's effects are its own message, already told.
    for (const [r, id] of [[t1, "t_1"], [t4, "t_4"], [t5, "t_5"]] as const) {
      if (!r.ok) throw new Error(r.refused);
      expect(r.effects.sent).toBe(true);
      expect(r.effects.messages.map((m) => m.msg.id)).toEqual([id]);
    }
    expect((await calls(s, "evalsha")) - scripts).toBe(1);
    // b's topic, and the feed.
    expect((await calls(s, "publish")) - published).toBe(2);
    for (let i = 0; i < 100 && heard.length < 3; i++) await Bun.sleep(10);
    expect(heard.map((e) => (e.type === "queued" ? e.message?.id : e.type))).toEqual(["t_1", "t_4", "t_5"]);
    expect(await s.countWaiting("b")).toBe(3);
    expect((await s.getTask("t_6")) ?? null).toBeNull();
    await Promise.all([s.close(), here.close(), there.close()]);
  });

  test("a task queued for its holder by name is kept apart from what the reclaim sweep reads, until it is handed out; the count of held tasks stays right", async () => {
    const s = await new RedisStore(redis.url, { prefix: "held:" }).open();
    await s.claimName(agent("a"), T0, rules);
    await s.claimName(agent("b"), T0, rules);
    const sets = async (id: string) => [Number(await s.client.send("SISMEMBER", ["held:hw:b", id])), Number(await s.client.send("SISMEMBER", ["held:hd:b", id]))];
    await s.createTask(task("t_1", "b"), {});
    await s.createTask(task("t_2", "b"), {});
    expect(await sets("t_1")).toEqual([1, 0]);
    expect(await s.countHeld(["b"])).toEqual([2]);
    // Handed out, it can be lost with its holder: the sweep reads it.
    await s.claimNext("b", null, T0, { max: 1, ackWindowMs: 60_000, room: {} });
    expect(await sets("t_1")).toEqual([0, 1]);
    expect(await s.countHeld(["b"])).toEqual([2]);
    // Its holder gone past the lease, it is queued for b again: apart again.
    const back = await s.reclaimTasks(T0 + 60_000, 100, { graceMs: 15_000, reachableMs: 30_000, room: {} });
    expect(back.tasks.map((r) => r.task.id)).toEqual(["t_1"]);
    expect(await sets("t_1")).toEqual([1, 0]);
    await s.transitionTask("t_1", ["queued"], { state: "canceled", note: "", at: T0 + 60_000, room: {} });
    expect(await sets("t_1")).toEqual([0, 0]);
    expect(await s.countHeld(["b"])).toEqual([1]);
    // One kept where every held task was before (`hd`) is found there when it finishes.
    await s.client.send("SMOVE", ["held:hw:b", "held:hd:b", "t_2"]);
    await s.transitionTask("t_2", ["queued"], { state: "canceled", note: "", at: T0 + 60_000, room: {} });
    expect(await sets("t_2")).toEqual([0, 0]);
    expect(await s.countHeld(["b"])).toEqual([0]);
    await s.close();
  });

  test("`hl` keeps the shortest lease a holder's handed-out tasks have, so the sweep reads none of a holder seen within it; a set kept before `hl` is read as before", async () => {
    const s = await new RedisStore(redis.url, { prefix: "hl:" }).open();
    await s.claimName(agent("a"), T0, rules);
    await s.claimName(agent("b"), T0, rules);
    const live = { graceMs: 15_000, reachableMs: 30_000, room: {} };
    const least = async () => (await s.client.send("HGET", ["hl:hl", "b"])) as string | null;
    await s.createTask({ ...task("t_1", "b"), leaseS: 60 }, {});
    expect(await least()).toBeNull(); // queued for b by name: the sweep does not read it
    await s.claimNext("b", null, T0, { max: 1, ackWindowMs: 60_000, room: {} });
    expect(await least()).toBe("60");
    await s.createTask({ ...task("t_2", "b"), leaseS: 20 }, {});
    await s.claimNext("b", null, T0, { max: 1, ackWindowMs: 60_000, room: {} });
    expect(await least()).toBe("20");
    await s.transitionTask("t_2", ["delivered"], { state: "completed", note: "", at: T0, room: {} });
    expect(await least()).toBe("20"); // a lower bound: finishing a task does not raise it
    expect((await s.reclaimTasks(T0 + 59_999, 100, live)).tasks).toEqual([]);
    expect((await s.reclaimTasks(T0 + 60_000, 100, live)).tasks.map((r) => r.task.id)).toEqual(["t_1"]);
    await s.transitionTask("t_1", ["queued"], { state: "canceled", note: "", at: T0 + 60_000, room: {} });
    expect(await least()).toBeNull(); // holds nothing: forgotten
    // Tasks in `hd` with no `hl` (kept by an older relay): the next one handed out makes the bound 0, which skips nothing.
    await s.createTask({ ...task("t_3", "b"), leaseS: 10 }, {});
    await s.claimNext("b", null, T0 + 60_000, { max: 8, ackWindowMs: 600_000, room: {} });
    expect(await least()).toBe("10");
    await s.client.send("HDEL", ["hl:hl", "b"]);
    await s.createTask({ ...task("t_4", "b"), leaseS: 600 }, {});
    await s.claimNext("b", null, T0 + 60_000, { max: 8, ackWindowMs: 600_000, room: {} });
    expect(await least()).toBe("0");
    await s.touchAgent("b", T0 + 60_000);
    expect((await s.reclaimTasks(T0 + 70_000, 100, live)).tasks.map((r) => r.task.id)).toEqual(["t_3"]);
    await s.close();
  });
  test("a task handed out again is its queued message with the attempt spliced in, whatever its context holds; one kept in cjson's layout is written anew", async () => {
    const s = await new RedisStore(redis.url, { prefix: "splice:" }).open();
    await s.claimName(agent("a"), T0, rules);
    await s.claimName(agent("b"), T0, rules);
    const ACK = { max: 10, ackWindowMs: 1000, room: {} };
    // A context that ends as a task message does, and one that holds its fields in the middle.
    const context = { x: { attempt: 7, lease_s: 9 }, attempt: 3, lease_s: 4 };
    await s.createTask({ ...task("t_1", "b"), context }, {});
    const message = { type: "task" as const, id: "t_1", from: "a", to: "b", created_at: iso(T0), task: "say hi", context, priority: "normal" as const, attempt: 1, lease_s: 30 };
    expect((await s.claimNext("b", null, T0, ACK)).messages).toEqual([message]);
    await s.requeueExpired(T0 + 30_001, 100, {});
    expect((await s.claimNext("b", null, T0 + 30_002, ACK)).messages).toEqual([{ ...message, attempt: 2, redelivered: true }]);
    await s.requeueExpired(T0 + 60_003, 100, {});
    expect((await s.claimNext("b", null, T0 + 60_004, ACK)).messages).toEqual([{ ...message, attempt: 3, redelivered: true }]);
    // A message kept in the layout cjson wrote (its context last) is written anew.
    await s.createTask({ ...task("t_2", "b"), context }, {});
    const [meta, body] = ((await s.client.send("HGET", ["splice:m:b", "t_2"])) as string).split("\n") as [string, string];
    const { context: c, ...rest } = JSON.parse(body);
    await s.client.send("HSET", ["splice:m:b", "t_2", `${meta}\n${JSON.stringify(rest).slice(0, -1)},"context":${JSON.stringify(c)}}`]);
    expect((await s.claimNext("b", null, T0 + 60_005, ACK)).messages).toEqual([{ ...message, id: "t_2" }]);
    await s.close();
  });

  test('a task handed to an agent with its capability is written with "/" plain, as the relay writes it, and weighs its bytes', async () => {
    const s = await new RedisStore(redis.url, { prefix: "slash:" }).open();
    await s.claimName(agent("a"), T0, rules);
    await s.claimName({ ...agent("b"), caps: ["code"] }, T0, rules);
    await s.createTask({ ...task("t_1", ""), to: null, cap: "code", task: "review src/api/v1.ts and a\\/b" }, {});
    expect((await s.assignWaiting("b", T0 + 1)).tasks.map((t) => t.id)).toEqual(["t_1"]);
    const [meta, body] = ((await s.client.send("HGET", ["slash:m:b", "t_1"])) as string).split("\n") as [string, string];
    expect(body).toContain('"task":"review src/api/v1.ts and a\\\\/b"');
    expect(JSON.parse(body).task).toBe("review src/api/v1.ts and a\\/b");
    const bytes = Buffer.byteLength(body);
    expect(JSON.parse(meta).b).toBe(bytes);
    expect(await s.client.send("HGET", ["slash:rb", "b"])).toBe(String(bytes));
    await s.close();
  });
});
