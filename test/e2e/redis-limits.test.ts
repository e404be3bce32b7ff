/**
 * Two relays on one Redis hold one team to one set of limits: registrations per address, connections per
 * agent and failed authentications count on both together, and a relay that dies gives its connections back.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, cleanup, eventually, runCli, spawnRelay, tempHome } from "../_helpers";
import { redisMissing, startRedis } from "../_redis";

afterAll(cleanup);

const HELD = "open connections \\(WebSockets, long polls, A2A streams and blocking A2A sends\\)";
const TOKEN = "team-token";

if (!redisMissing("test/e2e/redis-limits.test.ts")) {
  describe("two relays on one Redis share their limits", async () => {
    const redis = await startRedis();
    afterAll(() => redis.stop());
    const flags = ["--redis", redis.url, "--max-registrations", "3", "--max-connections-per-agent", "4", "--max-auth-failures", "3"];
    const env = { CLAWLINK_TOKEN: TOKEN };
    const [a, b] = [await spawnRelay(flags, env), await spawnRelay(flags, env)];
    const worker = tempHome();
    const on = (home: string, relay: { url: string }, more: Record<string, string> = {}) => ({ home, relay: relay.url, env: { CLAWLINK_TOKEN: TOKEN, ...more } });

    test("registrations past the limit are refused whichever relay they go to", async () => {
      // The worker's identity belongs to the team: any of the two relays will do for it.
      expect((await runCli(["register", "--name", "worker"], { ...on(worker, a), relay: `${a.url},${b.url}` })).code).toBe(0);
      expect((await runCli(["register", "--name", "second"], on(tempHome(), b))).code).toBe(0);
      expect((await runCli(["register", "--name", "third"], on(tempHome(), a))).code).toBe(0);
      const fourth = await runCli(["register", "--name", "fourth"], on(tempHome(), b));
      expect(fourth.code).toBe(7);
      expect(fourth.stderr).toContain(
        "error: 127.0.0.1 asked to register 3 new agents within a minute (on the relays sharing this one's store together), the relay's limit (--max-registrations 3)",
      );
      expect(fourth.stderr).toMatch(/hint: retry after \d+s/);
      // Coming back with its own identity is not a new agent, on either relay.
      expect((await runCli(["heartbeat"], on(worker, b))).code).toBe(0);
    });

    test("an agent's 5th connection is refused although its 4 are spread over both relays, and one closing anywhere frees a place", async () => {
      const listeners = [new CliProcess(["listen"], on(worker, a)), new CliProcess(["listen"], on(worker, b))];
      for (const l of listeners) await l.waitFor(/listening as worker/);
      const polls = [new CliProcess(["poll", "--wait", "120"], on(worker, a)), new CliProcess(["poll", "--wait", "120"], on(worker, b))];
      // A GET without the upgrade asks whether a socket would open; once the polls wait, it would not.
      const secret = JSON.parse(readFileSync(join(worker, "identities", "worker.json"), "utf8")).secret as string;
      await eventually(async () => (await fetch(`${b.url}/v1/ws`, { headers: { authorization: `Bearer ${secret}` } })).status === 429, 20_000);
      const fifth = await runCli(["poll", "--wait", "5"], on(worker, b));
      expect(fifth.code).toBe(7);
      expect(fifth.stderr).toMatch(
        new RegExp(`error: agent a_\\w+ already holds 4 ${HELD} on the relays sharing this one's store, the relay's limit \\(--max-connections-per-agent\\)`),
      );
      const refused = new CliProcess(["listen"], on(worker, a));
      await refused.waitFor(new RegExp(`the relay refused the connection: agent a_\\w+ already holds 4 ${HELD} on the relays sharing this one's store`));
      expect(refused.proc.exitCode).toBeNull();
      // A listener on relay B stops: the one kept waiting on relay A gets its place.
      expect(await listeners[1]!.stop()).toBe(0);
      await refused.waitFor(/listening as worker/, 20_000);
      for (const p of [...polls, refused, listeners[0]!]) await p.stop();
    }, 60_000);

    test("a relay killed with connections open gives them back: the agent is not locked out for good", async () => {
      const onA = [new CliProcess(["listen"], on(worker, a)), new CliProcess(["listen"], on(worker, a))];
      const onB = [new CliProcess(["listen"], on(worker, b)), new CliProcess(["listen"], on(worker, b))];
      for (const l of [...onA, ...onB]) await l.waitFor(/listening as worker/, 20_000);
      await b.relay.stop("SIGKILL");
      // Until relay A takes B for gone, B's two still count; then a third and a fourth listener on A get in.
      const more = [new CliProcess(["listen"], on(worker, a)), new CliProcess(["listen"], on(worker, a))];
      await more[0]!.waitFor(new RegExp(`the relay refused the connection: agent a_\\w+ already holds 4 ${HELD}`));
      for (const l of more) await l.waitFor(/listening as worker/, 40_000);
      for (const l of [...onA, ...onB, ...more]) await l.stop();
    }, 90_000);

    test("failed authentications counted on one relay throttle another, for the token and for an agent's secret", async () => {
      for (const [i, via] of [a, a, a].entries()) {
        const r = await runCli(["discover"], { home: tempHome(), relay: via.url, env: { CLAWLINK_TOKEN: `wrong-${i}` } });
        expect(r.code).toBe(4);
      }
      const c = await spawnRelay(flags, env);
      // A short token is refused there too, even the right one: a right guess must look like a wrong one.
      const right = await runCli(["discover"], { home: tempHome(), relay: c.url, env: { CLAWLINK_TOKEN: TOKEN } });
      expect(right.code).toBe(7);
      expect(right.stderr).toMatch(
        /error: too many failed authentications for the relay token from 127\.0\.0\.1 \(3 within a minute on the relays sharing this one's store\); the relay refuses them for \d+s/,
      );
      const id = JSON.parse(readFileSync(join(worker, "identities", "worker.json"), "utf8")).id as string;
      const guess = (relay: { url: string }, n: number) => fetch(`${relay.url}/v1/agents/${id}/inbox`, { headers: { authorization: `Bearer ${id}.wrong-${n}` } });
      for (let n = 0; n < 3; n++) expect((await guess(a, n)).status).toBe(401);
      const throttled = await guess(c, 9);
      expect(throttled.status).toBe(429);
      expect(Number(throttled.headers.get("retry-after"))).toBeGreaterThan(0);
      const body = (await throttled.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("too_many_auth_failures");
      expect(body.error.message).toStartWith(`too many failed authentications for agent ${id} from 127.0.0.1 (3 within a minute on the relays sharing this one's store)`);
      // The agent's own secret is never held back by guesses in its name.
      const own = await runCli(["poll", "--json"], { home: worker, relay: `${c.url},${a.url}` });
      expect(own.code).toBe(0);
      await c.relay.stop();
    }, 30_000);
  });
}
