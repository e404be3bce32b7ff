/** Bad A2A input gets the specification's error in the binding's shape, never a 5xx, and changes nothing. */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, startTestRelay } from "../_helpers";
import { api, registerAgent } from "../_http";

afterAll(cleanup);

const TOKEN = "t0ken";

describe("A2A errors", async () => {
  const relay = startTestRelay({ token: TOKEN, maxMessageBytes: 4096 });
  const call = api(relay.url);
  await registerAgent(relay.url, "bob", TOKEN, { caps: ["review"] });
  const rpc = (body: unknown, opts: { bearer?: string; path?: string; headers?: Record<string, string> } = {}) =>
    call("POST", opts.path ?? "/a2a/bob", typeof body === "string" ? { bearer: opts.bearer ?? TOKEN, body, headers: { "content-type": "application/json", ...opts.headers } } : { bearer: opts.bearer ?? TOKEN, headers: opts.headers, json: body });
  const send = (text: string) => ({ jsonrpc: "2.0", id: 7, method: "SendMessage", params: { message: { messageId: crypto.randomUUID(), role: "ROLE_USER", parts: [{ text }] }, configuration: { returnImmediately: true } } });
  const tasksOfBob = async () => (await rpc({ jsonrpc: "2.0", id: 1, method: "ListTasks", params: {} })).body.result.totalSize;

  test("malformed JSON is -32700 with id null; a non-request is -32600; both HTTP 200 as JSON-RPC answers", async () => {
    const before = await tasksOfBob();
    const bad = await rpc('{"jsonrpc":"2.0","id":1,"method":"SendMessage"');
    expect(bad.status).toBe(200);
    expect(bad.body).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32700 } });
    expect(bad.body.error.message).toContain("not valid JSON");
    const notRpc = await rpc({ id: 3, method: "SendMessage" });
    expect(notRpc.body).toMatchObject({ id: 3, error: { code: -32600 } });
    expect(notRpc.body.error.message).toContain("not a JSON-RPC 2.0 request: jsonrpc");
    expect((await rpc([send("a batch")])).body.error.code).toBe(-32600);
    expect(await tasksOfBob()).toBe(before);
  });

  test("an unknown method is -32601; a v0.3 method name is -32009 and names its v1.0 successor; push configs are -32003", async () => {
    const unknown = await rpc({ jsonrpc: "2.0", id: "x", method: "Frobnicate", params: {} });
    expect(unknown.body).toMatchObject({ id: "x", error: { code: -32601 } });
    expect(unknown.body.error.message).toContain("no method Frobnicate");
    const legacy = await rpc({ jsonrpc: "2.0", id: 2, method: "message/send", params: {} });
    expect(legacy.body.error.code).toBe(-32009);
    expect(legacy.body.error.data[0].metadata.hint).toContain("SendMessage");
    expect((await rpc({ jsonrpc: "2.0", id: 2, method: "CreateTaskPushNotificationConfig", params: {} })).body.error.code).toBe(-32003);
    expect((await rpc({ jsonrpc: "2.0", id: 2, method: "GetExtendedAgentCard" })).body.error.code).toBe(-32004);
  });

  test("invalid params are -32602 naming the field; a raw-bytes part is -32005; the relay's endpoint wants a skill", async () => {
    const noMessage = await rpc({ jsonrpc: "2.0", id: 4, method: "SendMessage", params: { configuration: {} } });
    expect(noMessage.body).toMatchObject({ id: 4, error: { code: -32602 } });
    expect(noMessage.body.error.message).toContain("message");
    const emptyParts = await rpc({ ...send("x"), params: { message: { messageId: "m1", role: "ROLE_USER", parts: [] } } });
    expect(emptyParts.body.error.message).toContain("at least one part");
    const raw = await rpc({ ...send("x"), params: { message: { messageId: "m2", role: "ROLE_USER", parts: [{ raw: "AAAA" }] } } });
    expect(raw.body.error.code).toBe(-32005);
    const noSkill = await rpc(send("anyone?"), { path: "/a2a/relay" });
    expect(noSkill.body.error.code).toBe(-32602);
    expect(noSkill.body.error.message).toContain('"skill"');
    const routed = await rpc({ ...send("review this"), params: { ...send("review this").params, metadata: { skill: "review" } } }, { path: "/a2a/relay" });
    expect(routed.body.result.task.metadata.clawlink.cap).toBe("review");
  });

  test("unknown tasks are -32001 (404 over HTTP+JSON); a finished task cannot be canceled (-32002) or subscribed to (-32004)", async () => {
    expect((await rpc({ jsonrpc: "2.0", id: 5, method: "GetTask", params: { id: "t_nope" } })).body.error.code).toBe(-32001);
    const rest = await call("GET", "/a2a/bob/tasks/t_nope", { bearer: TOKEN });
    expect(rest.status).toBe(404);
    expect(rest.body.error).toMatchObject({ code: 404, status: "NOT_FOUND", details: [{ reason: "TASK_NOT_FOUND", domain: "a2a-protocol.org" }] });
    const id = (await rpc(send("to cancel"))).body.result.task.id;
    expect((await rpc({ jsonrpc: "2.0", id: 6, method: "CancelTask", params: { id } })).body.result.status.state).toBe("TASK_STATE_CANCELED");
    expect((await rpc({ jsonrpc: "2.0", id: 6, method: "CancelTask", params: { id } })).body.error.code).toBe(-32002);
    const restCancel = await call("POST", `/a2a/bob/tasks/${id}:cancel`, { bearer: TOKEN });
    expect(restCancel.status).toBe(400);
    expect(restCancel.body.error).toMatchObject({ status: "FAILED_PRECONDITION", details: [{ reason: "TASK_NOT_CANCELABLE" }] });
    expect((await rpc({ jsonrpc: "2.0", id: 6, method: "SubscribeToTask", params: { id } })).body.error.code).toBe(-32004);
  });

  test("a wrong or missing bearer is 401 with an A2A error body and a Bearer challenge; nothing is sent", async () => {
    const before = await tasksOfBob();
    const wrong = await rpc(send("sneaky"), { bearer: "not-the-token" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toContain("Bearer");
    // The body was read: the answer carries the request's id.
    expect(wrong.body).toMatchObject({ jsonrpc: "2.0", id: 7, error: { code: -32000, data: [{ reason: "UNAUTHORIZED" }] } });
    const none = await call("POST", "/a2a/bob/message:send", { json: send("x").params });
    expect(none.status).toBe(401);
    expect(none.body.error).toMatchObject({ code: 401, status: "UNAUTHENTICATED" });
    expect(none.body.error.message).toContain("needs a bearer token");
    expect(await tasksOfBob()).toBe(before);
  });

  test("an unknown agent is 404 in either binding; its card too; the relay's card is public", async () => {
    const ghost = await rpc(send("hello?"), { path: "/a2a/ghost" });
    expect(ghost.status).toBe(404);
    expect(ghost.body).toMatchObject({ id: 7, error: { code: -32000, data: [{ reason: "UNKNOWN_AGENT" }] } });
    expect(ghost.body.error.message).toContain('"ghost"');
    expect((await call("GET", "/a2a/ghost/tasks", { bearer: TOKEN })).body.error.status).toBe("NOT_FOUND");
    expect((await call("GET", "/a2a/ghost/.well-known/agent-card.json")).status).toBe(404);
    const misresolved = await call("GET", "/a2a/.well-known/agent-card.json");
    expect(misresolved.status).toBe(404);
    expect(misresolved.body.error.details[0].metadata.hint).toContain("trailing slash");
    expect((await call("GET", "/.well-known/agent-card.json")).body.skills.map((s: any) => s.id)).toEqual(["review"]);
    expect((await call("POST", "/.well-known/agent-card.json")).status).toBe(405);
  });

  test("a notification (no id) is acted on and answered 204 with no body, errors included; refused credentials keep their 401", async () => {
    const before = await tasksOfBob();
    const { id: _, ...notification } = send("fire and forget");
    const sent = await rpc(notification);
    expect(sent.status).toBe(204);
    expect(sent.text).toBe("");
    expect(await tasksOfBob()).toBe(before + 1);
    for (const body of [{ jsonrpc: "2.0", method: "Frobnicate" }, { jsonrpc: "2.0", method: "GetTask", params: { id: "t_nope" } }, { jsonrpc: "2.0", method: "SendMessage", params: {} }]) {
      const r = await rpc(body);
      expect([r.status, r.text]).toEqual([204, ""]);
    }
    const unauthenticated = await rpc(notification, { bearer: "not-the-token" });
    expect([unauthenticated.status, unauthenticated.text]).toEqual([401, ""]);
    expect(unauthenticated.headers.get("www-authenticate")).toContain("Bearer");
    expect(await tasksOfBob()).toBe(before + 1);
  });

  test("hints speak A2A: an unknown skill points to the relay's card, a bad HTTP+JSON body to its binding", async () => {
    const noSkill = await rpc({ ...send("juggle"), params: { ...send("juggle").params, metadata: { skill: "juggling" } } }, { path: "/a2a/relay" });
    expect(noSkill.body.error.message).toBe('no online agent has the skill "juggling"');
    expect(noSkill.body.error.data[0].metadata.hint).toBe("the relay's card (/.well-known/agent-card.json) lists the skills of the agents online now; send again with one of them, or later");
    const badJson = await call("POST", "/a2a/bob/message:send", { bearer: TOKEN, body: "{nope", headers: { "content-type": "application/json" } });
    expect(badJson.status).toBe(400);
    expect(badJson.body.error.details[0].metadata.hint).toBe("send the SendMessageRequest as one JSON object (HTTP+JSON binding)");
    const raw = await rpc({ ...send("x"), params: { message: { messageId: "m3", role: "ROLE_USER", parts: [{ raw: "AAAA" }] } } });
    expect(raw.body.error.data[0].metadata.hint).toBe("send the file as a url part (a link the agent can fetch), or its content as a text or data part");
  });

  test("another protocol version is -32009; a body past --max-message-bytes is 413; an unknown HTTP+JSON path is 404", async () => {
    expect((await rpc(send("old"), { headers: { "A2A-Version": "0.3" } })).body.error.code).toBe(-32009);
    const big = await rpc(send("x".repeat(5000)));
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe(-32000);
    expect((await call("GET", "/a2a/bob/nowhere", { bearer: TOKEN })).status).toBe(404);
    const badQuery = await call("GET", "/a2a/bob/tasks?pageSize=1000", { bearer: TOKEN });
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.error.message).toContain("pageSize is at most 100");
  });

  test("a body not sent as application/json is 415 in either binding (JSON-RPC error -32000, reason UNSUPPORTED_MEDIA_TYPE) and sends nothing", async () => {
    const before = await tasksOfBob();
    const body = JSON.stringify(send("from a form"));
    for (const headers of [{ "content-type": "text/plain" }, {}] as Record<string, string>[]) {
      const viaRpc = await call("POST", "/a2a/bob", { bearer: TOKEN, body, headers });
      expect(viaRpc.status).toBe(415);
      expect(viaRpc.body).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32000, data: [{ reason: "UNSUPPORTED_MEDIA_TYPE" }] } });
      expect(viaRpc.body.error.message).toContain("must be sent as application/json");
      const viaRest = await call("POST", "/a2a/bob/message:send", { bearer: TOKEN, body: JSON.stringify(send("from a form").params), headers });
      expect(viaRest.status).toBe(415);
      expect(viaRest.body.error).toMatchObject({ code: 415, status: "INVALID_ARGUMENT" });
      expect(viaRest.body.error.message).toContain("must be sent as application/json");
    }
    expect(await tasksOfBob()).toBe(before);
  });

  test("a data part or metadata nested past 32 levels is -32602 naming the limit, over either binding", async () => {
    const deep = (n: number): unknown => (n === 0 ? 1 : { a: deep(n - 1) });
    const msg = (parts: unknown[], metadata?: unknown) => ({ ...send("x"), params: { message: { messageId: crypto.randomUUID(), role: "ROLE_USER", parts, ...(metadata ? { metadata } : {}) }, configuration: { returnImmediately: true } } });
    const data = await rpc(msg([{ data: deep(40) }]));
    expect(data.body).toMatchObject({ id: 7, error: { code: -32602 } });
    expect(data.body.error.message).toContain("a data part must not nest deeper than 32 levels");
    const meta = await rpc(msg([{ text: "hi" }], deep(40)));
    expect(meta.body.error.message).toContain("metadata must not nest deeper than 32 levels");
    const rest = await call("POST", "/a2a/bob/message:send", { bearer: TOKEN, json: msg([{ data: deep(40) }]).params });
    expect(rest.status).toBe(400);
    expect(rest.body.error.message).toContain("must not nest deeper than 32 levels");
    expect((await rpc(msg([{ data: deep(20) }]))).body.result.task).toBeDefined();
  });

  test("ListTasks pages with a cursor, newest first", async () => {
    for (const n of [1, 2, 3]) await rpc(send(`page ${n}`));
    const first = (await rpc({ jsonrpc: "2.0", id: 9, method: "ListTasks", params: { pageSize: 2 } })).body.result;
    expect(first.tasks.length).toBe(2);
    expect(first.nextPageToken).not.toBe("");
    const second = (await rpc({ jsonrpc: "2.0", id: 9, method: "ListTasks", params: { pageSize: 2, pageToken: first.nextPageToken } })).body.result;
    const ids = [...first.tasks, ...second.tasks].map((t: any) => t.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(first.tasks[0].status.timestamp >= first.tasks[1].status.timestamp).toBe(true);
    expect((await rpc({ jsonrpc: "2.0", id: 9, method: "ListTasks", params: { pageToken: "garbage" } })).body.error.code).toBe(-32602);
  });
});

test("guessing bearers at /a2a counts toward the auth throttle, whose 429 comes in the binding's shape", async () => {
  const relay = startTestRelay({ token: TOKEN, maxAuthFailures: 2 });
  const call = api(relay.url);
  const guess = () => call("POST", "/a2a/anyone", { bearer: "guess", json: { jsonrpc: "2.0", id: 1, method: "GetTask", params: { id: "t_x" } } });
  expect((await guess()).status).toBe(401);
  expect((await guess()).status).toBe(401);
  const refused = await guess();
  expect(refused.status).toBe(429);
  expect(refused.headers.get("retry-after")).toBeTruthy();
  expect(refused.body).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32000, data: [{ reason: "TOO_MANY_AUTH_FAILURES" }] } });
});

test("a data part nested 100,000 deep with no text is refused with -32602, never a 5xx", async () => {
  const relay = startTestRelay({ token: TOKEN, maxMessageBytes: 2_000_000 });
  await registerAgent(relay.url, "bob", TOKEN);
  const data = '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000);
  const body = `{"jsonrpc":"2.0","id":9,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"data":${data}}]}}}`;
  const res = await api(relay.url)("POST", "/a2a/bob", { bearer: TOKEN, body, headers: { "content-type": "application/json" } });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ id: 9, error: { code: -32602 } });
  expect(res.body.error.message).toContain("must not nest deeper than 32 levels");
});

test("the relay's card is built once per max-age: an agent registered meanwhile shows up only after it", async () => {
  const relay = startTestRelay({ token: TOKEN });
  const call = api(relay.url);
  await registerAgent(relay.url, "bob", TOKEN, { caps: ["review"] });
  const first = await call("GET", "/.well-known/agent-card.json");
  expect(first.headers.get("cache-control")).toBe("max-age=30");
  expect(first.headers.get("content-type")).toStartWith("application/json");
  await registerAgent(relay.url, "carol", TOKEN, { caps: ["translate"] });
  const again = await call("GET", "/a2a/relay/.well-known/agent-card.json");
  expect(again.text).toBe(first.text);
  expect(again.body.skills.map((s: any) => s.id)).toEqual(["review"]);
  // An agent's own card is cheap and always current.
  expect((await call("GET", "/a2a/carol/.well-known/agent-card.json")).body.skills.map((s: any) => s.id)).toEqual(["translate"]);
});

test("ListTasks stops a page past 4 MiB of tasks, as GET /v1/tasks does, and its token goes on from there", async () => {
  const relay = startTestRelay({ token: TOKEN, maxMessageBytes: 1_100_000 });
  const call = api(relay.url);
  await registerAgent(relay.url, "bob", TOKEN);
  const rpc = (body: unknown) => call("POST", "/a2a/bob", { bearer: TOKEN, json: body });
  for (let i = 0; i < 6; i++) {
    const r = await rpc({ jsonrpc: "2.0", id: i, method: "SendMessage", params: { message: { messageId: `m${i}`, role: "ROLE_USER", parts: [{ text: `${i}`.padEnd(1_000_000, "x") }] }, configuration: { returnImmediately: true } } });
    expect(r.body.result.task).toBeDefined();
  }
  const first = (await rpc({ jsonrpc: "2.0", id: 9, method: "ListTasks", params: { pageSize: 100 } })).body.result;
  expect(first.tasks.length).toBe(4);
  expect(first.totalSize).toBe(6);
  const second = (await rpc({ jsonrpc: "2.0", id: 9, method: "ListTasks", params: { pageSize: 100, pageToken: first.nextPageToken } })).body.result;
  expect(second.tasks.length).toBe(2);
  expect(second.nextPageToken).toBe("");
  expect(new Set([...first.tasks, ...second.tasks].map((t: any) => t.id)).size).toBe(6);
});
