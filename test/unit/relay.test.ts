/** The relay's core through its façade: a hand-driven clock, and sinks that stand in for sockets. No I/O, no sleeping on the clock. */
import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import type { ClawlinkError } from "../../src/errors";
import { SendMessage, type Message, type Task } from "../../src/protocol/schemas";
import type { AgentRecord } from "../../src/relay/store/port";
import { Relay } from "../../src/relay/core/relay";
import { MemoryStore } from "../../src/relay/store/memory";
import { settle, setup, sink } from "./_core";

const contents = (ms: Message[]) => ms.map((m) => (m.type === "broadcast" ? m.content : m.type));

describe("relay core", () => {
  test("a task's lease runs out on the clock, not on a timer: queued again, then redelivered as attempt 2", async () => {
    const { relay, register, send, advance } = setup();
    const a = await register("a");
    const b = await register("b");
    const { id } = await send(a, { type: "task", to: "b", task: "t", lease_s: 30 });
    expect((await relay.take(b, { max: 10 })).map((m) => m.id)).toEqual([id]);
    await advance(29_000);
    expect((await relay.getTask(a, id)).state).toBe("delivered");
    await advance(2_000);
    expect((await relay.getTask(a, id)).state).toBe("queued");
    expect(await relay.take(b, { max: 10 })).toEqual([expect.objectContaining({ id, attempt: 2 })]);
  });

  test("a batch is sent in order, each message as if alone: plain replies queued together, a task and refusals in their places", async () => {
    const { relay, register, advance } = setup({ maxQueue: 3 });
    const a = await register("a");
    const b = await register("b");
    const reply = (i: number, to = "b") => v.parse(SendMessage, { type: "response", to, in_reply_to: "m_x", result: `r${i}` });
    const batch = [reply(1), reply(2, "ghost"), v.parse(SendMessage, { type: "task", to: "b", task: "t" }), reply(3), { ...reply(4), from: "b" }, reply(5), reply(6)];
    const out = await relay.sendMany(a, batch);
    expect(out.map((o) => (o.ok ? `to ${o.sent.to}` : (o.error as ClawlinkError).code))).toEqual(["to " + b.id, "unknown_agent", "to " + b.id, "to " + b.id, "forbidden", "queue_full", "queue_full"]);
    const got = await relay.take(b, { max: 10 });
    expect(got.map((m) => (m.type === "response" ? m.result : m.type))).toEqual(["r1", "task", "r3"]);
    expect(got.map((m) => m.id).sort()).toEqual(out.flatMap((o) => (o.ok ? [o.sent.id] : [])).sort());
    await advance(0);
  });

  test("a broadcast not acknowledged within the ack window comes back", async () => {
    const { relay, register, send, advance } = setup();
    const a = await register("a");
    const b = await register("b");
    await send(a, { type: "broadcast", content: "c" });
    expect(await relay.take(b, { max: 10 })).toHaveLength(1);
    expect(await relay.take(b, { max: 10 })).toHaveLength(0);
    await advance(6000);
    expect(await relay.take(b, { max: 10 })).toHaveLength(1);
  });

  test("ttl: a task still queued after its ttl expires, leaves the queue, and the sender is told", async () => {
    const { relay, register, send, advance } = setup();
    const a = await register("a");
    const b = await register("b");
    const { id } = await send(a, { type: "task", to: "b", task: "t", ttl_s: 10 });
    await advance(11_000);
    expect((await relay.getTask(a, id)).state).toBe("expired");
    expect(await relay.take(b, { max: 10 })).toEqual([]);
    expect(await relay.take(a, { max: 10 })).toContainEqual(expect.objectContaining({ type: "status", task_id: id, state: "expired" }));
  });

  test("ttl: a delivered task stays past its ttl; queued again after its lease, it expires at the next sweep", async () => {
    const { relay, register, send, advance } = setup();
    const a = await register("a");
    const b = await register("b");
    const { id } = await send(a, { type: "task", to: "b", task: "t", ttl_s: 10, lease_s: 30 });
    expect(await relay.take(b, { max: 10 })).toHaveLength(1);
    await advance(20_000);
    expect((await relay.getTask(a, id)).state).toBe("delivered");
    await advance(11_000);
    expect((await relay.getTask(a, id)).state).toBe("expired");
  });

  test("an answer to a task routed to its holder but never handed over is 409 task_not_delivered; once handed over, it may answer", async () => {
    const { relay, register, send, advance } = setup();
    const a = await register("a");
    const b = await register("b");
    const { id } = await send(a, { type: "task", to: "b", task: "t", lease_s: 5 });
    const early = send(b, { type: "response", in_reply_to: id, result: "done" });
    await expect(early).rejects.toMatchObject({ code: "task_not_delivered", status: 409 });
    expect(await relay.take(b, { max: 10 })).toHaveLength(1);
    // Queued again for it when its lease ran out: the work it started may still be reported.
    await advance(6_000);
    expect((await relay.getTask(a, id)).state).toBe("queued");
    await send(b, { type: "progress", in_reply_to: id, note: "late" });
    expect((await relay.getTask(a, id)).state).toBe("working");
  });

  test("a socket opens with the agent's record once attached, its id naming this relay", async () => {
    const { relay, register } = setup();
    const b = await register("b");
    const s = sink();
    const conn = relay.connect(b, s);
    expect(conn.id.startsWith(`${relay.instance}.`)).toBe(true);
    await settle();
    expect(s.opened?.conns).toEqual([conn.id]);
    expect((await relay.getAgent("b")).connected).toBe(true);
    await conn.close();
    expect((await relay.getAgent("b")).connected).toBe(false);
  });

  test("an answer that queues a response and a status for the sender's socket claims them in one go", async () => {
    // The memory store itself, with its claims written down.
    class Counting extends MemoryStore {
      claims: string[] = [];
      override claimNext(...args: Parameters<MemoryStore["claimNext"]>) {
        this.claims.push(args[0]);
        return super.claimNext(...args);
      }
    }
    const store = new Counting();
    const { relay, register, send } = setup({ store });
    const a = await register("a");
    const b = await register("b");
    const s = sink();
    relay.connect(a, s);
    await settle();
    const { id } = await send(a, { type: "task", to: "b", task: "t" });
    expect(await relay.take(b, { max: 1, ack: true })).toHaveLength(1);
    await settle();
    store.claims = [];
    await send(b, { type: "response", in_reply_to: id, status: "completed", result: "ok" });
    await settle();
    expect(s.got.map((m) => m.type)).toEqual(["status", "response", "status"]);
    expect(store.claims).toEqual([a.id]);
  });

  test("a backed-up socket gets nothing more until it drains; the rest waits in the queue, in order", async () => {
    const { relay, register, send } = setup();
    const a = await register("a");
    const b = await register("b");
    const s = sink(2);
    const conn = relay.connect(b, s);
    for (let i = 0; i < 5; i++) await send(a, { type: "broadcast", content: `m${i}` });
    await settle();
    expect(contents(s.got)).toEqual(["m0", "m1"]);
    expect((await relay.heartbeat(b)).pending).toBe(3);
    s.capacity = Infinity;
    conn.drained();
    await settle();
    expect(contents(s.got)).toEqual(["m0", "m1", "m2", "m3", "m4"]);
  });

  test("a socket that takes batches gets several messages per push; one that backs up mid-batch gets the rest, in order, once it drains", async () => {
    const { relay, register, send } = setup();
    const a = await register("a");
    const b = await register("b");
    for (let i = 0; i < 5; i++) await send(a, { type: "broadcast", content: `m${i}` });
    const batches: string[][] = [];
    let room = 3;
    const s = {
      ...sink(),
      // Takes what fits, backing up once full: a frame split at the limit, as the socket adapter does.
      pushMany(msgs: readonly Message[]) {
        const taken = msgs.slice(0, room);
        room -= taken.length;
        batches.push(contents([...taken]));
        return { taken: taken.length, full: room <= 0 };
      },
    };
    const conn = relay.connect(b, s);
    await settle();
    expect(batches).toEqual([["m0", "m1", "m2"]]);
    expect((await relay.heartbeat(b)).pending).toBe(2);
    room = Infinity;
    conn.drained();
    await settle();
    expect(batches).toEqual([["m0", "m1", "m2"], ["m3", "m4"]]);
    expect((await relay.heartbeat(b)).pending).toBe(0);
  });

  test("a dropped socket's unacknowledged messages go to the next connection, acknowledged ones do not", async () => {
    const { relay, register, send } = setup();
    const a = await register("a");
    const b = await register("b");
    const first = sink();
    const conn = relay.connect(b, first);
    await send(a, { type: "broadcast", content: "one" });
    await send(a, { type: "broadcast", content: "two" });
    await settle();
    await relay.ack(b, [first.got[0]!.id]);
    await conn.close();
    const second = sink();
    relay.connect(b, second);
    await settle();
    expect(contents(second.got)).toEqual(["two"]);
  });

  test("capability routing prefers the least loaded, and breaks ties in turn", async () => {
    const { register, send } = setup();
    const a = await register("a");
    await register("b", ["x"]);
    const c = await register("c", ["x"]);
    const picks: (string | null | undefined)[] = [];
    for (let i = 0; i < 4; i++) picks.push((await send(a, { type: "task", cap: "x", task: "t" })).to);
    expect(new Set(picks).size).toBe(2);
    expect(picks.filter((p) => p === c.id)).toHaveLength(2);
  });

  test("a long poll wakes when a message arrives, and one whose client hung up takes nothing", async () => {
    const { relay, register, send } = setup();
    const a = await register("a");
    const b = await register("b");
    const waiting = relay.take(b, { max: 10, waitMs: 5000 });
    await settle();
    await send(a, { type: "broadcast", content: "hi" });
    expect(contents([...(await waiting)])).toEqual(["hi"]);
    const gone = await Promise.race([relay.take(b, { max: 10, waitMs: 5000, signal: AbortSignal.abort() }).then(() => "returned"), Bun.sleep(1000).then(() => "still waiting")]);
    expect(gone).toBe("returned");
  });

  test("a stale agent's name can be taken over, which closes its sockets; an online one's cannot", async () => {
    const { relay, register, advance } = setup();
    const a = await register("a");
    expect(register("a")).rejects.toThrow(/belongs to agent/);
    await advance(121_000);
    const taken = await register("a");
    expect(taken.id).not.toBe(a.id);
    expect(await relay.knows(a.id)).toBe(false);
  });

  test("a task watch gets the task now and on each change, each note too, in the same millisecond; unregistering closes it with 4001", async () => {
    const { relay, register, send } = setup();
    const a = await register("a");
    const b = await register("b");
    const { id } = await send(a, { type: "task", to: "b", task: "t" });
    const seen: string[] = [];
    let closed = 0;
    await relay.watchTask(a, id, { push: (t: Task, r) => seen.push(`${t.state}${t.note && !r ? `(${t.note})` : ""}${r ? `:${r.result}` : ""}`), close: (code) => (closed = code) });
    await relay.take(b, { max: 1 });
    await send(b, { type: "progress", in_reply_to: id, note: "n" });
    await send(b, { type: "progress", in_reply_to: id, note: "n2" });
    await send(b, { type: "response", in_reply_to: id, result: "done" });
    await settle();
    expect(seen).toEqual(["queued", "delivered", "working(n)", "working(n2)", "completed:done"]);
    await relay.unregister(a);
    expect(closed).toBe(4001);
    expect(relay.watchTask(b, "t_nothing", { push() {}, close() {} })).rejects.toThrow("no task has the id t_nothing");
  });
});

describe("relay core: a task answered while a copy of it waits in the queue", () => {
  test("a response while the task is queued again (its socket dropped) settles it for good", async () => {
    const { relay, register, send } = setup();
    const a = await register("a");
    const b = await register("b");
    const first = sink();
    const conn = relay.connect(b, first);
    const { id } = await send(a, { type: "task", to: "b", task: "t" });
    await settle();
    expect(first.got.map((m) => m.id)).toEqual([id]);
    // The socket drops before the ack, so the task is queued again; the holder answers over HTTP meanwhile.
    await conn.close();
    await send(b, { type: "response", in_reply_to: id, result: "done" });
    const second = sink();
    relay.connect(b, second);
    await settle();
    expect(second.got.filter((m) => m.id === id)).toEqual([]);
    const task = await relay.getTask(a, id);
    expect(task.state).toBe("completed");
    expect(task.history.map((h) => h.state)).toEqual(["queued", "delivered", "completed"]);
    expect(send(b, { type: "response", in_reply_to: id, result: "again" })).rejects.toThrow(/already completed/);
  });

  test("progress while a copy is queued: the task stays working and is not handed out again", async () => {
    const { relay, register, send } = setup();
    const a = await register("a");
    const b = await register("b");
    const conn = relay.connect(b, sink());
    const { id } = await send(a, { type: "task", to: "b", task: "t" });
    await settle();
    await conn.close();
    await send(b, { type: "progress", in_reply_to: id, note: "on it" });
    expect((await relay.take(b, { max: 10 })).filter((m) => m.id === id)).toEqual([]);
    expect((await relay.getTask(a, id)).state).toBe("working");
  });

  test("only its holder answers a task, and only once it has it", async () => {
    const { relay, register, send } = setup();
    const a = await register("a");
    const b = await register("b");
    const { id } = await send(a, { type: "task", to: "b", task: "t" });
    expect(send(a, { type: "response", in_reply_to: id, result: "x" })).rejects.toThrow(`only the agent holding task ${id} can respond to it`);
    expect(send(b, { type: "progress", in_reply_to: id, note: "x" })).rejects.toThrow(`task ${id} has not been delivered to you yet`);
    await relay.take(b, { max: 1 });
    await relay.cancel(a, id);
    expect(send(b, { type: "response", in_reply_to: id, result: "x" })).rejects.toThrow(`task ${id} is already canceled`);
    expect((await relay.take(b, { max: 10 })).map((m) => (m.type === "status" ? m.state : m.type))).toEqual(["canceled"]);
  });
});

describe("relay core: an agent that left", () => {
  test("unregistering an agent with two sockets closes both and fails its tasks, handing none to the other socket", async () => {
    const { relay, register, send } = setup();
    const a = await register("a");
    const b = await register("b");
    const sockets = [sink(), sink()];
    // Bun runs a socket's close handler inside ws.close(); these sinks do the same.
    for (const s of sockets) {
      const conn = relay.connect(b, s);
      s.onClose = () => void conn.close();
    }
    const t1 = await send(a, { type: "task", to: "b", task: "one" });
    const t2 = await send(a, { type: "task", to: "b", task: "two" });
    await settle();
    await relay.unregister(b);
    await settle();
    expect(sockets.map((s) => s.closed)).toEqual([4001, 4001]);
    expect(sockets.flatMap((s) => s.got).map((m) => m.id).sort()).toEqual([t1.id, t2.id].sort());
    for (const { id } of [t1, t2]) expect((await relay.getTask(a, id)).history.map((h) => h.state)).toEqual(["queued", "delivered", "failed"]);
  });

  test("replies to a task whose sender unregistered are not queued for nobody", async () => {
    const { relay, register, send } = setup();
    const a = await register("a");
    const b = await register("b");
    const { id } = await send(a, { type: "task", to: "b", task: "t" });
    await relay.take(b, { max: 10 });
    await relay.unregister(a);
    await send(b, { type: "progress", in_reply_to: id, note: "on it" });
    await send(b, { type: "response", in_reply_to: id, result: "done" });
    expect((await relay.listTasks(b))[0]!.state).toBe("completed");
  });

  test("a socket that opens for an agent already gone is closed with 4001", async () => {
    const { relay, register } = setup();
    const b = await register("b");
    await relay.unregister(b);
    const s = sink();
    relay.connect(b, s);
    await settle();
    expect(s.closed).toBe(4001);
    expect(s.opened).toBeNull();
  });
});

describe("relay core: identities", () => {
  test("an agent the relay forgot comes back under its id with the secret the relay issued, and only with it", async () => {
    const { relay, register } = setup();
    const a = await register("a");
    const reg = await relay.register({ name: "b", caps: [], description: "", machine: "" });
    await relay.unregister((await relay.authenticate(reg.secret))!);
    expect(relay.recognise(reg.secret)).toBe(reg.id);
    expect(relay.register({ name: "b", caps: [], description: "", machine: "", id: reg.id, secret: `${reg.id}.${"x".repeat(43)}` })).rejects.toThrow(
      `the relay does not know agent ${reg.id} and did not issue this secret`,
    );
    expect(await relay.register({ name: "b", caps: [], description: "", machine: "", id: reg.id, secret: reg.secret })).toMatchObject({ id: reg.id, secret: reg.secret });
    expect(relay.register({ name: "a2", caps: [], description: "", machine: "", id: a.id, secret: reg.secret })).rejects.toThrow(`the secret does not match agent ${a.id}`);
  });

  test("a stale agent's name is taken over only by a registration allowed to", async () => {
    const { relay, register, advance } = setup();
    await register("a");
    await advance(121_000);
    expect(relay.register({ name: "a", caps: [], description: "", machine: "" }, { takeOver: false })).rejects.toThrow(
      "only a registration with the relay token can take over a stale agent's name",
    );
    expect(await relay.register({ name: "a", caps: [], description: "", machine: "" })).toMatchObject({ name: "a" });
  });
});

describe("relay core: forgetting idle agents", () => {
  const make = () => setup({ staleAfterMs: 1000, forgetAfterMs: 60_000, ackWindowMs: 3_600_000 });

  test("an agent stale and idle for --forget-after is forgotten; one with something queued, in flight or held is not", async () => {
    const { relay, register, send, advance } = make();
    const [idle, queued, inflight, holder, boss] = await Promise.all(["idle", "queued", "inflight", "holder", "boss"].map((n) => register(n)));
    const drain = async (agent: AgentRecord) => relay.ack(agent, (await relay.take(agent, { max: 100 })).map((m) => m.id));
    await send(boss!, { type: "task", to: "queued", task: "waits in the queue" });
    await send(boss!, { type: "task", to: "holder", task: "held unfinished" });
    await drain(holder!);
    await send(boss!, { type: "broadcast", content: "news" });
    await drain(idle!);
    await drain(holder!);
    await relay.take(inflight!, { max: 100 }); // taken, never acknowledged
    await drain(boss!);
    await advance(59_000);
    expect((await relay.health()).agents).toBe(5);
    await advance(16_000);
    expect((await relay.listAgents({ all: true })).map((a) => a.name)).toEqual(["holder", "inflight", "queued"]);
  });

  test("an agent seen or connected within --forget-after is kept", async () => {
    const { relay, register, advance } = make();
    const seen = await register("seen");
    const connected = await register("connected");
    relay.connect(connected, sink());
    for (let i = 0; i < 10; i++) {
      await advance(30_000);
      await relay.heartbeat(seen);
    }
    expect((await relay.health()).agents).toBe(2);
  });
});

describe("relay core: holders that go offline", () => {
  test("a closed socket's --cap task waits after the grace when no capable agent can receive; a registered agent that connects picks it up", async () => {
    const { relay, register, send, advance } = setup({ holderGraceMs: 15_000 });
    const boss = await register("boss");
    const second = await register("second", ["x"]);
    const first = await register("first", ["x"]);
    const s1 = sink();
    const c1 = relay.connect(first, s1);
    await settle();
    // second registered but has not been seen for 31 s: it is idle, and routing passes it over.
    await advance(31_000);
    expect((await relay.getAgent("second")).status).toBe("idle");
    const { id } = await send(boss, { type: "task", cap: "x", task: "t" });
    await settle();
    expect(s1.got.map((m) => m.id)).toEqual([id]);
    const seen: Task[] = [];
    await relay.watchTask(boss, id, { push: (t) => void seen.push(t), close: () => {} });
    expect(seen.at(-1)!.holder).toMatchObject({ name: "first", status: "listening", online: true });
    await c1.close();
    await advance(14_000);
    expect((await relay.getTask(boss, id)).holder).toMatchObject({ name: "first", status: "idle", online: false });
    await advance(1_000);
    expect(await relay.getTask(boss, id)).toMatchObject({ state: "queued", to: null, holder: null });
    expect(seen.at(-1)!.history.at(-1)!.note).toBe("holder first went offline; waiting for an agent with x");
    const s2 = sink();
    relay.connect(second, s2);
    await settle();
    await settle();
    expect(s2.got).toEqual([expect.objectContaining({ id, attempt: 2, redelivered: true })]);
    expect(await relay.take(boss, { max: 10 })).toContainEqual(expect.objectContaining({ type: "status", task_id: id }));
  });
});

describe("relay core: a task watch when its holder changes", () => {
  test("a --cap task routed on from a holder gone offline to another listening shows the new holder to its watch", async () => {
    const { relay, register, send, advance } = setup({ holderGraceMs: 15_000 });
    const boss = await register("boss");
    const second = await register("second", ["x"]);
    const first = await register("first", ["x"]);
    const c1 = relay.connect(first, sink());
    await settle();
    // second has not been seen for 31 s, so the task goes to first.
    await advance(31_000);
    const { id } = await send(boss, { type: "task", cap: "x", task: "t" });
    await settle();
    const seen: Task[] = [];
    await relay.watchTask(boss, id, { push: (t) => void seen.push(t), close: () => {} });
    expect(seen.at(-1)!.holder).toMatchObject({ name: "first", status: "listening" });
    await c1.close();
    await advance(5_000);
    relay.connect(second, sink());
    await settle();
    await advance(10_000);
    await settle();
    expect(await relay.getTask(boss, id)).toMatchObject({ to: second.id, holder: { name: "second" } });
    // Each snapshot shows the holder it names: the one the watch had read before is no longer the task's.
    expect(seen.map((t) => [t.to, t.holder?.id ?? null])).toContainEqual([second.id, second.id]);
    for (const t of seen) expect(t.holder?.id ?? null).toBe(t.to);
    expect(seen.at(-1)!.holder).toMatchObject({ name: "second", status: "listening", online: true });
  });
});

describe("relay core: relays sharing a store", () => {
  test("a task page's cursor from one relay is good on another on the same store, and still refused for other filters", async () => {
    const store = new MemoryStore();
    const one = setup({ store });
    const two = new Relay({ store, clock: one.now });
    const a = await one.register("a");
    const b = await one.register("b");
    for (let i = 0; i < 3; i++) await one.send(a, { type: "task", to: "b", task: `t${i}` });
    const first = await one.relay.taskPage(a, { role: "sent" }, { limit: 2 });
    expect(first.next_cursor).not.toBeNull();
    const rest = await two.taskPage(a, { role: "sent" }, { limit: 2, cursor: first.next_cursor! });
    expect(rest.tasks.map((t) => t.task)).toEqual(["t2"]);
    expect(two.taskPage(b, { role: "sent" }, { limit: 2, cursor: first.next_cursor! })).rejects.toMatchObject({ code: "bad_request" });
  });
});
