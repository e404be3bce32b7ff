/** The relay through its WebSocket: pushed delivery, sending with acknowledgement frames, task watching. */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, startTestRelay } from "../_helpers";
import { wsConnect } from "../ws";

afterAll(cleanup);

const relay = startTestRelay();
const reg = async (name: string) =>
  (await (await fetch(`${relay.url}/v1/agents`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name }) })).json()) as { id: string; secret: string };

describe("WebSocket", async () => {
  const a = await reg("ws-a");
  const b = await reg("ws-b");
  const ws = `${relay.url}/v1/ws`;

  test("hello, then messages pushed as they are routed; queued ones arrive on connect", async () => {
    await fetch(`${relay.url}/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${a.secret}`, "content-type": "application/json" }, body: JSON.stringify({ type: "task", to: "ws-b", task: "queued first" }) });
    const sock = await wsConnect(ws, b.secret);
    const hello = await sock.next();
    // The record in the hello is the one with this socket attached.
    expect(hello).toMatchObject({ op: "hello", agent: { name: "ws-b", connected: true, status: "listening" } });
    const first = await sock.nextOp("message");
    expect(first.message).toMatchObject({ type: "task", task: "queued first", attempt: 1 });
    await fetch(`${relay.url}/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${a.secret}`, "content-type": "application/json" }, body: JSON.stringify({ type: "broadcast", content: "live" }) });
    expect((await sock.nextOp("message")).message).toMatchObject({ type: "broadcast", content: "live" });
    sock.send({ op: "ack", ids: [first.message.id] });
    sock.close();
    await sock.closed;
  });

  test("send over the socket: each frame is answered with its id or its error, matched by ref", async () => {
    const sender = await wsConnect(ws, a.secret);
    await sender.nextOp("hello");
    sender.send({ op: "send", ref: "r1", message: { type: "broadcast", content: "over ws" } });
    expect(await sender.nextOp("sent")).toMatchObject({ ref: "r1", recipients: 1 });
    sender.send({ op: "send", ref: "r2", message: { type: "task", to: "ghost", task: "x" } });
    expect(await sender.nextOp("error")).toMatchObject({ ref: "r2", error: { code: "unknown_agent" } });
    sender.send({ op: "send", ref: "r3", message: { type: "task" } });
    expect(await sender.nextOp("error")).toMatchObject({ ref: "r3", error: { code: "bad_request" } });
    // A numeric ref is a ref too, echoed as given, on success and on refusal alike.
    sender.send({ op: "send", ref: 7, message: { type: "broadcast", content: "numbered" } });
    expect(await sender.nextOp("sent")).toMatchObject({ ref: 7 });
    sender.send({ op: "send", ref: 8, message: { type: "task" } });
    expect(await sender.nextOp("error")).toMatchObject({ ref: 8, error: { code: "bad_request" } });
    sender.send({ op: "send", ref: { x: 1 }, message: { type: "broadcast", content: "x" } });
    const odd = await sender.nextOp("error");
    expect(odd.ref).toBeUndefined();
    expect(odd.error.message).toContain("ref must be a string (at most 200 characters) or a number");
    sender.send({ op: "bogus" });
    expect((await sender.nextOp("error")).error.message).toContain("op must be one of");
    sender.ws.send("not json");
    expect((await sender.nextOp("error")).error.message).toContain("JSON");
    sender.send({ op: "ping" });
    expect(await sender.nextOp("pong")).toEqual({ op: "pong" });
    sender.close();
  });

  test("a watch socket follows one task to its end, with the response", async () => {
    const sent = (await (await fetch(`${relay.url}/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${a.secret}`, "content-type": "application/json" }, body: JSON.stringify({ type: "task", to: "ws-b", task: "watch me" }) })).json()) as any;
    const watch = await wsConnect(`${ws}?task=${sent.id}`, a.secret);
    await watch.nextOp("hello");
    expect((await watch.nextOp("task")).task.state).toBe("queued");
    const worker = await wsConnect(ws, b.secret);
    await worker.nextOp("hello");
    let m = await worker.nextOp("message");
    while (m.message.id !== sent.id) m = await worker.nextOp("message"); // earlier tests' broadcasts come first
    expect((await watch.nextOp("task")).task.state).toBe("delivered");
    worker.send({ op: "send", ref: "x", message: { type: "response", in_reply_to: sent.id, result: "seen" } });
    let frame = await watch.nextOp("task");
    while (frame.task.state !== "completed") frame = await watch.nextOp("task");
    expect(frame.response).toMatchObject({ type: "response", result: "seen", in_reply_to: sent.id });
    watch.close();
    worker.close();
  });

  test("a watch (delegate --wait) sees every progress note, kept as the task's note; the history records the state change once", async () => {
    const post = (secret: string, body: unknown) =>
      fetch(`${relay.url}/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" }, body: JSON.stringify(body) }).then((r) => r.json() as any);
    const sent = await post(a.secret, { type: "task", to: "ws-b", task: "report as you go" });
    await fetch(`${relay.url}/v1/agents/${b.id}/inbox?max=1000`, { headers: { authorization: `Bearer ${b.secret}` } });
    const watch = await wsConnect(`${ws}?task=${sent.id}`, a.secret);
    await watch.nextOp("hello");
    expect((await watch.nextOp("task")).task).toMatchObject({ state: "delivered", note: null });
    for (const note of ["halfway", "almost there"]) {
      await post(b.secret, { type: "progress", in_reply_to: sent.id, note });
      expect((await watch.nextOp("task")).task).toMatchObject({ state: "working", note });
    }
    const task = (await (await fetch(`${relay.url}/v1/tasks/${sent.id}`, { headers: { authorization: `Bearer ${a.secret}` } })).json()) as any;
    expect(task.note).toBe("almost there");
    expect(task.history.map((h: any) => h.state)).toEqual(["queued", "delivered", "working"]);
    watch.close();
  });

  test("watching someone else's task is refused", async () => {
    const c = await reg("ws-c");
    const sent = (await (await fetch(`${relay.url}/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${a.secret}`, "content-type": "application/json" }, body: JSON.stringify({ type: "task", to: "ws-b", task: "private" }) })).json()) as any;
    const watch = await wsConnect(`${ws}?task=${sent.id}`, c.secret);
    await watch.nextOp("hello");
    expect((await watch.nextOp("error")).error.message).toContain("neither sent nor held by you");
    expect((await watch.closed).code).toBe(4004);
  });

  test("an agent that unregisters loses every socket, its task watches too", async () => {
    const d = await reg("ws-d");
    const sent = (await (await fetch(`${relay.url}/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${d.secret}`, "content-type": "application/json" }, body: JSON.stringify({ type: "task", to: "ws-b", task: "then leave" }) })).json()) as any;
    const inbox = await wsConnect(ws, d.secret);
    await inbox.nextOp("hello");
    const watch = await wsConnect(`${ws}?task=${sent.id}`, d.secret);
    await watch.nextOp("task");
    expect((await fetch(`${relay.url}/v1/agents/${d.id}`, { method: "DELETE", headers: { authorization: `Bearer ${d.secret}` } })).status).toBe(200);
    expect((await inbox.closed).code).toBe(4001);
    expect((await watch.closed).code).toBe(4001);
  });

  test("an upgrade without a registered agent's secret is a JSON 401", async () => {
    const r = await fetch(ws, { headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" } });
    expect(r.status).toBe(401);
    expect(((await r.json()) as any).error.code).toBe("not_registered");
  });
});
