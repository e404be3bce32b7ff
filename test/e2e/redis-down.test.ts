/** Redis hanging (kill -STOP) or gone under a relay: every answer is a 503 store_unavailable with a next step, within seconds, and the relay's log says so once, without a stack trace. */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, eventually, runCli, spawnRelay, tempHome } from "../_helpers";
import { redisMissing, startRedis } from "../_redis";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { wsConnect } from "../ws";

afterAll(cleanup);

if (!redisMissing("test/e2e/redis-down.test.ts")) {
  describe("a relay whose Redis hangs, then goes", async () => {
    let redis = await startRedis(["--appendonly", "yes", "--appendfsync", "always"]);
    afterAll(() => {
      redis.proc.kill("SIGCONT");
      return redis.stop();
    });
    const { relay, url } = await spawnRelay(["--redis", redis.url]);
    const alice = tempHome();

    test("a Redis that stops answering: requests get 503 store_unavailable with a retry hint, not a reset connection", async () => {
      expect((await runCli(["register", "--name", "alice", "--json"], { home: alice, relay: url })).code).toBe(0);
      const socket = await wsConnect(`${url}/v1/ws`, JSON.parse(readFileSync(join(alice, "identities", "alice.json"), "utf8")).secret);
      await socket.nextOp("hello");
      redis.proc.kill("SIGSTOP");
      // A batch sent meanwhile is answered, each message refused as it would be alone.
      const reply = { type: "response", to: "alice", in_reply_to: "m_x", result: "r" };
      socket.ws.send(JSON.stringify({ op: "send", ref: "b1", messages: [reply, reply] }));
      const batch = await socket.nextOp("sent", 15_000);
      expect(batch.ref).toBe("b1");
      expect(batch.results.map((r: { error?: { code: string } }) => r.error?.code)).toEqual(["store_unavailable", "store_unavailable"]);
      socket.close();
      const r = await fetch(`${url}/v1/agents`);
      expect(r.status).toBe(503);
      const body = (await r.json()) as { error: { code: string; message: string; hint: string } };
      expect(body.error.code).toBe("store_unavailable");
      expect(body.error.hint).toContain("retry");
      const sent = await runCli(["broadcast", "--content", "while hung", "--json"], { home: alice, relay: url });
      expect(sent.code).toBe(7);
      expect(sent.json.error.code).toBe("store_unavailable");
      await relay.waitFor(/lost the Redis server at .*: requests are refused with 503/, 15_000);
      redis.proc.kill("SIGCONT");
      await relay.waitFor(/the Redis server at .* is back/, 20_000);
      await eventually(async () => (await fetch(`${url}/v1/agents`)).status === 200, 15_000);
    }, 60_000);

    test("while Redis is down: health is 503, whoami and doctor say the relay is up and its store is not, with exit 7", async () => {
      await redis.stop(true);
      const health = await fetch(`${url}/v1/health`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as { error: { code: string } }).error.code).toBe("store_unavailable");
      const me = await runCli(["whoami", "--json"], { home: alice, relay: url });
      expect(me.code).toBe(7);
      expect(me.json).toMatchObject({ reachable: true, problem: { code: "store_unavailable" } });
      const doctor = await runCli(["doctor", "--json"], { home: alice, relay: url });
      expect(doctor.code).toBe(7);
      const check = (doctor.json.checks as { name: string; status: string; message: string; fix: string }[]).find((c) => c.name === "relay")!;
      expect(check.status).toBe("fail");
      expect(check.message).toContain("is up, but its store is down");
      expect(check.fix).toContain("retry when it is back");
      // A few seconds of sweeps, heartbeats and requests against a missing Redis.
      for (let i = 0; i < 10; i++) {
        expect((await fetch(`${url}/v1/agents`)).status).toBe(503);
        await Bun.sleep(300);
      }
      redis = await startRedis(["--appendonly", "yes", "--appendfsync", "always"], redis.port, redis.dir);
      await relay.waitFor(/the Redis server at .* is back[^]*the Redis server at .* is back/, 20_000);
      await eventually(async () => (await fetch(`${url}/v1/health`)).status === 200, 15_000);
    }, 60_000);

    test("the outages were logged once each, without an unexpected error or a stack trace", () => {
      const log = relay.stdout + relay.stderr;
      expect(log.match(/lost the Redis server/g)!.length).toBe(2);
      expect(log).not.toContain("unexpected error");
      expect(log).not.toMatch(/\n\s+at /);
      // Its data survived (AOF): the team was not taken for emptied.
      expect(log).not.toContain("lost this team's keys");
    });
  });
}
