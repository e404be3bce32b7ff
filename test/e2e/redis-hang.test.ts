/** Redis hanging while a relay hands a socket its backlog: the claim cut off may have put messages in flight that the socket never got; once Redis is back the socket is closed, and reconnected it gets every one. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, eventually, runCli, spawnRelay, tempHome } from "../_helpers";
import { redisMissing, startRedis } from "../_redis";
import { wsConnect } from "../ws";

afterAll(cleanup);

if (!redisMissing("test/e2e/redis-hang.test.ts")) {
  describe("a relay whose Redis hangs while it hands a socket its backlog", async () => {
    const redis = await startRedis();
    afterAll(() => {
      redis.proc.kill("SIGCONT");
      return redis.stop();
    });
    const { relay, url } = await spawnRelay(["--redis", redis.url]);

    test("the socket whose claim the hang cut off stays open while Redis is away, is closed with 1011 once it is back, and reconnected gets every task, none left behind on the closed one", async () => {
      const [alice, bob] = [tempHome(), tempHome()];
      expect((await runCli(["register", "--name", "alice", "--json"], { home: alice, relay: url })).code).toBe(0);
      expect((await runCli(["register", "--name", "bob", "--json"], { home: bob, relay: url })).code).toBe(0);
      const secret = (home: string, name: string) => JSON.parse(readFileSync(join(home, "identities", `${name}.json`), "utf8")).secret as string;
      const N = 3000;
      for (let i = 0; i < N; i += 100) {
        const sent = await Promise.all(
          Array.from({ length: 100 }, (_, j) =>
            fetch(`${url}/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${secret(alice, "alice")}`, "content-type": "application/json" }, body: JSON.stringify({ type: "task", to: "bob", task: `job ${i + j}`, lease_s: 300 }) }),
          ),
        );
        expect(sent.map((r) => r.status)).toEqual(sent.map(() => 201));
      }
      const got = new Set<string>();
      const take = (f: { op: string; message?: { id: string }; messages?: { id: string }[] }) => {
        for (const m of f.op === "messages" ? f.messages! : f.op === "message" ? [f.message!] : []) got.add(m.id);
      };
      const first = await wsConnect(`${url}/v1/ws`, secret(bob, "bob"));
      // Redis hangs as the relay starts handing bob his backlog, a claim at a time: the one under way gets no answer.
      first.ws.onmessage = (ev) => {
        const f = JSON.parse(String(ev.data));
        if (f.op === "hello") redis.proc.kill("SIGSTOP");
        take(f);
      };
      await relay.waitFor(/lost the Redis server at .*: requests are refused with 503/, 15_000);
      // While Redis is away the socket stays open, for what it can still do.
      expect(await Promise.race([first.closed, Bun.sleep(500).then(() => "open")])).toBe("open");
      expect(got.size).toBeLessThan(N);
      // Redis runs the claim it had read when it wakes: what that put in flight went to no socket. Once the
      // relay has its store back it closes that socket, whose detach queues them again.
      redis.proc.kill("SIGCONT");
      await relay.waitFor(/the Redis server at .* is back/, 20_000);
      expect(await Promise.race([first.closed, Bun.sleep(10_000).then(() => null)])).toEqual({ code: 1011, reason: "the relay lost its store while handing out messages; reconnect to get them" });
      // As a client does: it tries again until the relay takes it.
      const second = (await eventually(() => wsConnect(`${url}/v1/ws`, secret(bob, "bob")).catch(() => undefined), 20_000))!;
      second.ws.onmessage = (ev) => take(JSON.parse(String(ev.data)));
      await eventually(() => got.size === N, 20_000);
      second.close();
    }, 60_000);

    test("a task sent while Redis hangs exits 7, saying it may have been sent and to check before sending it again: Redis runs it once it wakes", async () => {
      const [carol, dave] = [tempHome(), tempHome()];
      expect((await runCli(["register", "--name", "carol", "--json"], { home: carol, relay: url })).code).toBe(0);
      expect((await runCli(["register", "--name", "dave", "--json"], { home: dave, relay: url })).code).toBe(0);
      redis.proc.kill("SIGSTOP");
      const sent = await runCli(["delegate", "--to", "dave", "--task", "sent into the hang", "--json"], { home: carol, relay: url });
      redis.proc.kill("SIGCONT");
      expect(sent.code).toBe(7);
      expect(sent.json.error.code).toBe("store_unavailable");
      // Its own command timed out, or another's did first and dropped the connection under it.
      expect(sent.json.error.message).toMatch(/^the relay's Redis store did not answer \((it did not answer within 3 s|the connection closed)\), so the request may or may not have been carried out$/);
      expect(sent.json.error.message).not.toContain("nothing was changed");
      expect(sent.json.error.hint).toContain("check whether it was done before repeating it");
      expect(sent.json.error.hint).toContain("--idempotency-key");
      await relay.waitFor(/the Redis server at .* is back[\s\S]*the Redis server at .* is back/, 20_000);
    }, 30_000);
  });
}
