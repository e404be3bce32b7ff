/**
 * A task taken from a holder that went quiet and routed to another agent is answered only by the agent
 * it was handed to: the new holder once it received it, never the old one. The same story on each store.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { cleanup, eventually, member, type Member, runCli, spawnRelay, tempHome } from "../_helpers";
import { REDIS_SERVER, redisMissing, startRedis } from "../_redis";

afterAll(cleanup);

const taskOf = async (m: Member, id: string) => (await runCli(["task", "--id", id, "--json"], m)).json;

/** The store flags of each store, made when its describe block runs. */
const stores: [string, () => Promise<string[]>][] = [
  ["memory", async () => []],
  ["--data", async () => ["--data", join(tempHome(), "relay.db")]],
];
if (!redisMissing("test/e2e/reassigned.test.ts") && REDIS_SERVER) {
  stores.push([
    "--redis",
    async () => {
      const redis = await startRedis();
      afterAll(() => redis.stop());
      return ["--redis", redis.url];
    },
  ]);
}

describe.each(stores)("a task reassigned on %s", (_, flags) => {
  test("is answered by its new holder only once handed to it, and never again by the holder it was taken from", async () => {
    const { relay, url } = await spawnRelay([...(await flags()), "--holder-grace", "1s"]);
    const boss = await member(url, "boss");
    const quitter = await member(url, "quitter", "etl");
    const id = (await runCli(["delegate", "--cap", "etl", "--task", "load it", "--lease", "2", "--json"], boss)).json.id;
    expect((await runCli(["poll", "--json"], quitter)).json.map((m: { id: string }) => m.id)).toEqual([id]);
    const other = await member(url, "other", "etl");
    await eventually(async () => (await taskOf(boss, id)).to === other.id, 15_000);

    // Routed to `other` but not yet handed to it: neither an answer nor progress counts, and an ack settles nothing.
    const early = await runCli(["respond", "--msg-id", id, "--result", "guessed"], other);
    expect(early.code).toBe(6);
    expect(early.stderr).toContain(`task ${id} has not been delivered to you yet`);
    expect(early.stderr).toContain("poll or listen to receive it first");
    const busy = await runCli(["progress", "--msg-id", id, "--note", "on it"], other);
    expect(busy.code).toBe(6);
    expect(busy.stderr).toContain(`task ${id} has not been delivered to you yet`);
    expect((await runCli(["ack", "--msg-id", id, "--json"], other)).json).toEqual({ acked: 0 });

    // The holder it was taken from is told where it went.
    const late = await runCli(["respond", "--msg-id", id, "--result", "loaded late"], quitter);
    expect(late.code).toBe(6);
    expect(late.stderr).toContain(`task ${id} was reassigned (holder quitter went offline; reassigned to other), so quitter can no longer respond to it`);
    expect(late.stderr).toContain("nothing you send about it is kept");
    expect(await taskOf(boss, id)).toMatchObject({ state: "queued", to: other.id, result: null, note: null });

    expect((await runCli(["poll", "--json"], other)).json).toMatchObject([{ id, attempt: 2, redelivered: true }]);
    expect((await runCli(["respond", "--msg-id", id, "--result", "loaded"], other)).code).toBe(0);
    expect(await taskOf(boss, id)).toMatchObject({ state: "completed", result: "loaded", holder: { name: "other" } });
    const after = await runCli(["progress", "--msg-id", id, "--note", "still here"], quitter);
    expect(after.code).toBe(6);
    expect(after.stderr).toContain(`task ${id} was reassigned (holder quitter went offline; reassigned to other), so quitter can no longer report progress on it`);
    await relay.stop();
  }, 60_000);
});
