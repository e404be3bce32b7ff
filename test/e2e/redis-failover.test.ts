/** kill -9 one relay under a listener streaming 1,000 tasks: the listener moves to another relay of its list, and every task confirmed to its sender is delivered and completed once. */
import { RedisClient } from "bun";
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, cleanup, eventually, runCli, spawnRelay, tempHome } from "../_helpers";
import { redisMissing, startRedis, type TestRedis } from "../_redis";

afterAll(cleanup);

const identityOf = (home: string, name: string): { id: string; secret: string } => JSON.parse(readFileSync(join(home, "identities", `${name}.json`), "utf8"));

interface TaskView {
  id: string;
  state: string;
  result: string;
  history: { state: string }[];
}

/**
 * What the store holds for a sender whose inbox lacks responses, so that a shortfall explains itself: the relays
 * and clients on the store (and whether it is this file's server), the inbox's counts, and for each task without a
 * response its record and every message about it (queued, in flight, or gone); then the relays' and listener's logs.
 */
async function whyMissing(redis: TestRedis, sender: string, missing: readonly string[], logs: Record<string, CliProcess>): Promise<string> {
  const r = new RedisClient(redis.url);
  const k = (...parts: string[]) => ["clawlink", ...parts].join(":");
  const cmd = (c: string, ...args: string[]) => r.send(c, args) as Promise<any>;
  const head = (v: string | null) => (v === null ? "none" : v.slice(0, v.indexOf("\n")));
  const slots = ((await cmd("HVALS", k("m", sender))) as string[]).map(head);
  const lines = [
    `store: relays ${JSON.stringify(await cmd("ZRANGE", k("relays"), "0", "-1", "WITHSCORES"))}, ${String(await cmd("CLIENT", "LIST")).trim().split("\n").length} clients, server pid ${/process_id:(\d+)/.exec(await cmd("INFO", "server"))?.[1]} (this file's: ${redis.proc.pid})`,
    `${sender}: queued ${await cmd("ZCARD", k("q", sender))}, in flight ${await cmd("SCARD", k("fl", sender))}, kept ${slots.length} (responses ${slots.filter((s) => s.includes('"t":"response"')).length}), eager socket ${await cmd("HGET", k("ea"), sender)}`,
    `tasks without a response: ${missing.length}`,
  ];
  for (const id of missing.slice(0, 20)) {
    const rec = head(await cmd("HGET", k("t"), id));
    const t = rec === "none" ? undefined : JSON.parse(rec);
    lines.push(`task ${id}: ${t ? `${t.state}, attempts ${t.attempts}, response ${t.responseId}, history ${t.history.map((h: { state: string; at: number; note: string }) => `${h.state}@${h.at}${h.note ? ` (${h.note})` : ""}`).join(", ")}` : "no record"}`);
    const about = new Set<string>([...((await cmd("SMEMBERS", k("ab", sender, id))) as string[]), ...(t?.responseId ? [t.responseId] : [])]);
    for (const mid of about) lines.push(`  ${mid}: ${head(await cmd("HGET", k("m", sender), mid))}, queued ${await cmd("ZSCORE", k("q", sender), mid)}, in flight ${await cmd("SISMEMBER", k("fl", sender), mid)}`);
  }
  r.close();
  for (const [name, p] of Object.entries(logs)) lines.push(`--- ${name}'s log (its end) ---`, p.stderr.slice(-4000));
  return lines.join("\n");
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
      if (responses.length !== N) {
        const got = new Set(responses);
        console.error(await whyMissing(redis, alicePass.id, ids.filter((id) => !got.has(id)), { r1: r1.relay, r2: r2.relay, listener }).catch((e) => `the store could not be read: ${e}`));
      }
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
