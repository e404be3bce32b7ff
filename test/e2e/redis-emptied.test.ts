/** A Redis without persistence restarts under two running relays: like every relay restarting at once, and everyone is told. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, cleanup, eventually, runCli, spawnRelay, tempHome } from "../_helpers";
import { redisMissing, startRedis } from "../_redis";

afterAll(cleanup);

const saved = (home: string, name: string) => JSON.parse(readFileSync(join(home, "identities", `${name}.json`), "utf8")) as { id: string; secret: string };
const idOf = (home: string, name: string) => saved(home, name).id;
const secretOf = (home: string, name: string) => saved(home, name).secret;

if (!redisMissing("test/e2e/redis-emptied.test.ts")) {
  describe("Redis restarted without persistence", async () => {
    let redis = await startRedis();
    afterAll(() => redis.stop());
    const r1 = await spawnRelay(["--redis", redis.url]);
    const r2 = await spawnRelay(["--redis", redis.url]);
    const alice = tempHome();
    const bob = tempHome();
    const carol = tempHome();

    test("relays say so once, write their key back and close sockets: listeners register again, a --wait ends with exit 5", async () => {
      expect((await runCli(["register", "--name", "alice", "--json"], { home: alice, relay: r1.url })).code).toBe(0);
      expect((await runCli(["register", "--name", "bob", "--json"], { home: bob, relay: `${r2.url},${r1.url}` })).code).toBe(0);
      const bobId = idOf(bob, "bob");
      // bob takes tasks and never answers: the task is delivered, not finished, when Redis restarts.
      const listener = new CliProcess(["listen", "--json"], { home: bob });
      await listener.waitFor(/listening as bob/);
      const waiting = runCli(["delegate", "--to", "bob", "--task", "lost in the restart", "--wait", "--timeout", "120", "--json"], { home: alice, relay: r1.url, timeoutMs: 100_000 });
      await listener.waitFor(/lost in the restart/, 15_000);
      // carol is working on a task when Redis restarts: her answer cannot land, and she goes on listening.
      expect((await runCli(["register", "--name", "carol", "--json"], { home: carol, relay: r1.url })).code).toBe(0);
      const worker = new CliProcess(["listen", "--exec", "sleep 4; tr a-z A-Z", "--respond", "--type", "task"], { home: carol });
      await worker.waitFor(/listening as carol/);
      const slow = await runCli(["delegate", "--to", "carol", "--task", "slow job", "--json"], { home: alice, relay: r1.url });
      await eventually(async () => (await runCli(["task", "--id", slow.json.id, "--json"], { home: alice, relay: r1.url })).json?.state === "delivered", 10_000);

      await redis.stop(true);
      redis = await startRedis([], redis.port, redis.dir);

      const lost = await waiting;
      expect(lost.code).toBe(5);
      expect(lost.json.error.code).toBe("task_lost");
      expect(lost.json.error.message).toContain("the relay lost task");
      expect(lost.json.error.message).toContain("send it again");
      for (const r of [r1, r2]) {
        await r.relay.waitFor(/lost this team's keys \(it restarted without persistence/, 20_000);
        expect(r.relay.stderr.match(/lost this team's keys/g)!.length).toBe(1);
      }

      // The listener was closed, came back and registered again under its id.
      await listener.waitFor(/registered it again as a_/, 20_000);
      const me = await runCli(["whoami", "--json"], { home: bob });
      expect(me.code).toBe(0);
      expect(me.json).toMatchObject({ id: bobId, registered: true });
      // alice registers again (same id, since the relays kept their key) and a new task reaches bob.
      const hb = await runCli(["heartbeat", "--json"], { home: alice, relay: r1.url });
      expect(hb.code).toBe(0);
      expect(hb.json).toMatchObject({ name: "alice", reregistered: true });
      expect(hb.json.previous_id).toBeUndefined();
      expect((await runCli(["delegate", "--to", "bob", "--task", "after the restart", "--json"], { home: alice, relay: r1.url })).code).toBe(0);
      await listener.waitFor(/after the restart/, 15_000);
      await listener.stop();
      await worker.waitFor(/could not respond to t_\w+: the relay no longer has it .* so this answer is dropped/, 30_000);
      const again = await runCli(["delegate", "--to", "carol", "--task", "still there", "--wait", "--timeout", "30", "--json"], { home: alice, relay: r1.url });
      expect(again.code).toBe(0);
      expect(again.json.result).toContain("STILL THERE");
      await worker.stop();
    }, 120_000);

    test("a relay started after the restart uses the key the running relays wrote back: a page cursor from one relay is good on it", async () => {
      expect((await runCli(["delegate", "--to", "bob", "--task", "one more", "--json"], { home: alice, relay: r1.url })).code).toBe(0);
      const r3 = await spawnRelay(["--redis", redis.url]);
      const auth = { authorization: `Bearer ${secretOf(alice, "alice")}` };
      const first = (await (await fetch(`${r1.url}/v1/tasks?limit=1`, { headers: auth })).json()) as { next_cursor: string | null };
      expect(first.next_cursor).toBeString();
      const next = await fetch(`${r3.url}/v1/tasks?limit=1&cursor=${encodeURIComponent(first.next_cursor!)}`, { headers: auth });
      expect(next.status).toBe(200);
      expect(((await next.json()) as { tasks: unknown[] }).tasks).toHaveLength(1);
      expect(r3.relay.stderr).not.toContain("lost this team's keys");
    });
  });
}
