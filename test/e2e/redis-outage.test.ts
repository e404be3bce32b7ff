/** Redis going away under a running relay: requests are refused with 503 and change nothing, and the relay recovers by itself when Redis is back (with AOF, nothing acknowledged is lost). */
import { afterAll, describe, expect, test } from "bun:test";
import { CliProcess, cleanup, eventually, runCli, spawnRelay, tempHome } from "../_helpers";
import { redisMissing, startRedis } from "../_redis";

afterAll(cleanup);

if (!redisMissing("test/e2e/redis-outage.test.ts")) {
  describe("a relay whose Redis restarts", async () => {
    let redis = await startRedis(["--appendonly", "yes", "--appendfsync", "always"]);
    afterAll(() => redis.stop());
    const { relay, url } = await spawnRelay(["--redis", redis.url]);
    const other = await spawnRelay(["--redis", redis.url]);
    const alice = tempHome();
    const bob = tempHome();

    test("while Redis is down, requests get 503 store_unavailable with a hint, and the relay says so once", async () => {
      expect((await runCli(["register", "--name", "alice", "--json"], { home: alice, relay: url })).code).toBe(0);
      expect((await runCli(["register", "--name", "bob", "--json"], { home: bob, relay: other.url })).code).toBe(0);
      await redis.stop(true);
      const r = await fetch(`${url}/v1/agents`);
      expect(r.status).toBe(503);
      const body = (await r.json()) as { error: { code: string; hint: string } };
      expect(body.error.code).toBe("store_unavailable");
      expect(body.error.hint).toContain("retry");
      const sent = await runCli(["broadcast", "--content", "while down", "--json"], { home: alice, relay: url });
      expect(sent.code).not.toBe(0);
      expect(sent.json.error.code).toBe("store_unavailable");
      await relay.waitFor(/lost the Redis server at redis:\/\/127\.0\.0\.1:\d+: requests are refused with 503/);
      expect(relay.stderr.match(/lost the Redis server/g)!.length).toBe(1);
    });

    test("once Redis is back, the relays recover without a restart and kept what they acknowledged", async () => {
      redis = await startRedis(["--appendonly", "yes", "--appendfsync", "always"], redis.port, redis.dir);
      await relay.waitFor(/the Redis server at .* is back/, 15_000);
      const seen = await eventually(async () => {
        const r = await runCli(["discover", "--json"], { home: bob, relay: other.url });
        return r.code === 0 && r.json;
      }, 15_000);
      expect(seen.map((a: { name: string }) => a.name).sort()).toEqual(["alice", "bob"]);
      // Pushes across relays work again: bob listens on one relay, alice sends through the other.
      await other.relay.waitFor(/the Redis server at .* is back/, 15_000);
      const listener = new CliProcess(["listen", "--json"], { home: bob, relay: other.url });
      await Bun.sleep(500);
      await eventually(async () => (await runCli(["broadcast", "--content", "back again", "--json"], { home: alice, relay: url })).code === 0, 10_000);
      await listener.waitFor(/back again/, 10_000);
      expect(listener.stdout).not.toContain("while down");
    });
  });
}
