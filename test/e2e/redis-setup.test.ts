/** Starting relays on a Redis from the docs alone: a refused password, nothing listening, a token that is not the team's, and the line that tells agents where to connect. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, cleanup, eventually, freePort, runCli, spawnRelay, tempHome } from "../_helpers";
import { redisMissing, startRedis } from "../_redis";

afterAll(cleanup);

/** A relay that should refuse to start: its exit code and what it said. */
async function refused(args: string[], env?: Record<string, string>) {
  const relay = new CliProcess(["relay", "--port", "0", ...args], { env });
  const code = await relay.proc.exited;
  return { code, stderr: relay.stdout + relay.stderr };
}

if (!redisMissing("test/e2e/redis-setup.test.ts")) {
  describe("a Redis that cannot be used says why", async () => {
    const redis = await startRedis(["--requirepass", "s3cret-pass"]);
    afterAll(() => redis.stop());

    test("no password for a server that asks for one: NOAUTH, and where the password goes", async () => {
      const r = await refused(["--redis", redis.url]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`cannot use the Redis server at ${redis.url}: Redis at 127.0.0.1:${redis.port} asks for a password`);
      expect(r.stderr).toContain("redis://:PASSWORD@host:6379");
      expect(r.stderr).not.toContain("Connection closed");
    });

    test("a wrong password: WRONGPASS, and the URL shown without it", async () => {
      const r = await refused(["--redis", `redis://:wrong@127.0.0.1:${redis.port}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("refused the password (WRONGPASS)");
      expect(r.stderr).not.toContain("wrong");
    });

    test("nothing listening: ECONNREFUSED names the address", async () => {
      const port = freePort();
      const r = await refused(["--redis", `redis://127.0.0.1:${port}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`nothing listens at 127.0.0.1:${port} (ECONNREFUSED)`);
    });

    test("the right password in the URL works", async () => {
      const { relay } = await spawnRelay(["--redis", `redis://:s3cret-pass@127.0.0.1:${redis.port}`]);
      await relay.waitFor(/sharing state in Redis at redis:\/\/:\*\*\*@127\.0\.0\.1/);
    });
  });

  describe("every relay on one Redis needs the same token", async () => {
    const redis = await startRedis();
    afterAll(() => redis.stop());
    const TOKEN = "a-team-token-that-is-long-enough-0123456789";

    test("a relay without the team's token, or with another, refuses to start with exit 2 and says what differs", async () => {
      const first = await spawnRelay(["--redis", redis.url], { CLAWLINK_TOKEN: TOKEN });
      const none = await refused(["--redis", redis.url]);
      expect(none.code).toBe(2);
      expect(none.stderr).toContain("require a token, and this relay was started without one");
      expect(none.stderr).toContain("every relay on one Redis needs the same token");
      const other = await refused(["--redis", redis.url], { CLAWLINK_TOKEN: `${TOKEN}-other` });
      expect(other.code).toBe(2);
      expect(other.stderr).toContain("this relay's token is not the one the relays on this Redis (prefix clawlink:) use");
      // The token itself is never kept in Redis.
      const dump = Bun.spawnSync(["redis-cli", "-p", String(redis.port), "HGETALL", "clawlink:team"]).stdout.toString();
      expect(dump).toContain("epoch");
      expect(dump).not.toContain(TOKEN);
      // The same token joins.
      const same = await spawnRelay(["--redis", redis.url], { CLAWLINK_TOKEN: TOKEN });
      expect((await fetch(`${same.url}/v1/health`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      await first.relay.stop();
    });

    test("a team without a token refuses a relay given one", async () => {
      await spawnRelay(["--redis", redis.url, "--redis-prefix", "open:"]);
      const r = await refused(["--redis", redis.url, "--redis-prefix", "open:"], { CLAWLINK_TOKEN: TOKEN });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("the relays on this Redis (prefix open:) take no token, and this relay was given one");
    });

    /** A relay of the team with TOKEN on `prefix` (`before` runs against it first), and Redis emptied right after its heartbeat, so another relay can join before its next one. */
    async function wipedUnderRunningRelay(prefix: string, before?: (url: string) => Promise<void>) {
      const cli = (...args: string[]) => Bun.spawnSync(["redis-cli", "-p", String(redis.port), ...args]).stdout.toString().trim();
      const running = await spawnRelay(["--redis", redis.url, "--redis-prefix", prefix], { CLAWLINK_TOKEN: TOKEN });
      await before?.(running.url);
      const beatOf = () => cli("ZSCORE", `${prefix}relays`, cli("ZRANGE", `${prefix}relays`, "0", "0"));
      const beat = beatOf();
      await eventually(() => beatOf() !== beat, 10_000);
      cli("FLUSHALL");
      return running;
    }

    test("a relay with another token that re-made an emptied team's marker is told it is not the team's and stops with exit 2; the running relays keep theirs", async () => {
      const running = await wipedUnderRunningRelay("wipe:");
      const stranger = await spawnRelay(["--redis", redis.url, "--redis-prefix", "wipe:"], { CLAWLINK_TOKEN: `${TOKEN}-other` });
      await running.relay.waitFor(/lost this team's keys/, 15_000);
      const code = await stranger.relay.proc.exited;
      expect(code).toBe(2);
      expect(stranger.relay.stderr).toContain("this relay no longer belongs to the team on");
      expect(stranger.relay.stderr).toContain("this relay's token is not the one the relays on this Redis (prefix wipe:) use");
      expect(stranger.relay.stderr).toContain("every relay on one Redis needs the same token");
      // The team's token is still the running relay's: it serves, a relay with it joins, one with the other is refused.
      expect((await fetch(`${running.url}/v1/health`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      const joined = await spawnRelay(["--redis", redis.url, "--redis-prefix", "wipe:"], { CLAWLINK_TOKEN: TOKEN });
      expect((await fetch(`${joined.url}/v1/health`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      const again = await refused(["--redis", redis.url, "--redis-prefix", "wipe:"], { CLAWLINK_TOKEN: `${TOKEN}-other` });
      expect(again.code).toBe(2);
      expect(again.stderr).toContain("this relay's token is not the one");
    }, 40_000);

    test("an agent that joined without the token through a relay that re-made an emptied team's marker leaves with that relay", async () => {
      const running = await wipedUnderRunningRelay("wipe2:");
      // A relay without a token takes the emptied store for a tokenless team until the running relay's next heartbeat.
      const stranger = await spawnRelay(["--redis", redis.url, "--redis-prefix", "wipe2:"]);
      const joined = await fetch(`${stranger.url}/v1/agents`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "mallory" }) });
      expect(joined.status).toBe(201);
      const mallory = (await joined.json()) as { id: string; secret: string };
      expect(await stranger.relay.proc.exited).toBe(2);
      expect(stranger.relay.stderr).toContain("the relays on this Redis (prefix wipe2:) require a token, and this relay was started without one");
      const refusedHere = await fetch(`${running.url}/v1/tasks`, { headers: { authorization: `Bearer ${mallory.secret}` } });
      expect(refusedHere.status).toBe(401);
      expect(((await refusedHere.json()) as { error: { code: string } }).error.code).toBe("not_registered");
      const roster = (await (await fetch(`${running.url}/v1/agents?all=true`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { agents: { id: string }[] };
      expect(roster.agents.map((a) => a.id)).not.toContain(mallory.id);
    }, 40_000);

    /** Agents registered with the team's token on a running relay, and Redis emptied under it. */
    async function registeredBefore<const N extends readonly string[]>(prefix: string, ...names: N) {
      const agents = names.map((name) => ({ name, home: tempHome(), relay: "", id: "" })) as { -readonly [K in keyof N]: { name: string; home: string; relay: string; id: string } };
      const running = await wipedUnderRunningRelay(prefix, async (url) => {
        for (const m of agents) {
          m.relay = url;
          m.id = (await runCli(["register", "--name", m.name, "--json"], { ...m, env: { CLAWLINK_TOKEN: TOKEN } })).json.id;
        }
      });
      return { running, agents };
    }

    test("agents registered before the store was emptied come back under their ids once the running relays took the team back from a relay with another token", async () => {
      const { running, agents: [alice, bob] } = await registeredBefore("wipe3:", "alice", "bob");
      const stranger = await spawnRelay(["--redis", redis.url, "--redis-prefix", "wipe3:"], { CLAWLINK_TOKEN: `${TOKEN}-other` });
      expect(await stranger.relay.proc.exited).toBe(2);
      // The relay key their secrets derive from is the team's again, so their saved identities register again as they were.
      for (const m of [alice, bob]) {
        const back = await runCli(["heartbeat", "--json"], m);
        expect(back.stderr).not.toContain(`registered ${m.name} afresh`);
        expect(back.json).toMatchObject({ id: m.id, name: m.name, reregistered: true });
      }
      const sent = await runCli(["delegate", "--to", bob.id, "--task", "still there?", "--json"], alice);
      expect(sent.json.to).toBe(bob.id);
      expect((await runCli(["poll", "--json"], bob)).json).toMatchObject([{ id: sent.json.id, from: alice.id, task: "still there?" }]);
      await running.relay.stop();
    }, 40_000);

    test("a relay of the team started on the emptied store before the running relays noticed takes their key: agents from before come back under their ids on either", async () => {
      const { running, agents: [alice, bob, carol] } = await registeredBefore("wipe4:", "alice", "bob", "carol");
      const newcomer = await spawnRelay(["--redis", redis.url, "--redis-prefix", "wipe4:"], { CLAWLINK_TOKEN: TOKEN });
      await running.relay.waitFor(/lost this team's keys/, 15_000);
      for (const m of [alice, bob]) expect((await runCli(["heartbeat", "--json"], m)).json).toMatchObject({ id: m.id, name: m.name, reregistered: true });
      for (const task of ["one", "two"]) expect((await runCli(["delegate", "--to", "bob", "--task", task, "--json"], alice)).json.to).toBe(bob.id);
      // The newcomer takes the running relay's key at its next heartbeat: a cursor signed by one is good on the other.
      const secretOf = (m: { home: string; name: string }): string => JSON.parse(readFileSync(join(m.home, "identities", `${m.name}.json`), "utf8")).secret;
      const auth = { authorization: `Bearer ${secretOf(alice)}` };
      const cursor = ((await (await fetch(`${running.url}/v1/tasks?limit=1`, { headers: auth })).json()) as { next_cursor: string }).next_cursor;
      await eventually(async () => (await fetch(`${newcomer.url}/v1/tasks?limit=1&cursor=${encodeURIComponent(cursor)}`, { headers: auth })).status === 200, 15_000);
      // carol's saved secret registers her again on the newcomer, under her id, with no token.
      const secret = secretOf(carol);
      const back = await fetch(`${newcomer.url}/v1/agents`, { method: "POST", headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" }, body: JSON.stringify({ id: carol.id, secret, name: "carol" }) });
      expect(back.status).toBe(201);
      expect(await back.json()).toMatchObject({ id: carol.id, name: "carol" });
      expect(newcomer.relay.stderr).not.toContain("lost this team's keys");
      await running.relay.stop();
      await newcomer.relay.stop();
    }, 40_000);

    test("a relay key deleted alone under a running relay is written back by it, so a relay started next takes it: agents' saved secrets still prove them", async () => {
      const cli = (...args: string[]) => Bun.spawnSync(["redis-cli", "-p", String(redis.port), ...args]).stdout.toString().trim();
      const running = await spawnRelay(["--redis", redis.url, "--redis-prefix", "keydel:"], { CLAWLINK_TOKEN: TOKEN });
      const alice = { home: tempHome(), relay: running.url };
      const bob = { home: tempHome(), relay: running.url };
      for (const [m, name] of [[alice, "alice"], [bob, "bob"]] as const) await runCli(["register", "--name", name, "--json"], { ...m, env: { CLAWLINK_TOKEN: TOKEN } });
      for (const task of ["one", "two"]) expect((await runCli(["delegate", "--to", "bob", "--task", task, "--json"], alice)).code).toBe(0);
      const key = cli("--no-raw", "GET", "keydel:relaykey");
      cli("DEL", "keydel:relaykey");
      await eventually(() => cli("--no-raw", "GET", "keydel:relaykey") === key, 15_000);
      // A relay started now takes the team's key: a cursor the running relay signed is good on it.
      const later = await spawnRelay(["--redis", redis.url, "--redis-prefix", "keydel:"], { CLAWLINK_TOKEN: TOKEN });
      const secret: string = JSON.parse(readFileSync(join(alice.home, "identities", "alice.json"), "utf8")).secret;
      const auth = { authorization: `Bearer ${secret}` };
      const cursor = ((await (await fetch(`${running.url}/v1/tasks?limit=1`, { headers: auth })).json()) as { next_cursor: string }).next_cursor;
      expect((await fetch(`${later.url}/v1/tasks?limit=1&cursor=${encodeURIComponent(cursor)}`, { headers: auth })).status).toBe(200);
      expect(cli("--no-raw", "GET", "keydel:relaykey")).toBe(key);
      await running.relay.stop();
      await later.relay.stop();
    }, 40_000);

    test("agents are told every relay of the team, this one first", async () => {
      const a = await spawnRelay(["--redis", redis.url, "--redis-prefix", "list:"]);
      const b = await spawnRelay(["--redis", redis.url, "--redis-prefix", "list:"]);
      await b.relay.waitFor(/agents connect with: /);
      expect(b.relay.stdout + b.relay.stderr).toContain(`agents connect with: CLAWLINK_RELAY=${b.url},${a.url} clawlink register`);
    });
  });
}

test("clawlink --help names --redis beside --data for the relay", async () => {
  const r = await runCli(["--help"]);
  expect(r.code).toBe(0);
  expect(r.stdout + r.stderr).toMatch(/relay .*--data PATH.*--redis URL/);
});
