/** Hostile input: unknown fields are dropped, prototype keys do nothing, and a refused request changes nothing. */
import { afterAll, describe, expect, test } from "bun:test";
import { MemoryStore } from "../../src/relay/store/memory";
import { cleanup, pendingOf, startTestRelay } from "../_helpers";
import { api, registerAgent } from "../_http";
import { wsConnect } from "../ws";

afterAll(cleanup);

const JSON_TYPE = { "content-type": "application/json" };

const untouched = () => {
  const probe = {} as Record<string, unknown>;
  return probe.polluted === undefined && probe.admin === undefined && Object.keys(Object.prototype).length === 0;
};

describe("hostile input", () => {
  const store = new MemoryStore();
  const relay = startTestRelay({ store });
  const call = api(relay.url);

  test("__proto__, constructor and prototype keys in a task's context pollute nothing and are not stored at the top level", async () => {
    const a = await registerAgent(relay.url, "a");
    const b = await registerAgent(relay.url, "b");
    const body =
      '{"type":"task","to":"b","task":"t","__proto__":{"polluted":1},' +
      '"context":{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},"prototype":{"admin":1},' +
      '"nested":{"__proto__":{"polluted":1}},"keep":1}}';
    const sent = await call("POST", "/v1/messages", { bearer: a.secret, body, headers: JSON_TYPE });
    expect(sent.status).toBe(201);
    expect(untouched()).toBe(true);

    const inbox = await call("GET", `/v1/agents/${b.id}/inbox`, { bearer: b.secret });
    const context = inbox.body.messages[0].context;
    expect(Object.keys(context).sort()).toEqual(["keep", "nested"]);
    // Nested, the key is plain data: an own property that sets no prototype.
    expect(Object.getPrototypeOf((await store.getTask(sent.body.id))!.context.nested)).toBe(Object.prototype);
    expect(inbox.text).toContain('"nested":{"__proto__":{"polluted":1}}');
    expect(untouched()).toBe(true);
  });

  test("unknown fields are dropped: a sender cannot set a task's state, its sender or its id", async () => {
    const a = await registerAgent(relay.url, "c");
    await registerAgent(relay.url, "d");
    const sent = await call("POST", "/v1/messages", {
      bearer: a.secret,
      json: { type: "task", to: "d", task: "t", state: "completed", id: "t_chosen", result: "forged", attempts: 99, admin: true },
    });
    expect(sent.status).toBe(201);
    expect(sent.body.id).not.toBe("t_chosen");
    expect(await store.getTask(sent.body.id)).toMatchObject({ state: "queued", result: null, attempts: 0, from: a.id });
  });

  test("a registration cannot set its own secret hash, id or status", async () => {
    const r = await call("POST", "/v1/agents", {
      headers: JSON_TYPE,
      body: '{"name":"e","secretHash":"0000","status":"online","registeredAt":0,"__proto__":{"secretHash":"1111"}}',
    });
    expect(r.status).toBe(201);
    const record = (await store.getAgent(r.body.id))!;
    expect(record.secretHash).not.toBe("0000");
    expect(record.secretHash).not.toBe("1111");
    expect(untouched()).toBe(true);
  });

  test("prototype keys in a query string or a WebSocket frame do nothing", async () => {
    const a = await registerAgent(relay.url, "f");
    const q = await call("GET", `/v1/agents?__proto__[polluted]=1&constructor=x&cap=code`, { bearer: a.secret });
    expect(q.status).toBe(200);
    const ws = await wsConnect(`${relay.url}/v1/ws`, a.secret);
    await ws.nextOp("hello");
    ws.ws.send('{"op":"ping","__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}');
    await ws.nextOp("pong");
    ws.ws.send('{"op":"send","ref":"x","message":{"type":"broadcast","content":"hi","__proto__":{"admin":1}}}');
    expect(await ws.nextOp("sent")).toMatchObject({ ref: "x" });
    ws.close();
    expect(untouched()).toBe(true);
  });

  test("a context nested too deep is refused before anything is queued (serializing it again could blow the stack)", async () => {
    const a = await registerAgent(relay.url, "g");
    const h = await registerAgent(relay.url, "h");
    const deep = '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000);
    const r = await call("POST", "/v1/messages", { bearer: a.secret, headers: JSON_TYPE, body: `{"type":"task","to":"h","task":"t","context":${deep}}` });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe("invalid message: context: must not nest deeper than 32 levels");
    const array = await call("POST", "/v1/messages", { bearer: a.secret, json: { type: "task", to: "h", task: "t", context: [1, 2] } });
    expect(array.status).toBe(400);
    expect(array.body.error.message).toBe("invalid message: context: must be a JSON object, not an array or a value");
    expect(await pendingOf(relay, h)).toBe(0);
  });

  test("a body that is not UTF-8 or not JSON is a 400 that says so", async () => {
    const a = await registerAgent(relay.url, "i");
    const bytes = await call("POST", "/v1/messages", { bearer: a.secret, headers: JSON_TYPE, body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) });
    expect(bytes.status).toBe(400);
    expect(bytes.body.error.message).toBe("message is not valid UTF-8");
    const text = await call("POST", "/v1/messages", { bearer: a.secret, headers: JSON_TYPE, body: "{nope" });
    expect(text.status).toBe(400);
    expect(text.body.error.message).toStartWith("message is not valid JSON");
  });
});
