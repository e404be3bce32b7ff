/** kill -9 one relay under a listener working through tasks: the listener moves to another relay of its list, and every task confirmed to its sender is completed once. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, cleanup, eventually, runCli, spawnRelay, tempHome } from "../_helpers";
import { redisMissing, startRedis } from "../_redis";

afterAll(cleanup);

const secretOf = (home: string, name: string): string => JSON.parse(readFileSync(join(home, "identities", `${name}.json`), "utf8")).secret;

if (!redisMissing("test/e2e/redis-failover.test.ts")) {
  describe("a relay killed with kill -9", async () => {
    const redis = await startRedis();
    afterAll(() => redis.stop());
    const r1 = await spawnRelay(["--redis", redis.url]);
    const r2 = await spawnRelay(["--redis", redis.url]);
    const alice = tempHome();
    const bob = tempHome();

    test("a client given several relays uses the next when one cannot be reached", async () => {
      const dead = "http://127.0.0.1:1";
      const r = await runCli(["register", "--name", "alice", "--json"], { home: alice, relay: `${dead},${r1.url}` });
      expect(r.code).toBe(0);
      expect(JSON.parse(readFileSync(join(alice, "identities", "alice.json"), "utf8")).relay).toBe(`${dead},${r1.url}`);
      // The identity belongs to the team: any of its relays will do.
      expect((await runCli(["whoami", "--json"], { home: alice, relay: r1.url })).json).toMatchObject({ name: "alice" });
    });

    test("the listener moves to the other relay, and every task confirmed to its sender is completed, once", async () => {
      expect((await runCli(["register", "--name", "bob", "--json"], { home: bob, relay: `${r2.url},${r1.url}` })).code).toBe(0);
      const worker = new CliProcess(["listen", "--exec", "sleep 0.05; tr a-z A-Z", "--respond", "--type", "task"], { home: bob });
      await worker.waitFor(/listening as bob/);
      const secret = secretOf(alice, "alice");
      const N = 40;
      const ids: string[] = [];
      for (let i = 0; i < N; i++) {
        const r = await fetch(`${r1.url}/v1/messages`, {
          method: "POST",
          headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
          body: JSON.stringify({ type: "task", to: "bob", task: `job ${i}`, lease_s: 300 }),
        });
        expect(r.status).toBe(201);
        ids.push(((await r.json()) as { id: string }).id);
        if (i === N / 4) await eventually(() => worker.stdout.length > 0 || worker.stderr.includes("responded"), 10_000).catch(() => {});
        if (i === N / 2) await r2.relay.stop("SIGKILL");
      }
      const task = async (id: string) => (await (await fetch(`${r1.url}/v1/tasks/${id}`, { headers: { authorization: `Bearer ${secret}` } })).json()) as { state: string; result: string; history: { state: string }[] };
      await eventually(async () => (await Promise.all(ids.map(task))).every((t) => t.state === "completed"), 45_000);
      for (const [i, id] of ids.entries()) {
        const t = await task(id);
        expect(t.result).toContain(`"TASK":"JOB ${i}"`);
        expect(t.history.filter((h) => h.state === "completed")).toHaveLength(1);
      }
      // Each task was answered once: one response each in alice's inbox.
      const inbox = (await (await fetch(`${r1.url}/v1/agents/${JSON.parse(readFileSync(join(alice, "identities", "alice.json"), "utf8")).id}/inbox?max=1000`, { headers: { authorization: `Bearer ${secret}` } })).json()) as { messages: { type: string; in_reply_to?: string }[] };
      const responses = inbox.messages.filter((m) => m.type === "response").map((m) => m.in_reply_to);
      expect(responses.length).toBe(N);
      expect(new Set(responses).size).toBe(N);
      expect(worker.stderr).toContain("lost; reconnecting");
      await worker.stop();
    }, 90_000);
  });
}
