/** How the Redis store keeps tasks: the sets of what each agent holds. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RedisStore } from "../../src/relay/store/redis/store";
import { redisMissing, startRedis, type TestRedis } from "../_redis";

const T0 = 10_000_000;
const rules = { staleBefore: 0, maxAgents: 10, takeOver: true, allowNew: true, note: "", room: {} };
const agent = (id: string) => ({ id, name: id, caps: [], description: "", machine: "", secretHash: `h-${id}` });
const task = (id: string, to: string, idempotencyKey: string | null = null) => ({ id, from: "a", to, cap: null, task: "say hi", context: { n: id }, priority: "normal" as const, leaseS: 30, ttlS: null, createdAt: T0, idempotencyKey });

describe.skipIf(redisMissing("test/unit/redis-tasks.test.ts") !== null)("redis store: tasks", () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());

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
});
