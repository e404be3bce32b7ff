/** Guessing is slow: failed authentications are counted per client address and claimed identity, and past the allowance that pair gets 429. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TeamLimits } from "../../src/relay/core/limits";
import { AuthThrottle, addressKey, claimOf, isUnguessable } from "../../src/relay/ratelimit";
import { MemoryStore } from "../../src/relay/store/memory";
import { cleanup, runCli, startTestRelay, tempHome } from "../_helpers";
import { api, registerAgent } from "../_http";

afterAll(cleanup);

type Agent = { id: string; secret: string };

describe("auth failures are rate limited per client address and claimed identity", () => {
  const relay = startTestRelay({ token: "right", maxAuthFailures: 3 });
  const call = api(relay.url);

  test("requests without credentials are refused but not counted", async () => {
    for (let i = 0; i < 5; i++) expect((await call("GET", "/v1/agents")).status).toBe(401);
    expect((await call("GET", "/v1/agents", { bearer: "right" })).status).toBe(200);
  });

  test("past --max-auth-failures wrong tokens, a short token is 429 with Retry-After from that address, even the right one", async () => {
    for (let i = 0; i < 3; i++) expect((await call("GET", "/v1/agents", { bearer: `guess-${i}` })).status).toBe(401);
    const blocked = await call("GET", "/v1/agents", { bearer: "right" });
    expect(blocked.status).toBe(429);
    const retry = Number(blocked.headers.get("retry-after"));
    expect(retry).toBeGreaterThan(50);
    expect(retry).toBeLessThanOrEqual(60);
    expect(blocked.body.error.code).toBe("too_many_auth_failures");
    expect(blocked.body.error.message).toMatch(/^too many failed authentications for the relay token from 127\.0\.0\.1 \(3 within a minute\); the relay refuses them for \d+s$/);
    expect((await call("POST", "/v1/agents", { bearer: "right", json: { name: "late" } })).status).toBe(429);
    expect((await call("GET", "/v1/ws", { bearer: "right" })).status).toBe(429);
  });

  test("health stays open, so a blocked client can still tell the relay is up", async () => {
    expect((await call("GET", "/v1/health")).status).toBe(200);
  });

  test("the CLI exits 7 and says when to retry", async () => {
    const r = await runCli(["discover"], { home: tempHome(), relay: relay.url, env: { CLAWLINK_TOKEN: "right" } });
    expect(r.code).toBe(7);
    expect(r.stderr).toContain("error: too many failed authentications for the relay token from 127.0.0.1");
    expect(r.stderr).toMatch(/hint: check the token .* then retry after \d+s/);
  });
});

describe("an unguessable token is never held back by others' failures", () => {
  const strong = "4f3c9e1a7b2d8c6e0f5a9b3d7c1e2f48";
  const relay = startTestRelay({ token: strong, maxAuthFailures: 3 });
  const call = api(relay.url);

  test("past the allowance, wrong tokens from this address are 429 while the right one still registers and lists", async () => {
    for (let i = 0; i < 5; i++) await call("GET", "/v1/agents", { bearer: `guess-${i}` });
    const wrong = await call("GET", "/v1/agents", { bearer: "guess-again" });
    expect(wrong.status).toBe(429);
    expect(wrong.body.error.code).toBe("too_many_auth_failures");
    expect(wrong.body.error.message).toStartWith("too many failed authentications for the relay token from 127.0.0.1 (3 within a minute)");
    expect((await call("GET", "/v1/agents", { bearer: strong })).status).toBe(200);
    expect((await call("POST", "/v1/agents", { bearer: strong, json: { name: "joins-anyway" } })).status).toBe(201);
    const cli = await runCli(["discover", "--json"], { home: tempHome(), relay: relay.url, env: { CLAWLINK_TOKEN: strong } });
    expect(cli.code).toBe(0);
  });
});

describe("one local process cannot lock out the others", () => {
  const relay = startTestRelay({ token: "right", maxAuthFailures: 3 });
  const call = api(relay.url);
  let a: Agent, b: Agent, c: Agent, d: Agent;
  beforeAll(async () => {
    [a, b, c, d] = (await Promise.all(["a", "b", "c", "d"].map((name) => registerAgent(relay.url, name, "right")))) as [Agent, Agent, Agent, Agent];
  });

  test("agents acting with their own secrets are not throttled by another's wrong tokens from the same address", async () => {
    for (let i = 0; i < 10; i++) await call("GET", "/v1/agents", { bearer: `guess-${i}` });
    expect((await call("GET", "/v1/agents", { bearer: "right" })).status).toBe(429);
    const sent = await call("POST", "/v1/messages", { bearer: a.secret, json: { type: "task", to: "b", task: "still works" } });
    expect(sent.status).toBe(201);
    expect((await call("GET", `/v1/agents/${b.id}/inbox`, { bearer: b.secret })).body.messages[0].task).toBe("still works");
  });

  test("failing in an agent's name refuses the wrong secrets, never the agent's own", async () => {
    for (let i = 0; i < 3; i++) expect((await call("GET", "/v1/ws", { bearer: `${c.id}.wrong-${i}` })).status).toBe(401);
    const wrong = await call("GET", `/v1/agents/${c.id}/inbox`, { bearer: `${c.id}.wrong` });
    expect(wrong.status).toBe(429);
    expect(wrong.body.error.message).toStartWith(`too many failed authentications for agent ${c.id} from 127.0.0.1 (3 within a minute)`);
    expect(wrong.body.error.hint).toContain(`this is not agent ${c.id}'s secret`);
    expect((await call("GET", `/v1/agents/${c.id}/inbox`, { bearer: c.secret })).status).toBe(200);
    const cli = await runCli(["discover", "--json"], { home: tempHome(), relay: relay.url, env: { CLAWLINK_TOKEN: c.secret } });
    expect(cli.code).toBe(0);
  });

  test("a wrong secret in a re-registration is refused (403) without counting: secrets are 256 unguessable bits", async () => {
    for (let i = 0; i < 5; i++) {
      const takeover = await call("POST", "/v1/agents", { bearer: d.secret, json: { name: "d", id: d.id, secret: `${d.id}.wrong` } });
      expect(takeover.status).toBe(403);
    }
  });
});

describe("the throttle", () => {
  const token = (bearer = "guess") => ({ bearer, who: "token" });
  const never = () => false;

  test("forgets a pair's failures after a minute", () => {
    let now = 1_000_000;
    const t = new AuthThrottle(2, () => now);
    t.fail("10.0.0.1", "token");
    t.fail("10.0.0.1", "token");
    expect(() => t.check("10.0.0.1", token(), never)).toThrow("too many failed authentications for the relay token from 10.0.0.1 (2 within a minute); the relay refuses them for 60s");
    expect(() => t.check("10.0.0.2", token(), never)).not.toThrow();
    expect(() => t.check("10.0.0.1", { bearer: "a_x.y", who: "a_x" }, never)).not.toThrow();
    now += 59_000;
    expect(() => t.check("10.0.0.1", token(), never)).toThrow("refuses them for 1s");
    now += 1_000;
    expect(() => t.check("10.0.0.1", token(), never)).not.toThrow();
    t.fail("10.0.0.1", "token");
    expect(() => t.check("10.0.0.1", token(), never)).not.toThrow();
  });

  test("a credential that proves itself (an agent's secret, an unguessable token) passes its pair's lock; a guessable one waits", () => {
    const t = new AuthThrottle(1);
    t.fail("10.0.0.1", "a_x");
    t.fail("10.0.0.1", "token");
    expect(() => t.check("10.0.0.1", { bearer: "a_x.right", who: "a_x" }, (b) => b === "a_x.right")).not.toThrow();
    expect(() => t.check("10.0.0.1", { bearer: "a_x.wrong", who: "a_x" }, (b) => b === "a_x.right")).toThrow("for agent a_x");
    expect(() => t.check("10.0.0.1", token("right"), () => false)).toThrow("for the relay token");
    expect(() => t.check("10.0.0.1", token("right"), (b) => b === "right")).not.toThrow();
  });

  test("throttles of relays sharing a store count together; one that saw nothing learns a pair's failures before a guessable credential is tried", async () => {
    const team = new TeamLimits(new MemoryStore(), Date.now, "r_test", true, () => {});
    const [one, two, three] = [0, 1, 2].map(() => new AuthThrottle(3, Date.now, undefined, team)) as [AuthThrottle, AuthThrottle, AuthThrottle];
    expect(await one.fail("10.0.0.1", "token")).toBeUndefined();
    expect(await two.fail("10.0.0.1", "token")).toBeUndefined();
    // The failure that uses up the allowance is answered as it was; the next, on any of them, is refused.
    expect(await one.fail("10.0.0.1", "token")).toBeUndefined();
    const refused = await two.fail("10.0.0.1", "token");
    expect(refused?.code).toBe("too_many_auth_failures");
    expect(refused?.message).toMatch(/^too many failed authentications for the relay token from 10\.0\.0\.1 \(3 within a minute on the relays sharing this one's store\); the relay refuses them for \d+s$/);
    expect(() => three.check("10.0.0.1", token("right"), never)).not.toThrow();
    await three.recall("10.0.0.1", token("right"));
    expect(() => three.check("10.0.0.1", token("right"), never)).toThrow("too many failed authentications for the relay token from 10.0.0.1");
    expect(() => three.check("10.0.0.2", token("right"), never)).not.toThrow();
    expect(() => three.check("10.0.0.1", { bearer: "a_x.y", who: "a_x" }, never)).not.toThrow();
  });

  test("a token is unguessable from 32 characters that are not a few repeated", () => {
    expect(isUnguessable("0123456789abcdef0123456789abcdef")).toBe(true);
    expect(isUnguessable("a".repeat(64))).toBe(false);
    expect(isUnguessable("abab".repeat(10))).toBe(false);
    expect(isUnguessable("0123456789abcdef0123456789abcde")).toBe(false);
  });

  test("50,000 one-shot failures from other addresses do not free a refused pair", () => {
    const t = new AuthThrottle(3, Date.now, 1000);
    for (let i = 0; i < 3; i++) t.fail("10.0.0.1", "token");
    for (let i = 0; i < 50_000; i++) t.fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, "token");
    expect(() => t.check("10.0.0.1", token(), never)).toThrow("too many failed authentications");
  });

  test("a pair that is nearly refused outlives a flood of one-shot failures", () => {
    const t = new AuthThrottle(3, Date.now, 1000);
    for (let i = 0; i < 2; i++) t.fail("10.0.0.1", "token");
    for (let i = 0; i < 50_000; i++) t.fail("10.0.0.2", `a_${i.toString(36)}`);
    t.fail("10.0.0.1", "token");
    expect(() => t.check("10.0.0.1", token(), never)).toThrow("(3 within a minute)");
  });

  test("once every tracked pair is refused, new pairs share one allowance per /16, never with clients elsewhere", () => {
    const t = new AuthThrottle(2, Date.now, 10);
    for (let i = 0; i < 10; i++) for (let j = 0; j < 2; j++) t.fail(`10.0.0.${i}`, "token");
    expect(() => t.check("10.0.1.1", token(), never)).not.toThrow();
    t.fail("10.0.1.1", "token");
    t.fail("10.0.1.2", "token");
    expect(() => t.check("10.0.1.3", token(), never)).toThrow("too many failed authentications");
    expect(() => t.check("10.0.0.0", token(), never)).toThrow("too many failed authentications");
    expect(() => t.check("192.168.1.20", token(), never)).not.toThrow();
  });

  test("an attacker that fills the table from one address cannot hold back a client on another network that never failed", () => {
    const t = new AuthThrottle(3, Date.now, 10);
    for (let k = 0; k < 10; k++) for (let i = 0; i < 3; i++) t.fail("10.0.0.66", `a_${String(k).padStart(12, "0")}`);
    for (let i = 0; i < 3; i++) t.fail("10.0.0.66", `a_x${i}`.padEnd(14, "0"));
    expect(() => t.check("10.0.0.66", token(), never)).toThrow("too many failed authentications for the relay token from 10.0.0.66 (3 within a minute)");
    expect(() => t.check("192.168.1.20", token("RIGHT-TOKEN"), never)).not.toThrow();
    expect(() => t.check("2001:db8::1", token("RIGHT-TOKEN"), never)).not.toThrow();
  });

  test("counts an IPv6 /64, and all of 127.0.0.0/8, as one address; IPv4-mapped addresses as IPv4", () => {
    expect(addressKey("192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("127.0.0.1")).toBe("127.0.0.0/8");
    expect(addressKey("127.45.6.7")).toBe("127.0.0.0/8");
    expect(addressKey("::ffff:127.0.0.2")).toBe("127.0.0.0/8");
    expect(addressKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    const t = new AuthThrottle(1);
    t.fail("2001:db8:1:2::a", "token");
    expect(() => t.check("2001:db8:1:2::b", token(), never)).toThrow("too many failed authentications");
    expect(() => t.check("2001:db8:1:3::a", token(), never)).not.toThrow();
    t.fail("127.0.0.9", "token");
    expect(() => t.check("127.0.0.1", token(), never)).toThrow("too many failed authentications");
  });

  test("a secret names the agent it claims; anything else claims the token", () => {
    const claim = (authorization: string) => claimOf(new Request("http://x/", { headers: { authorization } }));
    expect(claim("Bearer a_4k9m2x7qp3ja.abc")).toEqual({ bearer: "a_4k9m2x7qp3ja.abc", who: "a_4k9m2x7qp3ja" });
    expect(claim("bearer   a_4k9m2x7qp3ja.abc")?.who).toBe("a_4k9m2x7qp3ja");
    expect(claim("Bearer some.token")?.who).toBe("token");
    expect(claim("Bearer a_" + "x".repeat(100) + ".y")?.who).toBe("token");
    expect(claimOf(new Request("http://x/"))).toBeUndefined();
  });
});
