/** Three relays on one Redis act as one relay: agents on different relays find each other, delegate, broadcast, co-edit files under leases, and never get a message twice. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, runCli, spawnRelay, tempHome } from "../_helpers";
import { delegateShouted, redisMissing, startRedis, startShouter } from "../_redis";

afterAll(cleanup);

const secretOf = (home: string, name: string): string => JSON.parse(readFileSync(join(home, "identities", `${name}.json`), "utf8")).secret;

if (!redisMissing("test/e2e/redis.test.ts")) {
  describe("three relays on one Redis", async () => {
    const redis = await startRedis();
    afterAll(() => redis.stop());
    const [r1, r2, r3] = [await spawnRelay(["--redis", redis.url]), await spawnRelay(["--redis", redis.url]), await spawnRelay([], { CLAWLINK_REDIS: redis.url })];
    const alice = tempHome();
    const bob = tempHome();
    const carol = tempHome();
    const on = (home: string, relay: { url: string }) => ({ home, relay: relay.url });

    test("each relay reports the Redis store and the three relays; the last one started names the two others", async () => {
      expect(new Set([r1.url, r2.url, r3.url]).size).toBe(3);
      for (const r of [r1, r2, r3]) {
        const health = await (await fetch(`${r.url}/v1/health`)).json();
        expect(health).toMatchObject({ ok: true, store: "redis", relays: 3 });
      }
      const state = (await (await fetch(`${r3.url}/v1/admin/state`)).json()) as { health: { store: { kind: string; peers: string[] } } };
      expect(state.health.store.kind).toBe("redis");
      expect(state.health.store.peers.map((p) => p.split(" ")[1]).sort()).toEqual([r1.url, r2.url].sort());
      const line = await r3.relay.waitFor(/relays on the same Redis: .*/);
      expect(line[0]).toContain(r1.url);
      expect(line[0]).toContain(r2.url);
    });

    test("agents registered on different relays discover each other", async () => {
      expect((await runCli(["register", "--name", "alice", "--json"], on(alice, r1))).code).toBe(0);
      expect((await runCli(["register", "--name", "bob", "--caps", "shout", "--json"], on(bob, r2))).code).toBe(0);
      expect((await runCli(["register", "--name", "carol", "--json"], on(carol, r3))).code).toBe(0);
      const seen = await runCli(["discover", "--json"], on(carol, r3));
      expect(seen.json.map((a: { name: string }) => a.name).sort()).toEqual(["alice", "bob", "carol"]);
      // A name is one team's: taken through one relay, it is taken through every relay.
      const again = await runCli(["register", "--name", "bob", "--json"], on(tempHome(), r1));
      expect(again.code).toBe(6);
      expect(again.json.error.code).toBe("name_taken");
    });

    test("a task delegated with --wait on one relay is done by a listen --exec worker on another", async () => {
      const worker = await startShouter(on(bob, r2));
      await delegateShouted(on(alice, r1), ["--to", "bob"], "hello from alice");
      await delegateShouted(on(carol, r3), ["--cap", "shout"], "hello from carol");
      await worker.stop();
    });

    test("a long poll on one relay wakes for a broadcast sent through another", async () => {
      const poll = runCli(["poll", "--wait", "60", "--json"], on(carol, r3));
      await Bun.sleep(300);
      expect((await runCli(["broadcast", "--content", "build is green", "--json"], on(alice, r1))).code).toBe(0);
      const got = await poll;
      expect(got.code).toBe(0);
      expect(got.json.map((m: { content?: string }) => m.content)).toContain("build is green");
    });

    test("two relays racing on one inbox never hand a message out twice", async () => {
      const dave = tempHome();
      const reg = await runCli(["register", "--name", "dave", "--json"], on(dave, r1));
      const daveId = reg.json.id;
      const daveSecret = secretOf(dave, "dave");
      const aliceSecret = secretOf(alice, "alice");
      const N = 150;
      for (let i = 0; i < N; i++) {
        const via = [r1, r2, r3][i % 3]!;
        const sent = await fetch(`${via.url}/v1/messages`, {
          method: "POST",
          headers: { authorization: `Bearer ${aliceSecret}`, "content-type": "application/json" },
          body: JSON.stringify({ type: "task", to: daveId, task: `job ${i}` }),
        });
        expect(sent.status).toBe(201);
      }
      const handed: string[] = [];
      const drain = async (relay: { url: string }) => {
        for (let empty = 0; empty < 3; ) {
          const r = await fetch(`${relay.url}/v1/agents/${daveId}/inbox?max=7`, { headers: { authorization: `Bearer ${daveSecret}` } });
          const { messages } = (await r.json()) as { messages: { id: string }[] };
          if (messages.length === 0) empty++;
          handed.push(...messages.map((m) => m.id));
        }
      };
      await Promise.all([drain(r1), drain(r2), drain(r1), drain(r2)]);
      expect(handed.length).toBe(N);
      expect(new Set(handed).size).toBe(N);
    });

    const lines = (...l: string[]) => `${l.join("\n")}\n`;
    const put = (home: string, relay: { url: string }, key: string, content: string, ...flags: string[]) => runCli(["file-put", "--key", key, ...flags, "--json"], { ...on(home, relay), stdin: content });
    const plan = lines("# Plan", "", "goal: ship files", "", "owner: alice", "", "due: friday");

    test("agents on three relays co-edit a file: a stale write conflicts, a merge keeps both edits, and each change names its author", async () => {
      expect((await put(alice, r1, "plan.md", plan)).json).toMatchObject({ version: 1, author: "alice" });
      expect((await put(bob, r2, "plan.md", plan.replace("goal: ship files", "goal: ship versioned files"), "--if-version", "1")).json).toMatchObject({ version: 2, author: "bob" });
      // Carol, on a third relay, edited version 1 too: written as is, her edit would undo bob's.
      const mine = plan.replace("due: friday", "due: monday");
      const stale = await put(carol, r3, "plan.md", mine, "--if-version", "1");
      expect(stale.code).toBe(6);
      expect(stale.json.error.code).toBe("version_conflict");
      expect(stale.json.error.message).toMatch(/^"plan\.md" is at version 2 \(written by bob at \S+Z\), not version 1; nothing was written$/);
      const merged = await put(carol, r3, "plan.md", mine, "--if-version", "1", "--merge");
      expect(merged.code).toBe(0);
      expect(merged.json).toMatchObject({ version: 3, author: "carol", merged: true, created: true });
      expect((await runCli(["file-get", "--key", "plan.md"], on(alice, r1))).stdout).toBe(plan.replace("goal: ship files", "goal: ship versioned files").replace("due: friday", "due: monday"));
      // Alice's edit of the same line, made on version 2, overlaps carol's: refused, naming who wrote what.
      const overlap = await runCli(["file-put", "--key", "plan.md", "--if-version", "2", "--merge"], { ...on(alice, r1), stdin: plan.replace("goal: ship files", "goal: ship versioned files").replace("due: friday", "due: sunday") });
      expect(overlap.code).toBe(6);
      expect(overlap.stderr).toContain('error: your edit of "plan.md" (made on version 2) overlaps changes in version 3 by carol: 1 conflicting hunk; nothing was written');
      expect(overlap.stderr).toContain(["<<<<<<< version 3 (carol)", "due: monday", "||||||| version 2", "due: friday", "=======", "due: sunday", ">>>>>>> yours"].join("\n"));
      const history = await runCli(["file-history", "--key", "plan.md", "--json"], on(bob, r2));
      expect(history.json.map((v: { version: number; author: string }) => [v.version, v.author])).toEqual([[3, "carol"], [2, "bob"], [1, "alice"]]);
    }, 30_000);

    test("a lease taken through one relay holds on the others, until it is released or runs out", async () => {
      const lock = await runCli(["file-lock", "--key", "plan.md", "--ttl", "60", "--json"], on(alice, r1));
      expect(lock.code).toBe(0);
      expect(lock.json).toMatchObject({ key: "plan.md", holder: "alice" });
      expect((await runCli(["file-list", "--prefix", "plan", "--json"], on(bob, r2))).json[0].lock).toMatchObject({ holder: "alice", until: lock.json.until });
      const blocked = await put(bob, r2, "plan.md", "bob's\n");
      expect(blocked.code).toBe(6);
      expect(blocked.json.error.code).toBe("file_locked");
      expect(blocked.json.error.message).toMatch(new RegExp(`^"plan\\.md" is locked by alice until ${lock.json.until.replace(/\./g, "\\.")} \\(\\d+s from now\\); nothing was written$`));
      const steal = await runCli(["file-lock", "--key", "plan.md", "--json"], on(carol, r3));
      expect(steal.code).toBe(6);
      expect(steal.json.error.message).toEndWith("you cannot lock it until then");
      const unlock = await runCli(["file-unlock", "--key", "plan.md", "--json"], on(carol, r3));
      expect(unlock.code).toBe(6);
      expect(unlock.json.error.message).toStartWith('"plan.md" is locked by alice, not by you; only the holder can unlock it');
      expect((await runCli(["file-unlock", "--key", "plan.md"], on(alice, r1))).stdout).toBe("unlocked plan.md\n");
      expect((await put(bob, r2, "plan.md", "bob's\n")).json).toMatchObject({ version: 4, author: "bob" });

      const short = await runCli(["file-lock", "--key", "plan.md", "--ttl", "5", "--json"], on(carol, r3));
      expect(short.code).toBe(0);
      expect((await put(bob, r2, "plan.md", "too soon\n")).json.error.code).toBe("file_locked");
      await Bun.sleep(Math.max(0, Date.parse(short.json.until) - Date.now()) + 50);
      expect((await put(bob, r2, "plan.md", "after the lease\n")).json).toMatchObject({ version: 5, author: "bob" });
      expect((await runCli(["file-list", "--prefix", "plan", "--json"], on(alice, r1))).json[0].lock).toBeNull();
    }, 30_000);

    test("an agent unregistered through one relay is refused at once by another that had just let it in", async () => {
      const erin = tempHome();
      expect((await runCli(["register", "--name", "erin"], { home: erin, relay: `${r1.url},${r2.url}` })).code).toBe(0);
      const secret = secretOf(erin, "erin");
      const id = secret.split(".")[0]!;
      const asErin = { authorization: `Bearer ${secret}` };
      // Relay 2 lets erin in, and remembers it verified her; then erin leaves through relay 3.
      expect((await fetch(`${r2.url}/v1/tasks`, { headers: asErin })).status).toBe(200);
      expect((await fetch(`${r3.url}/v1/agents/${id}`, { method: "DELETE", headers: asErin })).status).toBe(200);
      const refused = await fetch(`${r2.url}/v1/tasks`, { headers: asErin });
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { error: unknown }).error).toMatchObject({ code: "not_registered", message: `the relay does not know agent ${id} (it may have restarted)` });
      const r = await runCli(["tasks"], on(erin, r2));
      expect(r.code).toBe(5);
      expect(r.stderr).toContain(`the relay does not know agent ${id} (it may have restarted)`);
    });

    test("unregistering answers only once a busy relay that had just let the agent in has heard of it", async () => {
      const fred = tempHome();
      expect((await runCli(["register", "--name", "fred"], on(fred, r1))).code).toBe(0);
      const secret = secretOf(fred, "fred");
      const id = secret.split(".")[0]!;
      const asFred = { authorization: `Bearer ${secret}` };
      expect((await fetch(`${r2.url}/v1/tasks`, { headers: asFred })).status).toBe(200);
      // Relay 2 stops reading for a moment: Redis still delivers the event to its connection, unread.
      let resumed = false;
      r2.relay.proc.kill("SIGSTOP");
      const resume = setTimeout(() => {
        resumed = true;
        r2.relay.proc.kill("SIGCONT");
      }, 300);
      try {
        const gone = await fetch(`${r3.url}/v1/agents/${id}`, { method: "DELETE", headers: asFred });
        expect(gone.status).toBe(200);
        expect(resumed).toBe(true);
      } finally {
        clearTimeout(resume);
        r2.relay.proc.kill("SIGCONT");
      }
      const refused = await fetch(`${r2.url}/v1/tasks`, { headers: asFred });
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { error: unknown }).error).toMatchObject({ code: "not_registered" });
    });
  });

  describe("starting a relay on Redis", () => {
    test("--data and --redis together are a usage error naming both", async () => {
      const r = await runCli(["relay", "--port", "0", "--data", join(tempHome(), "x.db"), "--redis", "redis://127.0.0.1:6379"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("pass --data or --redis, not both");
    });

    test("a URL that is not redis:// or rediss:// is a usage error", async () => {
      const r = await runCli(["relay", "--port", "0", "--redis", "http://127.0.0.1:6379"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("--redis must be a URL such as redis://host:6379");
    });

    test("--redis-prefix goes with --redis, and cannot be empty", async () => {
      const alone = await runCli(["relay", "--port", "0", "--redis-prefix", "team-a:"]);
      expect(alone.code).toBe(2);
      expect(alone.stderr).toContain("--redis-prefix goes with --redis");
      const empty = await runCli(["relay", "--port", "0", "--redis", "redis://127.0.0.1:6379", "--redis-prefix", ""]);
      expect(empty.code).toBe(2);
      expect(empty.stderr).toContain("--redis-prefix cannot be empty");
    });

    test("a Redis that cannot be reached stops the relay at once with a clear error", async () => {
      const r = await runCli(["relay", "--port", "0", "--redis", "redis://user:hunter2@127.0.0.1:1"], { timeoutMs: 20_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("cannot use the Redis server at redis://user:***@127.0.0.1:1");
      expect(r.stderr).not.toContain("hunter2");
    });
  });
}
