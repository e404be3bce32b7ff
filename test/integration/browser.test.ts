/**
 * A web page in the user's browser cannot use a relay without a token: JSON must be typed as JSON (so a
 * cross-origin POST needs a preflight the relay never grants), other origins are refused, and a relay without
 * a token (or on loopback) answers only to its own names (DNS rebinding).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { hostname, networkInterfaces } from "node:os";
import { cleanup, startTestRelay } from "../_helpers";
import { api, registerAgent } from "../_http";
import { rawUpgrade, wsConnect } from "../ws";

afterAll(cleanup);

describe("JSON bodies must be sent as application/json", () => {
  const relay = startTestRelay();
  const call = api(relay.url);

  test("a page's text/plain or form POST registers nothing: 415 with what to send", async () => {
    const attempts: Record<string, string>[] = [
      { "content-type": "text/plain;charset=UTF-8" },
      { "content-type": "application/x-www-form-urlencoded" },
      { "content-type": "multipart/form-data; boundary=x" },
      {},
    ];
    for (const headers of attempts) {
      const r = await call("POST", "/v1/agents", { headers, body: '{"name":"mallory"}' });
      expect(r.status).toBe(415);
      expect(r.body.error.code).toBe("unsupported_media_type");
      expect(r.body.error.message).toStartWith("the registration must be sent as application/json");
      expect(r.body.error.hint).toContain("content-type: application/json");
    }
    const untyped = await call("POST", "/v1/agents", { body: '{"name":"mallory"}' });
    expect(untyped.body.error.message).toBe("the registration must be sent as application/json; it came without a content-type");
    expect((await relay.core.health()).agents).toBe(0);
  });

  test("every JSON endpoint checks it; parameters such as charset are fine", async () => {
    const a = await registerAgent(relay.url, "a");
    const plain = { "content-type": "text/plain" };
    const refused = [
      ["POST", "/v1/messages", '{"type":"broadcast","content":"hi"}'],
      ["POST", `/v1/agents/${a.id}/ack`, '{"ids":[]}'],
      ["PUT", "/v1/file-locks/notes.md", '{"ttl_s":30}'],
    ] as const;
    for (const [method, path, body] of refused) {
      const r = await call(method, path, { bearer: a.secret, headers: plain, body });
      expect(r.status).toBe(415);
      expect(r.body.error.code).toBe("unsupported_media_type");
    }
    const typed = await call("POST", "/v1/messages", { bearer: a.secret, headers: { "content-type": "Application/JSON; charset=utf-8" }, body: '{"type":"broadcast","content":"hi"}' });
    expect(typed.status).toBe(201);
  });

  test("a file upload stays raw bytes, whatever its type", async () => {
    const a = await registerAgent(relay.url, "b");
    const r = await call("PUT", "/v1/files/notes.md", { bearer: a.secret, headers: { "content-type": "text/plain" }, body: "# notes" });
    expect(r.status).toBe(201);
  });
});

describe("requests from other origins are refused", () => {
  const relay = startTestRelay();
  const call = api(relay.url);
  const evil = { origin: "http://evil.example" };

  test("a page elsewhere gets 403 cross_origin on every endpoint, health included, and changes nothing", async () => {
    const register = await call("POST", "/v1/agents", { headers: evil, json: { name: "mallory" } });
    expect(register.status).toBe(403);
    expect(register.body.error).toEqual({
      code: "cross_origin",
      message: "the relay does not answer requests from web pages of other origins (origin: http://evil.example)",
      hint: "talk to the relay with the clawlink CLI or an HTTP client that sends no Origin header; a web page can use it only when the relay serves that page itself",
    });
    expect((await relay.core.health()).agents).toBe(0);
    for (const [method, path] of [["GET", "/v1/health"], ["GET", "/v1/agents"], ["OPTIONS", "/v1/agents"], ["GET", "/nowhere"]] as const) {
      const r = await call(method, path, { headers: evil });
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe("cross_origin");
      expect(r.headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  test("the same host on another port, and the opaque origin null, are other origins too", async () => {
    const port = Number(new URL(relay.url).port);
    for (const origin of [`http://127.0.0.1:${port + 1}`, `http://localhost:${port}`, "null", "not a url"]) {
      expect((await call("GET", "/v1/agents", { headers: { origin } })).status).toBe(403);
    }
  });

  test("a browser request marked cross-site is refused even without Origin (an image, a script tag)", async () => {
    for (const site of ["cross-site", "same-site"]) {
      const r = await call("GET", "/v1/agents", { headers: { "sec-fetch-site": site } });
      expect(r.status).toBe(403);
      expect(r.body.error.message).toBe(`the relay does not answer requests a browser sends from another site (sec-fetch-site: ${site})`);
    }
  });

  test("the relay's own origin, a typed address, and clients that send no Origin are answered", async () => {
    expect((await call("GET", "/v1/agents", { headers: { origin: relay.url, "sec-fetch-site": "same-origin" } })).status).toBe(200);
    expect((await call("GET", "/v1/agents", { headers: { "sec-fetch-site": "none" } })).status).toBe(200);
    expect((await call("GET", "/v1/agents")).status).toBe(200);
  });

  test("a WebSocket opened from another origin is refused at the upgrade", async () => {
    const a = await registerAgent(relay.url, "a");
    const refused = await rawUpgrade(`${relay.url}/v1/ws`, { ...evil, authorization: `Bearer ${a.secret}` });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("cross_origin");
    expect((await rawUpgrade(`${relay.url}/v1/ws`, { origin: relay.url, authorization: `Bearer ${a.secret}` })).status).toBe(101);
    const sock = await wsConnect(`${relay.url}/v1/ws`, a.secret);
    expect((await sock.next()).op).toBe("hello");
    sock.close();
  });
});

describe("a loopback relay answers only to loopback names", () => {
  const relay = startTestRelay();
  const call = api(relay.url);
  const port = Number(new URL(relay.url).port);

  test("a rebound name is 421 wrong_host on every endpoint and over WebSocket, with where to connect", async () => {
    const register = await call("POST", "/v1/agents", { headers: { host: `attacker.example:${port}` }, json: { name: "mallory" } });
    expect(register.status).toBe(421);
    expect(register.body.error).toEqual({
      code: "wrong_host",
      message: `this relay listens on loopback and answers only to localhost, 127.0.0.1 or [::1], not to "attacker.example:${port}"`,
      hint: `connect to ${relay.url}; behind a proxy that passes its own host name, start the relay with --allow-host NAME`,
    });
    expect((await relay.core.health()).agents).toBe(0);
    expect((await call("GET", "/v1/health", { headers: { host: `attacker.example:${port}` } })).status).toBe(421);
    const a = await registerAgent(relay.url, "a");
    const ws = await rawUpgrade(`${relay.url}/v1/ws`, { host: `attacker.example:${port}`, authorization: `Bearer ${a.secret}` });
    expect(ws.status).toBe(421);
    expect(ws.body.error.code).toBe("wrong_host");
  });

  test("names that only look loopback, and other ports, are refused", async () => {
    for (const host of [`127.0.0.1.attacker.example:${port}`, `localhost.:${port}`, `localhost:${port + 1}`, `127.0.0.256:${port}`, `[::2]:${port}`, `0.0.0.0:${port}`]) {
      const r = await call("GET", "/v1/health", { headers: { host } });
      expect(r.status).toBe(421);
    }
  });

  test("literal loopback names, with the relay's port or none, are answered", async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LocalHost:${port}`, `127.8.9.10:${port}`, `[::1]:${port}`, "localhost", "127.0.0.1"]) {
      const r = await call("GET", "/v1/health", { headers: { host } });
      expect(r.status).toBe(200);
    }
  });

  test("--allow-host adds a proxy's name, on any port", async () => {
    const proxied = startTestRelay({ allowHosts: ["Relay.Example.com"] });
    const at = api(proxied.url);
    expect((await at("GET", "/v1/health", { headers: { host: "relay.example.com" } })).status).toBe(200);
    expect((await at("GET", "/v1/health", { headers: { host: "relay.example.com:8443" } })).status).toBe(200);
    expect((await at("GET", "/v1/health", { headers: { host: "other.example.com" } })).status).toBe(421);
  });
});

describe("a relay beyond loopback without a token (--insecure) answers only to its own names", () => {
  const relay = startTestRelay({ host: "0.0.0.0" });
  const port = Number(new URL(relay.url).port);
  const call = api(`http://127.0.0.1:${port}`);
  const own = Object.values(networkInterfaces())
    .flat()
    .filter((i) => i?.family === "IPv4" && !i.internal)
    .map((i) => i!.address);

  test("a rebound name is 421 wrong_host, naming the names it answers to and --allow-host", async () => {
    const r = await call("POST", "/v1/agents", { headers: { host: `attacker.example:${port}` }, json: { name: "mallory" } });
    expect(r.status).toBe(421);
    expect(r.body.error.code).toBe("wrong_host");
    expect(r.body.error.message).toStartWith("this relay has no token, so it answers only to its own addresses and host name (");
    expect(r.body.error.message).toContain(hostname().toLowerCase());
    expect(r.body.error.message).toEndWith(`) and to loopback ones, not to "attacker.example:${port}"`);
    expect(r.body.error.hint).toBe("connect by one of those; to reach it by another name (a DNS name, a proxy's), start the relay with --allow-host NAME, or give it a --token");
    expect((await relay.core.health()).agents).toBe(0);
    expect((await rawUpgrade(`http://127.0.0.1:${port}/v1/ws`, { host: `attacker.example:${port}` })).status).toBe(421);
  });

  test("its addresses, its host name and loopback names, with its port or none, are answered; other ports are not", async () => {
    const hosts = [`127.0.0.1:${port}`, `localhost:${port}`, hostname(), `${hostname()}:${port}`, ...own.map((a) => `${a}:${port}`), ...own];
    for (const host of hosts) expect((await call("GET", "/v1/health", { headers: { host } })).status).toBe(200);
    for (const host of [`${hostname()}:${port + 1}`, "192.0.2.250", `${hostname()}.attacker.example`]) expect((await call("GET", "/v1/health", { headers: { host } })).status).toBe(421);
  });

  test("--allow-host adds a name; a relay with a token takes any name", async () => {
    const named = startTestRelay({ host: "0.0.0.0", allowHosts: ["relay.lan"] });
    const at = api(`http://127.0.0.1:${new URL(named.url).port}`);
    expect((await at("GET", "/v1/health", { headers: { host: "relay.lan" } })).status).toBe(200);
    expect((await at("GET", "/v1/health", { headers: { host: "other.lan" } })).status).toBe(421);
    const tokened = startTestRelay({ host: "0.0.0.0", token: "t0k3n" });
    expect((await api(`http://127.0.0.1:${new URL(tokened.url).port}`)("GET", "/v1/health", { headers: { host: "other.lan" } })).status).toBe(200);
  });
});
