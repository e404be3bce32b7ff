/** The relay's memory budgets under attack: queued bytes, bytes per sender, uploads in progress, progress floods, ack floods. */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, pendingOf, startTestRelay, taskOf } from "../_helpers";
import { api, registerAgent } from "../_http";
import { wsConnect, type WsClient } from "../ws";

afterAll(cleanup);

/** Sends every message over one socket and returns the answers (`sent` or `error` frames), in order. */
async function sendAll(ws: WsClient, messages: unknown[]): Promise<any[]> {
  for (const [i, message] of messages.entries()) ws.send({ op: "send", ref: String(i), message });
  const out: any[] = [];
  while (out.length < messages.length) {
    const f = await ws.next(10_000);
    if (f.op === "sent" || f.op === "error") out.push(f);
  }
  return out;
}

async function socket(url: string, secret: string, query = "") {
  const ws = await wsConnect(`${url}/v1/ws${query}`, secret);
  await ws.nextOp("hello");
  return ws;
}

const pending = async (url: string, agent: { id: string; secret: string }) =>
  (await api(url)("POST", `/v1/agents/${agent.id}/heartbeat`, { bearer: agent.secret })).body.pending as number;

describe("bytes held relay-wide (--max-queued-bytes)", () => {
  const relay = startTestRelay({ maxQueuedBytes: 64 * 1024 });
  const call = api(relay.url);

  test("past the budget a send is 429 relay_full naming the limit and its flag, with Retry-After, and nothing changes", async () => {
    const a = await registerAgent(relay.url, "filler");
    const b = await registerAgent(relay.url, "sink");
    const task = { type: "task", to: "sink", task: "x".repeat(10_000) };
    let sent = 0;
    let refused;
    for (let i = 0; i < 20 && !refused; i++) {
      const r = await call("POST", "/v1/messages", { bearer: a.secret, json: task });
      if (r.status === 201) sent++;
      else refused = r;
    }
    // New tasks stop at 7/8 of the budget: the rest is kept for replies.
    expect(sent).toBe(5);
    expect(refused!.status).toBe(429);
    expect(refused!.headers.get("retry-after")).toBe("1");
    expect(refused!.body.error.code).toBe("relay_full");
    expect(refused!.body.error.message).toMatch(/^the relay is full: messages waiting or unacknowledged and unfinished tasks hold \d+ bytes, and \d+ more would pass its limit of 65536 bytes \(--max-queued-bytes; new tasks and broadcasts stop at 88%, keeping the rest for responses, progress and status\)$/);
    expect(refused!.body.error.hint).toContain("--max-queued-bytes");
    expect(await pendingOf(relay, b)).toBe(5);
    expect((await call("GET", "/v1/tasks", { bearer: a.secret })).body.tasks.length).toBe(5);

    // A broadcast that does not fit is skipped, as for a full queue.
    const c = await registerAgent(relay.url, "listener");
    const big = await call("POST", "/v1/messages", { bearer: c.secret, json: { type: "broadcast", content: "y".repeat(10_000) } });
    expect(big.body.recipients).toBe(0);

    // Tasks handed out, and acknowledged, still count until they finish; finished ones make room.
    const taken = await call("GET", `/v1/agents/${b.id}/inbox?max=5`, { bearer: b.secret });
    expect(taken.body.messages.length).toBe(5);
    await call("POST", `/v1/agents/${b.id}/ack`, { bearer: b.secret, json: { ids: taken.body.messages.map((m: any) => m.id) } });
    expect((await call("POST", "/v1/messages", { bearer: a.secret, json: task })).status).toBe(429);
    // The holder's answer fits even now: replies may use the room kept for them.
    const answered = await call("POST", "/v1/messages", { bearer: b.secret, json: { type: "response", in_reply_to: taken.body.messages[0].id, result: "done" } });
    expect(answered.status).toBe(201);
    expect((await call("POST", "/v1/messages", { bearer: a.secret, json: task })).status).toBe(201);
  });
});

describe("bytes held per sender (--max-sender-bytes)", () => {
  const relay = startTestRelay({ maxSenderBytes: 32 * 1024 });
  const call = api(relay.url);

  test("one agent's messages waiting anywhere are bounded; other senders are not held back by it", async () => {
    const flood = await registerAgent(relay.url, "flood");
    const r1 = await registerAgent(relay.url, "r1");
    const r2 = await registerAgent(relay.url, "r2");
    const other = await registerAgent(relay.url, "other");
    const note = (to: string) => ({ type: "task", to, task: "z".repeat(5_000) });
    const answers: number[] = [];
    for (let i = 0; i < 10; i++) answers.push((await call("POST", "/v1/messages", { bearer: flood.secret, json: note(i % 2 ? "r1" : "r2") })).status);
    expect(answers.filter((s) => s === 201).length).toBe(6);
    const refused = await call("POST", "/v1/messages", { bearer: flood.secret, json: note("r1") });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe("sender_full");
    expect(refused.body.error.message).toMatch(/^your messages waiting or unacknowledged and your unfinished tasks hold \d+ bytes, and \d+ more would pass the relay's limit of 32768 bytes per sender \(--max-sender-bytes\)$/);
    expect(refused.headers.get("retry-after")).toBe("1");
    // Tasks waiting for a capability nobody has yet count too.
    expect((await call("POST", "/v1/messages", { bearer: flood.secret, json: { type: "task", cap: "later", queue: true, task: "w".repeat(5_000) } })).status).toBe(429);

    expect((await call("POST", "/v1/messages", { bearer: other.secret, json: note("r1") })).status).toBe(201);
    const inbox = await call("GET", `/v1/agents/${r1.id}/inbox?ack=true`, { bearer: r1.secret });
    expect(inbox.body.messages.length).toBe(4);
    // Taken and acknowledged, its tasks still count against their sender until they finish.
    expect((await call("POST", "/v1/messages", { bearer: flood.secret, json: note("r2") })).status).toBe(429);
    for (const m of inbox.body.messages.filter((m: any) => m.from === flood.id)) {
      expect((await call("POST", "/v1/messages", { bearer: r1.secret, json: { type: "response", in_reply_to: m.id, result: "ok" } })).status).toBe(201);
    }
    expect((await call("POST", "/v1/messages", { bearer: flood.secret, json: note("r2") })).status).toBe(201);
    expect(await pendingOf(relay, r2)).toBe(4);
  });
});

describe("what a task's holder can push to its requester (--max-queue)", () => {
  const relay = startTestRelay({ maxQueue: 5 });
  const call = api(relay.url);

  test("a flood of progress notes leaves one unread note per task: the latest", async () => {
    const boss = await registerAgent(relay.url, "boss");
    const worker = await registerAgent(relay.url, "worker");
    const task = await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "worker", task: "long job" } });
    await call("GET", `/v1/agents/${worker.id}/inbox?ack=true`, { bearer: worker.secret });
    const ws = await socket(relay.url, worker.secret, "?types=broadcast");
    const answers = await sendAll(ws, Array.from({ length: 2000 }, (_, i) => ({ type: "progress", in_reply_to: task.body.id, note: `step ${i}`.padEnd(1000, ".") })));
    expect(answers.filter((f) => f.op === "error")).toEqual([]);
    ws.close();
    // The task's status (now working) and the latest note.
    expect(await pending(relay.url, boss)).toBe(2);
    const inbox = (await call("GET", `/v1/agents/${boss.id}/inbox?ack=true`, { bearer: boss.secret })).body.messages;
    expect(inbox.map((m: any) => [m.type, m.type === "status" ? m.state : m.note.split(".")[0]])).toEqual([
      ["status", "working"],
      ["progress", "step 1999"],
    ]);
  });

  test("progress and responses to a requester whose queue is full are 429 queue_full, and nothing changes until it reads", async () => {
    const boss = await registerAgent(relay.url, "boss2");
    const worker = await registerAgent(relay.url, "worker2");
    const chatty = await registerAgent(relay.url, "chatty");
    const task = await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "worker2", task: "job" } });
    await call("GET", `/v1/agents/${worker.id}/inbox?ack=true`, { bearer: worker.secret });
    for (let i = 0; i < 5; i++) await call("POST", "/v1/messages", { bearer: chatty.secret, json: { type: "broadcast", content: `news ${i}` } });
    expect(await pending(relay.url, boss)).toBe(5);

    for (const body of [{ type: "response", in_reply_to: task.body.id, result: "done" }, { type: "progress", in_reply_to: task.body.id, note: "half" }]) {
      const r = await call("POST", "/v1/messages", { bearer: worker.secret, json: body });
      expect(r.status).toBe(429);
      expect(r.body.error).toMatchObject({ code: "queue_full", message: "boss2's queue is full (5 messages waiting)" });
    }
    expect((await taskOf(relay, boss, task.body.id)).state).toBe("delivered");

    // Messages handed out and not acknowledged still take room.
    const taken = (await call("GET", `/v1/agents/${boss.id}/inbox?max=5`, { bearer: boss.secret })).body.messages;
    expect((await call("POST", "/v1/messages", { bearer: worker.secret, json: { type: "response", in_reply_to: task.body.id, result: "done" } })).status).toBe(429);
    await call("POST", `/v1/agents/${boss.id}/ack`, { bearer: boss.secret, json: { ids: taken.map((m: any) => m.id) } });
    expect((await call("POST", "/v1/messages", { bearer: worker.secret, json: { type: "response", in_reply_to: task.body.id, result: "done" } })).status).toBe(201);
    const inbox = (await call("GET", `/v1/agents/${boss.id}/inbox`, { bearer: boss.secret })).body.messages;
    expect(inbox.map((m: any) => m.type).sort()).toEqual(["response", "status"]);
  });
});

describe("acking by task costs what it clears, not the inbox", () => {
  const relay = startTestRelay({ maxQueue: 20_000 });
  const call = api(relay.url);

  test("an agent holding 10,000 messages floods 200 ack frames of 1000 task ids: the right messages go, the rest stay, and another client is answered", async () => {
    const boss = await registerAgent(relay.url, "acker");
    const chatty = await registerAgent(relay.url, "talker");
    const talker = await socket(relay.url, chatty.secret, "?types=status");
    const news = await sendAll(talker, Array.from({ length: 10_000 }, (_, i) => ({ type: "broadcast", content: `news ${i}` })));
    expect(news.every((f) => f.op === "sent" && f.recipients === 1)).toBe(true);
    const worker = await registerAgent(relay.url, "taker");
    // A socket that takes none of the boss's inbox, to send on.
    const sender = await socket(relay.url, boss.secret, "?files=none/");
    const tasks = await sendAll(sender, Array.from({ length: 1000 }, (_, i) => ({ type: "task", to: "taker", task: `job ${i}` })));
    const ids = tasks.map((f) => f.id as string);
    // Each task handed out tells the boss: 1000 status messages join the 10,000 broadcasts.
    await call("GET", `/v1/agents/${worker.id}/inbox?max=1000&ack=true`, { bearer: worker.secret });
    expect(await pending(relay.url, boss)).toBe(11_000);

    const watch = await socket(relay.url, boss.secret, `?task=${ids[0]}`);
    for (let i = 0; i < 200; i++) watch.send({ op: "ack", tasks: ids });
    watch.send({ op: "ping" });
    await watch.nextOp("pong", 25_000);
    const other = await registerAgent(relay.url, "bystander");
    expect((await call("POST", "/v1/messages", { bearer: other.secret, json: { type: "task", to: "taker", task: "still served" } })).status).toBe(201);
    expect(await pending(relay.url, boss)).toBe(10_000);
    const first = (await call("GET", `/v1/agents/${boss.id}/inbox?max=3`, { bearer: boss.secret })).body.messages;
    expect(first.map((m: any) => m.content)).toEqual(["news 0", "news 1", "news 2"]);
    watch.close();
    sender.close();
    talker.close();
  }, 30_000);

  test("an ack names at most 1000 ids in each list, over HTTP and WebSocket, with a clear error", async () => {
    const a = await registerAgent(relay.url, "counter");
    const ids = Array.from({ length: 1001 }, (_, i) => `m_${i}`);
    const http = await call("POST", `/v1/agents/${a.id}/ack`, { bearer: a.secret, json: { ids } });
    expect(http.status).toBe(400);
    expect(http.body.error.message).toContain("an ack names at most 1000 message ids; send the rest in another ack");
    const tasksHttp = await call("POST", `/v1/agents/${a.id}/ack`, { bearer: a.secret, json: { tasks: ids } });
    expect(tasksHttp.body.error.message).toContain("an ack names at most 1000 task ids; send the rest in another ack");
    const ws = await socket(relay.url, a.secret);
    ws.send({ op: "ack", ids });
    expect((await ws.nextOp("error")).error.message).toContain("an ack names at most 1000 message ids");
    ws.send({ op: "ack", ids: ids.slice(0, 1000) });
    ws.send({ op: "ping" });
    expect((await ws.next()).op).toBe("pong");
    ws.close();
  });
});
