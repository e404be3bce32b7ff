/** The registry cannot fill up for good: idle stale agents are forgotten, and new registrations are rate limited per address. */
import { afterAll, describe, expect, test } from "bun:test";
import { TeamLimits } from "../../src/relay/core/limits";
import { RegistrationLimit } from "../../src/relay/registrations";
import { MemoryStore } from "../../src/relay/store/memory";
import { cleanup, eventually, runCli, startTestRelay, tempHome } from "../_helpers";
import { api, registerAgent } from "../_http";

afterAll(cleanup);

describe("--forget-after", () => {
  const relay = startTestRelay({ staleAfterMs: 200, forgetAfterMs: 1000 });
  const call = api(relay.url);

  test("a registration flood is forgotten once stale and idle; agents with work waiting or held are kept", async () => {
    const flood = [];
    for (let i = 0; i < 20; i++) flood.push(await registerAgent(relay.url, `flood${i}`));
    const boss = await registerAgent(relay.url, "boss");
    const holder = await registerAgent(relay.url, "holder");
    const waiting = await registerAgent(relay.url, "waiting");
    // holder takes a task and holds it unfinished; waiting has a broadcast queued.
    await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "holder", task: "long job" } });
    await call("GET", `/v1/agents/${holder.id}/inbox?ack=true`, { bearer: holder.secret });
    await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "waiting", task: "queued job" } });
    expect((await call("GET", "/v1/health")).body.agents).toBe(23);

    // The boss reads the status messages about its tasks: its inbox is empty again.
    expect((await call("GET", `/v1/agents/${boss.id}/inbox?ack=true`, { bearer: boss.secret })).body.messages.length).toBeGreaterThan(0);
    await eventually(async () => (await call("GET", "/v1/health")).body.agents === 2, 5000);
    const left = (await call("GET", "/v1/agents?all=true")).body.agents.map((a: any) => a.name);
    expect(left).toEqual(["holder", "waiting"]);
    const gone = await call("GET", `/v1/agents/${flood[0]!.id}`);
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe("unknown_agent");
    // The boss was forgotten too; the task it sent is not failed by that.
    expect(await relay.core.knows(boss.id)).toBe(false);
  });

  test("a forgotten agent comes back under its id with `heartbeat`", async () => {
    const home = tempHome();
    const registered = await runCli(["register", "--name", "sleeper", "--json"], { home, relay: relay.url });
    await eventually(async () => !(await relay.core.knows(registered.json.id)), 5000);
    const poll = await runCli(["poll"], { home, relay: relay.url });
    expect(poll.code).toBe(5);
    expect(poll.stderr).toContain(`error: the relay does not know agent ${registered.json.id}`);
    const beat = await runCli(["heartbeat", "--json"], { home, relay: relay.url });
    expect(beat.code).toBe(0);
    expect(beat.json).toMatchObject({ id: registered.json.id, reregistered: true });
  });

  test("the relay refuses a --forget-after that is not a duration", async () => {
    const r = await runCli(["relay", "--port", "0", "--forget-after", "soon"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--forget-after: must be a duration such as 90s, 30m, 24h or 7d, not "soon"');
  });
});

describe("--max-registrations", () => {
  const relay = startTestRelay({ maxRegistrations: 3 });
  const call = api(relay.url);

  test("past N new agents a minute from one address, registering is 429 with Retry-After; an identity coming back is not counted", async () => {
    const a = await registerAgent(relay.url, "r1");
    await registerAgent(relay.url, "r2");
    for (let i = 0; i < 5; i++) {
      const back = await call("POST", "/v1/agents", { json: { name: "r1", id: a.id, secret: a.secret } });
      expect(back.status).toBe(201);
    }
    await registerAgent(relay.url, "r3");
    const refused = await call("POST", "/v1/agents", { json: { name: "r4" } });
    expect(refused.status).toBe(429);
    expect(refused.body.error).toEqual({
      code: "too_many_registrations",
      message: "127.0.0.1 asked to register 3 new agents within a minute, the relay's limit (--max-registrations 3)",
      hint: expect.stringMatching(/^retry after \d+s; an agent that is already registered comes back with its own identity/),
    });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await relay.core.health()).agents).toBe(3);
    // Still refused for new agents, still open for existing ones.
    expect((await call("POST", "/v1/agents", { json: { name: "r1", id: a.id, secret: a.secret } })).status).toBe(201);
  });

  test("the CLI exits 7 and says when to retry", async () => {
    const r = await runCli(["register", "--name", "r5"], { home: tempHome(), relay: relay.url });
    expect(r.code).toBe(7);
    expect(r.stderr).toContain("error: 127.0.0.1 asked to register 3 new agents within a minute");
    expect(r.stderr).toMatch(/hint: retry after \d+s/);
  });

  test("the window is a minute per address", async () => {
    let now = 1_000_000;
    const limit = new RegistrationLimit(2, new TeamLimits(new MemoryStore(), () => now, "r_test", false, () => {}));
    await limit.admit("10.0.0.1");
    await limit.admit("10.0.0.1");
    await expect(limit.admit("10.0.0.1")).rejects.toThrow("10.0.0.1 asked to register 2 new agents within a minute");
    await limit.admit("10.0.0.2");
    now += 60_000;
    await limit.admit("10.0.0.1");
  });
});
