/** The relay through its HTTP API, as any client in any language would use it. */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, startTestRelay } from "../_helpers";

afterAll(cleanup);

const relay = startTestRelay();
const url = relay.url;

async function call(method: string, path: string, opts: { secret?: string; body?: unknown; raw?: string } = {}) {
  const res = await fetch(url + path, {
    method,
    headers: { ...(opts.secret ? { authorization: `Bearer ${opts.secret}` } : {}), "content-type": "application/json" },
    body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text, headers: res.headers };
}

async function register(name: string, caps: string[] = []) {
  const r = await call("POST", "/v1/agents", { body: { name, caps, description: `${name} agent`, machine: "test" } });
  expect(r.status).toBe(201);
  return r.json as { id: string; secret: string; name: string };
}

describe("HTTP API", async () => {
  const a = await register("http-a", ["x"]);
  const b = await register("http-b");

  test("health answers without auth", async () => {
    const r = await call("GET", "/v1/health");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true, version: "test", agents: 2, store: "memory" });
  });

  test("register returns the record with a secret; discover lists records without secrets", async () => {
    expect(a.secret.startsWith(`${a.id}.`)).toBe(true);
    const list = await call("GET", "/v1/agents");
    expect(list.json.agents.map((x: any) => x.name)).toEqual(["http-a", "http-b"]);
    expect(list.json.agents[0].secret).toBeUndefined();
    expect(list.json.agents[0]).toMatchObject({ status: "online", caps: ["x"], machine: "test", connected: false });
    expect((await call("GET", "/v1/agents?cap=x")).json.agents).toHaveLength(1);
  });

  test("a message round trip: send, inbox (leased), ack, empty inbox", async () => {
    const sent = await call("POST", "/v1/messages", { secret: a.secret, body: { type: "task", to: b.id, task: "t1", context: { k: [1, 2] } } });
    expect(sent.status).toBe(201);
    const inbox = await call("GET", `/v1/agents/${b.id}/inbox`, { secret: b.secret });
    expect(inbox.json.messages).toEqual([expect.objectContaining({ id: sent.json.id, type: "task", from: a.id, to: b.id, task: "t1", context: { k: [1, 2] }, priority: "normal" })]);
    expect((await call("GET", `/v1/agents/${b.id}/inbox`, { secret: b.secret })).json.messages).toEqual([]);
    const ack = await call("POST", `/v1/agents/${b.id}/ack`, { secret: b.secret, body: { ids: [sent.json.id, "m_unknown"] } });
    expect(ack.json).toEqual({ acked: 1 });
  });

  test("?ack=true takes messages for good; ?wait long-polls until one arrives", async () => {
    const waiting = call("GET", `/v1/agents/${b.id}/inbox?wait=5&ack=true`, { secret: b.secret });
    await Bun.sleep(100);
    await call("POST", "/v1/messages", { secret: a.secret, body: { type: "broadcast", content: "hi all" } });
    const got = await waiting;
    expect(got.json.messages).toEqual([expect.objectContaining({ type: "broadcast", content: "hi all", to: null })]);
  });

  test("heartbeat reports the pending count; DELETE unregisters", async () => {
    const c = await register("http-c");
    await call("POST", "/v1/messages", { secret: a.secret, body: { type: "task", to: "http-c", task: "x" } });
    const hb = await call("POST", `/v1/agents/${c.id}/heartbeat`, { secret: c.secret });
    expect(hb.json).toMatchObject({ id: c.id, pending: 1, status: "online" });
    expect((await call("DELETE", `/v1/agents/${c.id}`, { secret: c.secret })).status).toBe(200);
    expect((await call("GET", `/v1/agents/${c.id}`)).status).toBe(404);
  });

  test("every error is JSON {error: {code, message, hint}} with a 4xx and a next step", async () => {
    const cases: [string, string, { secret?: string; body?: unknown; raw?: string }, number, string][] = [
      ["POST", "/v1/messages", { secret: a.secret, raw: "{" }, 400, "not valid JSON"],
      ["POST", "/v1/messages", { secret: a.secret, body: { type: "nope" } }, 400, "type must be one of"],
      ["POST", "/v1/messages", { secret: a.secret, body: { type: "task", to: b.id } }, 400, "task"],
      ["POST", "/v1/messages", { secret: a.secret, body: { type: "task", to: "ghost", task: "x" } }, 404, 'no agent is registered as "ghost"'],
      ["POST", "/v1/messages", { secret: a.secret, body: { type: "task", to: b.id, task: "x", from: b.id } }, 403, "an agent can send only as itself"],
      ["POST", "/v1/messages", { body: { type: "broadcast", content: "x" } }, 401, "registered agent"],
      ["POST", "/v1/messages", { secret: "a_nobody.zzz", body: { type: "broadcast", content: "x" } }, 401, "the relay does not know agent a_nobody"],
      ["GET", `/v1/agents/${b.id}/inbox`, { secret: a.secret }, 403, "an agent can act only on itself"],
      ["GET", `/v1/agents/${a.id}/inbox?wait=9999`, { secret: a.secret }, 400, "wait is at most 300"],
      ["POST", "/v1/agents", { body: { name: "" } }, 400, "name"],
      ["POST", "/v1/agents", { body: { name: "http-a" } }, 409, "belongs to agent"],
      ["POST", "/v1/agents", { body: [] }, 400, "registration"],
      ["PATCH", "/v1/agents", {}, 405, "PATCH is not supported"],
      ["GET", "/v1/nope", {}, 404, "no such endpoint"],
      ["GET", "/v1/files/missing.txt", {}, 404, "no shared file"],
      ["PUT", "/v1/files/a%2F..%2Fx", { secret: a.secret, raw: "x" }, 400, "'..' segments"],
      ["GET", "/v1/tasks/t_nope", { secret: a.secret }, 404, "no task has the id"],
      ["GET", "/v1/agents?cap=BAD CAP", {}, 400, "capability"],
      // The relay refuses uppercase capabilities rather than lowercasing them (the CLI lowercases before it sends).
      ["POST", "/v1/agents", { body: { name: "http-c", caps: ["Python"] } }, 400, "caps.0: a capability is 1-64 lowercase"],
      ["GET", `/v1/agents/${a.id}/inbox?ack=yes`, { secret: a.secret }, 400, "ack: must be true or false"],
      ["GET", `/v1/agents/${a.id}/inbox?max=0`, { secret: a.secret }, 400, "max is at least 1"],
    ];
    for (const [method, path, opts, status, message] of cases) {
      const r = await call(method, path, opts);
      expect({ method, path, status: r.status }).toEqual({ method, path, status });
      expect(r.json.error.code).toBeString();
      expect(r.json.error.message).toContain(message);
      expect(r.json.error.hint).not.toBe("");
    }
  });

  test("an oversized message is 413 and changes nothing", async () => {
    const small = startTestRelay({ maxMessageBytes: 2048 });
    const r = await fetch(`${small.url}/v1/agents`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "big", description: "x".repeat(3000) }) });
    expect(r.status).toBe(413);
    expect(((await r.json()) as any).error.message).toContain("larger than the relay's limit of 2048 bytes");
    expect((await small.core.health()).agents).toBe(0);
  });
});
