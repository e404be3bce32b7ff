/** Guessing is slow: failed authentications are counted per client address, and past the allowance the address gets 429. */
import { afterAll, describe, expect, test } from "bun:test";
import { AuthThrottle, addressKey } from "../../src/relay/ratelimit";
import { cleanup, runCli, startTestRelay, tempHome } from "../_helpers";
import { api, registerAgent } from "../_http";

afterAll(cleanup);

describe("auth failures are rate limited per client address", () => {
  const relay = startTestRelay({ token: "right", maxAuthFailures: 3 });
  const call = api(relay.url);

  test("requests without credentials are refused but not counted", async () => {
    for (let i = 0; i < 5; i++) expect((await call("GET", "/v1/agents")).status).toBe(401);
    expect((await call("GET", "/v1/agents", { bearer: "right" })).status).toBe(200);
  });

  test("past --max-auth-failures wrong guesses, every request from the address is 429 with Retry-After, even a right one", async () => {
    for (let i = 0; i < 3; i++) expect((await call("GET", "/v1/agents", { bearer: `guess-${i}` })).status).toBe(401);
    const blocked = await call("GET", "/v1/agents", { bearer: "right" });
    expect(blocked.status).toBe(429);
    const retry = Number(blocked.headers.get("retry-after"));
    expect(retry).toBeGreaterThan(50);
    expect(retry).toBeLessThanOrEqual(60);
    expect(blocked.body.error.code).toBe("too_many_auth_failures");
    expect(blocked.body.error.message).toMatch(/^too many failed authentications from 127\.0\.0\.1 \(3 within a minute\); the relay refuses it for \d+s$/);
    expect((await call("POST", "/v1/agents", { bearer: "right", json: { name: "late" } })).status).toBe(429);
    expect((await call("GET", "/v1/ws", { bearer: "right" })).status).toBe(429);
  });

  test("health stays open, so a blocked agent can still tell the relay is up", async () => {
    expect((await call("GET", "/v1/health")).status).toBe(200);
  });

  test("the CLI exits 7 and says when to retry", async () => {
    const r = await runCli(["discover"], { home: tempHome(), relay: relay.url, env: { CLAWLINK_TOKEN: "right" } });
    expect(r.code).toBe(7);
    expect(r.stderr).toContain("error: too many failed authentications from 127.0.0.1");
    expect(r.stderr).toMatch(/hint: check the token .* then retry after \d+s/);
  });
});

describe("what counts as a guess", () => {
  const relay = startTestRelay({ token: "right", maxAuthFailures: 2 });
  const call = api(relay.url);

  test("wrong secrets on the WebSocket and on re-registering count too", async () => {
    const a = await registerAgent(relay.url, "a", "right");
    expect((await call("GET", "/v1/ws", { bearer: `${a.id}.wrong` })).status).toBe(401);
    const takeover = await call("POST", "/v1/agents", { bearer: "right", json: { name: "a", id: a.id, secret: `${a.id}.wrong` } });
    expect(takeover.status).toBe(403);
    expect((await call("GET", `/v1/agents/${a.id}/inbox`, { bearer: a.secret })).status).toBe(429);
  });
});

describe("the throttle", () => {
  test("forgets an address's failures after a minute", () => {
    let now = 1_000_000;
    const t = new AuthThrottle(2, () => now);
    t.fail("10.0.0.1");
    t.fail("10.0.0.1");
    expect(() => t.check("10.0.0.1")).toThrow("too many failed authentications from 10.0.0.1 (2 within a minute); the relay refuses it for 60s");
    expect(() => t.check("10.0.0.2")).not.toThrow();
    now += 59_000;
    expect(() => t.check("10.0.0.1")).toThrow("refuses it for 1s");
    now += 1_000;
    expect(() => t.check("10.0.0.1")).not.toThrow();
    t.fail("10.0.0.1");
    expect(() => t.check("10.0.0.1")).not.toThrow();
  });

  test("counts an IPv6 /64 as one address, and IPv4-mapped addresses as IPv4", () => {
    expect(addressKey("192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    const t = new AuthThrottle(1);
    t.fail("2001:db8:1:2::a");
    expect(() => t.check("2001:db8:1:2::b")).toThrow("too many failed authentications");
    expect(() => t.check("2001:db8:1:3::a")).not.toThrow();
  });
});
