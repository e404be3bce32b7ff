/**
 * What an agent that never reads can pin: its queue is bounded in bytes (--max-recipient-bytes), a
 * share of every byte budget is kept for replies, and what it leaves unread expires (--message-ttl).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, pendingOf, startTestRelay } from "../_helpers";
import { api, registerAgent } from "../_http";

afterAll(cleanup);

const HOUR = 3600_000;

describe("bytes waiting for one recipient (--max-recipient-bytes)", () => {
  const relay = startTestRelay({ maxRecipientBytes: 64 * 1024 });
  const call = api(relay.url);

  test("senders to an agent that never reads get 429 recipient_full; other recipients still get theirs", async () => {
    const sink = await registerAgent(relay.url, "sink");
    const other = await registerAgent(relay.url, "other");
    const senders = await Promise.all([1, 2, 3].map((i) => registerAgent(relay.url, `flood${i}`)));
    const task = { type: "task", to: "sink", task: "x".repeat(10_000) };
    let sent = 0;
    let refused;
    for (let i = 0; i < 30 && !refused; i++) {
      const r = await call("POST", "/v1/messages", { bearer: senders[i % 3]!.secret, json: task });
      if (r.status === 201) sent++;
      else refused = r;
    }
    // 7/8 of 64 KiB: five tasks of ten thousand characters, whoever sends them.
    expect(sent).toBe(5);
    expect(refused!.status).toBe(429);
    expect(refused!.headers.get("retry-after")).toBe("1");
    expect(refused!.body.error.code).toBe("recipient_full");
    expect(refused!.body.error.message).toMatch(
      /^sink's messages waiting or unacknowledged hold \d+ bytes, and \d+ more would pass the relay's limit of 65536 bytes per recipient \(--max-recipient-bytes; new tasks and broadcasts stop at 88%, keeping the rest for responses, progress and status\)$/,
    );
    expect(refused!.body.error.hint).toContain("--message-ttl");
    expect(await pendingOf(relay, sink)).toBe(5);
    expect((await call("POST", "/v1/messages", { bearer: senders[0]!.secret, json: { ...task, to: "other" } })).status).toBe(201);
    expect(await pendingOf(relay, other)).toBe(1);
  });
});

describe("room kept for replies (the last eighth of each byte budget)", () => {
  const relay = startTestRelay({ maxQueuedBytes: 64 * 1024 });
  const call = api(relay.url);

  test("with the relay-wide budget full of tasks for an agent that never reads, a task in flight is still answered, with its status", async () => {
    const boss = await registerAgent(relay.url, "boss");
    const worker = await registerAgent(relay.url, "worker");
    const sink = await registerAgent(relay.url, "sink");
    const flood = await registerAgent(relay.url, "flood");
    const job = (await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "worker", task: "the real job" } })).body.id;
    await call("GET", `/v1/agents/${worker.id}/inbox?ack=true`, { bearer: worker.secret });
    let refused;
    for (let i = 0; i < 20 && !refused; i++) {
      const r = await call("POST", "/v1/messages", { bearer: flood.secret, json: { type: "task", to: "sink", task: "x".repeat(5_000) } });
      if (r.status !== 201) refused = r;
    }
    expect(refused!.body.error.code).toBe("relay_full");
    // New work is refused to everyone, as the budget says...
    expect((await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "worker", task: "y".repeat(5_000) } })).body.error.code).toBe("relay_full");
    // ...but the answers to what is in flight get through.
    const progress = await call("POST", "/v1/messages", { bearer: worker.secret, json: { type: "progress", in_reply_to: job, note: "half way" } });
    expect(progress.status).toBe(201);
    const answer = await call("POST", "/v1/messages", { bearer: worker.secret, json: { type: "response", in_reply_to: job, result: "r".repeat(3_000) } });
    expect(answer.status).toBe(201);
    const inbox = (await call("GET", `/v1/agents/${boss.id}/inbox`, { bearer: boss.secret })).body.messages;
    // The unread status "working" was replaced by "completed".
    expect(inbox.map((m: any) => [m.type, m.type === "progress" ? m.note : m.type === "response" ? m.status : m.state])).toEqual([
      ["progress", "half way"],
      ["response", "completed"],
      ["status", "completed"],
    ]);
  });
});

describe("what waits unread expires (--message-ttl)", () => {
  test("tasks and messages an agent never took are dropped after the ttl, their bytes freed, and each task's sender told it expired", async () => {
    let now = Date.now();
    const relay = startTestRelay({ clock: () => now, messageTtlMs: HOUR, maxRecipientBytes: 64 * 1024 });
    const call = api(relay.url);
    const boss = await registerAgent(relay.url, "boss");
    const sink = await registerAgent(relay.url, "sink");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "sink", task: "x".repeat(10_000) } })).body.id);
    await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "broadcast", content: "hello" } });
    const waiting = (await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", cap: "nobody-has-it", queue: true, task: "later" } })).body.id;
    expect((await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "sink", task: "x".repeat(10_000) } })).body.error.code).toBe("recipient_full");
    now += HOUR - 1000;
    await relay.core.tick(now);
    expect(await pendingOf(relay, sink)).toBe(6);
    // Queues are looked through every few seconds.
    now += 10_000;
    await relay.core.tick(now);
    expect(await pendingOf(relay, sink)).toBe(0);
    for (const id of [...ids, waiting]) {
      const t = (await call("GET", `/v1/tasks/${id}`, { bearer: boss.secret })).body;
      expect(t.state).toBe("expired");
      expect(t.history.at(-1).note).toBe("not taken within the relay's --message-ttl of 1h");
    }
    const told = (await call("GET", `/v1/agents/${boss.id}/inbox?max=100`, { bearer: boss.secret })).body.messages;
    expect(told.filter((m: any) => m.type === "status" && m.state === "expired").length).toBe(6);
    expect((await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "sink", task: "x".repeat(10_000) } })).status).toBe(201);
  });
});

describe("an unread broadcast does not keep an idle agent (--forget-after)", () => {
  test("a stale agent with only broadcasts waiting is forgotten; one with a task waiting is not", async () => {
    let now = Date.now();
    const relay = startTestRelay({ clock: () => now, forgetAfterMs: HOUR, messageTtlMs: 100 * HOUR });
    const call = api(relay.url);
    const caster = await registerAgent(relay.url, "caster");
    const idle = await registerAgent(relay.url, "idle");
    const busy = await registerAgent(relay.url, "busy");
    expect((await call("POST", "/v1/messages", { bearer: caster.secret, json: { type: "broadcast", content: "anyone there?" } })).body.recipients).toBe(2);
    await call("POST", "/v1/messages", { bearer: caster.secret, json: { type: "task", to: "busy", task: "when you are back" } });
    now += 2 * HOUR;
    await call("POST", `/v1/agents/${caster.id}/heartbeat`, { bearer: caster.secret });
    await relay.core.tick(now);
    now += HOUR / 2;
    await relay.core.tick(now);
    expect((await call("GET", `/v1/agents/${idle.id}`, { bearer: caster.secret })).status).toBe(404);
    expect((await call("GET", `/v1/agents/${busy.id}`, { bearer: caster.secret })).status).toBe(200);
  });
});
