/** kill -9 one relay under a listener streaming 1,000 tasks: the listener moves to another relay of its list, and every task confirmed to its sender is delivered and completed once. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, cleanup, eventually, runCli, spawnRelay, tempHome } from "../_helpers";
import { redisMissing, startRedis } from "../_redis";

afterAll(cleanup);

const identityOf = (home: string, name: string): { id: string; secret: string } => JSON.parse(readFileSync(join(home, "identities", `${name}.json`), "utf8"));

interface TaskView {
  id: string;
  state: string;
  result: string;
  history: { state: string }[];
}

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

    test("with 1,000 tasks in flight the listener moves to the other relay, and every task confirmed to its sender is delivered and completed, once", async () => {
      expect((await runCli(["register", "--name", "bob", "--json"], { home: bob, relay: `${r2.url},${r1.url}` })).code).toBe(0);
      const listener = new CliProcess(["listen", "--json", "--type", "task"], { home: bob });
      await listener.waitFor(/listening as bob/);
      const alicePass = identityOf(alice, "alice");
      const bobPass = identityOf(bob, "bob");
      const post = (who: { secret: string }, body: object) =>
        fetch(`${r1.url}/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${who.secret}`, "content-type": "application/json" }, body: JSON.stringify(body) });

      // Bob's side: each task the listener prints is answered, by the agent reading the stream.
      const delivered: string[] = [];
      let read = 0;
      let answering = true;
      const answer = (async () => {
        while (answering) {
          const end = listener.stdout.lastIndexOf("\n") + 1;
          const lines = listener.stdout.slice(read, end).split("\n").filter(Boolean);
          read = end;
          const tasks = lines.map((l) => JSON.parse(l) as { id: string; task: string });
          delivered.push(...tasks.map((t) => t.id));
          for (let i = 0; i < tasks.length; i += 25) {
            const sent = await Promise.all(tasks.slice(i, i + 25).map((t) => post(bobPass, { type: "response", in_reply_to: t.id, result: t.task.toUpperCase() })));
            expect(sent.map((r) => r.status)).toEqual(sent.map(() => 201));
          }
          if (lines.length === 0) await Bun.sleep(20);
        }
      })();

      const N = 1000;
      const BATCH = 25;
      const ids: string[] = [];
      for (let i = 0; i < N; i += BATCH) {
        const sent = await Promise.all(Array.from({ length: BATCH }, (_, j) => post(alicePass, { type: "task", to: "bob", task: `job ${i + j}`, lease_s: 300 })));
        for (const [j, r] of sent.entries()) {
          expect(r.status).toBe(201);
          ids[i + j] = ((await r.json()) as { id: string }).id;
        }
        // Half sent, the listener busy with them: its relay dies under it.
        if (i + BATCH === N / 2) {
          await eventually(() => delivered.length >= 100, 20_000);
          await r2.relay.stop("SIGKILL");
        }
      }
      expect(new Set(ids).size).toBe(N);

      // A message that was on the dead relay's socket, unacknowledged, is queued again once its heartbeat runs out (15 s).
      const completed = async () => ((await (await fetch(`${r1.url}/v1/tasks?role=sent&state=completed&limit=1000`, { headers: { authorization: `Bearer ${alicePass.secret}` } })).json()) as { tasks: TaskView[] }).tasks;
      let done: TaskView[] = [];
      for (const deadline = Date.now() + 40_000; done.length < N && Date.now() < deadline; await Bun.sleep(500)) done = await completed();
      answering = false;
      await answer;
      expect(done.map((t) => t.id)).toEqual([...ids].sort());
      const text = new Map(ids.map((id, i) => [id, `JOB ${i}`]));
      for (const t of done) {
        expect(t.result).toBe(text.get(t.id)!);
        expect(t.history.filter((h) => h.state === "completed")).toHaveLength(1);
      }
      // The listener handed out each task once, though the relay that pushed some of them died.
      expect(delivered.length).toBe(N);
      expect(new Set(delivered).size).toBe(N);
      // Each task was answered once: one response each in alice's inbox.
      const inbox = (await (await fetch(`${r1.url}/v1/agents/${alicePass.id}/inbox?max=10000`, { headers: { authorization: `Bearer ${alicePass.secret}` } })).json()) as { messages: { type: string; in_reply_to?: string }[] };
      const responses = inbox.messages.filter((m) => m.type === "response").map((m) => m.in_reply_to);
      expect(responses.length).toBe(N);
      expect(new Set(responses).size).toBe(N);
      expect(listener.stderr).toContain("lost; reconnecting");
      await listener.stop();
    }, 90_000);

    test("a `listen --exec --respond` worker whose relay dies answers every task on the next relay, once each", async () => {
      const r3 = await spawnRelay(["--redis", redis.url]);
      const carol = tempHome();
      expect((await runCli(["register", "--name", "carol", "--json"], { home: carol, relay: `${r3.url},${r1.url}` })).code).toBe(0);
      const worker = new CliProcess(["listen", "--exec", "sleep 0.05; tr a-z A-Z", "--respond", "--type", "task"], { home: carol });
      await worker.waitFor(/listening as carol/);
      const alicePass = identityOf(alice, "alice");
      const N = 12;
      const ids: string[] = [];
      for (let i = 0; i < N; i++) {
        const r = await fetch(`${r1.url}/v1/messages`, {
          method: "POST",
          headers: { authorization: `Bearer ${alicePass.secret}`, "content-type": "application/json" },
          body: JSON.stringify({ type: "task", to: "carol", task: `job ${i}`, lease_s: 300 }),
        });
        expect(r.status).toBe(201);
        ids.push(((await r.json()) as { id: string }).id);
        if (i === N / 2) {
          await eventually(() => worker.stderr.includes("exited 0") || worker.stdout.includes("exited 0"), 15_000);
          await r3.relay.stop("SIGKILL");
        }
      }
      const task = async (id: string) => (await (await fetch(`${r1.url}/v1/tasks/${id}`, { headers: { authorization: `Bearer ${alicePass.secret}` } })).json()) as TaskView;
      await eventually(async () => (await Promise.all(ids.map(task))).every((t) => t.state === "completed"), 45_000);
      for (const [i, id] of ids.entries()) {
        const t = await task(id);
        expect(t.result).toContain(`"TASK":"JOB ${i}"`);
        expect(t.history.filter((h) => h.state === "completed")).toHaveLength(1);
      }
      expect(worker.stderr).toContain("lost; reconnecting");
      await worker.stop();
    }, 90_000);
  });
}
