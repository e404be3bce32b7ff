/** The core without I/O: a hub with a hand-driven clock, and sinks that stand in for sockets. */
import { describe, expect, test } from "bun:test";
import type { Sink } from "../../src/relay/delivery";
import { newSinkId } from "../../src/relay/delivery";
import { Hub } from "../../src/relay/hub";
import type { Message } from "../../src/protocol/schemas";
import type { AgentRecord } from "../../src/relay/store";
import { SendMessage } from "../../src/protocol/schemas";
import * as v from "valibot";

function setup() {
  let now = 1_000_000;
  const hub = new Hub({ clock: () => now, ackWindowMs: 5000 });
  const a = hub.store.getAgent(hub.register({ name: "a", caps: [], description: "", machine: "" }).id)!;
  const b = hub.store.getAgent(hub.register({ name: "b", caps: ["x"], description: "", machine: "" }).id)!;
  const send = (from: typeof a, msg: unknown) => hub.send(from, v.parse(SendMessage, msg));
  return { hub, a, b, send, advance: (ms: number) => hub.tick((now += ms)) };
}

/** A socket stand-in: `capacity` pushes succeed, then it reports backpressure. */
function sink(agentId: string, capacity = Infinity) {
  const got: Message[] = [];
  const s: Sink & { got: Message[]; capacity: number } = {
    id: newSinkId(),
    agentId,
    got,
    capacity,
    push(m) {
      got.push(m);
      return got.length < s.capacity ? 1 : -1;
    },
    close() {},
  };
  return s;
}

describe("hub", () => {
  test("a task's lease runs out on the clock, not on a timer: requeued, then redelivered as attempt 2", () => {
    const { hub, a, b, send, advance } = setup();
    const { id } = send(a, { type: "task", to: "b", task: "t", lease_s: 30 });
    expect(hub.take(b, 10).map((m) => m.id)).toEqual([id]);
    advance(29_000);
    expect(hub.store.getTask(id)!.state).toBe("delivered");
    advance(2_000);
    expect(hub.store.getTask(id)!.state).toBe("queued");
    const again = hub.take(b, 10);
    expect(again).toEqual([expect.objectContaining({ id, attempt: 2 })]);
  });

  test("a broadcast not acknowledged within the ack window comes back", () => {
    const { hub, a, b, send, advance } = setup();
    send(a, { type: "broadcast", content: "c" });
    expect(hub.take(b, 10)).toHaveLength(1);
    expect(hub.take(b, 10)).toHaveLength(0);
    advance(6000);
    expect(hub.take(b, 10)).toHaveLength(1);
  });

  test("ttl: a task still queued after its ttl expires, leaves the queue, and the sender is told", () => {
    const { hub, a, b, send, advance } = setup();
    const { id } = send(a, { type: "task", to: "b", task: "t", ttl_s: 10 });
    advance(11_000);
    expect(hub.store.getTask(id)!.state).toBe("expired");
    expect(hub.take(b, 10)).toEqual([]);
    expect(hub.take(a, 10)).toContainEqual(expect.objectContaining({ type: "status", task_id: id, state: "expired" }));
  });

  test("a backed-up socket gets nothing more until it drains; the rest waits in the queue", () => {
    const { hub, a, b, send } = setup();
    const s = sink(b.id, 2);
    hub.delivery.connect(s);
    for (let i = 0; i < 5; i++) send(a, { type: "broadcast", content: `m${i}` });
    expect(s.got).toHaveLength(2);
    expect(hub.pendingCount(b.id)).toBe(3);
    s.capacity = Infinity;
    hub.delivery.resume(s);
    expect(s.got.map((m) => (m as any).content)).toEqual(["m0", "m1", "m2", "m3", "m4"]);
  });

  test("a dropped socket's unacknowledged messages go to the next connection, acknowledged ones do not", () => {
    const { hub, a, b, send } = setup();
    const first = sink(b.id);
    hub.delivery.connect(first);
    send(a, { type: "broadcast", content: "one" });
    send(a, { type: "broadcast", content: "two" });
    hub.ack(b, [first.got[0]!.id]);
    hub.delivery.disconnect(first);
    const second = sink(b.id);
    hub.delivery.connect(second);
    expect(second.got.map((m) => (m as any).content)).toEqual(["two"]);
  });

  test("capability routing breaks ties round-robin and prefers the least loaded", () => {
    const { hub, a, send } = setup();
    const c = hub.register({ name: "c", caps: ["x"], description: "", machine: "" });
    const picks = [0, 1, 2, 3].map(() => send(a, { type: "task", cap: "x", task: "t" }).to);
    expect(new Set(picks).size).toBe(2);
    expect(picks.filter((p) => p === c.id)).toHaveLength(2);
  });

  test("a long poll whose client already hung up does not wait", async () => {
    const { hub, b } = setup();
    const result = await Promise.race([hub.delivery.wait(b.id, 5000, AbortSignal.abort()).then(() => "returned"), Bun.sleep(1000).then(() => "still waiting")]);
    expect(result).toBe("returned");
  });

  test("a stale agent's name can be taken over; an online one's cannot", () => {
    const { hub, advance } = setup();
    expect(() => hub.register({ name: "a", caps: [], description: "", machine: "" })).toThrow(/belongs to agent/);
    advance(121_000);
    const taken = hub.register({ name: "a", caps: [], description: "", machine: "" });
    expect(hub.store.getAgentByName("a")!.id).toBe(taken.id);
  });
});

describe("hub: a task answered while a copy of it waits in the queue", () => {
  test("a response while the task is queued again (its socket dropped) settles it for good", () => {
    const { hub, a, b, send } = setup();
    const first = sink(b.id);
    hub.delivery.connect(first);
    const { id } = send(a, { type: "task", to: "b", task: "t" });
    expect(first.got.map((m) => m.id)).toEqual([id]);
    // The socket drops before the ack, so the task is queued again; the holder answers over HTTP meanwhile.
    hub.delivery.disconnect(first);
    send(b, { type: "response", in_reply_to: id, result: "done" });
    const second = sink(b.id);
    hub.delivery.connect(second);
    expect(second.got.filter((m) => m.id === id)).toEqual([]);
    const task = hub.store.getTask(id)!;
    expect(task.state).toBe("completed");
    expect(task.history.map((h) => h.state)).toEqual(["queued", "delivered", "completed"]);
    expect(() => send(b, { type: "response", in_reply_to: id, result: "again" })).toThrow(/already completed/);
  });

  test("progress while a copy is queued: the task stays working and is not handed out again", () => {
    const { hub, a, b, send } = setup();
    const first = sink(b.id);
    hub.delivery.connect(first);
    const { id } = send(a, { type: "task", to: "b", task: "t" });
    hub.delivery.disconnect(first);
    send(b, { type: "progress", in_reply_to: id, note: "on it" });
    expect(hub.take(b, 10).filter((m) => m.id === id)).toEqual([]);
    expect(hub.store.getTask(id)!.state).toBe("working");
  });
});

describe("hub: an agent that left", () => {
  test("unregistering an agent with two sockets does not hand its tasks from one closing socket to the other", () => {
    const { hub, a, b, send } = setup();
    // Bun runs a socket's close handler inside ws.close(); these sinks do the same.
    const closing = () => {
      const s = sink(b.id);
      s.close = () => hub.delivery.disconnect(s);
      return s;
    };
    hub.delivery.connect(closing());
    hub.delivery.connect(closing());
    const t1 = send(a, { type: "task", to: "b", task: "one" });
    const t2 = send(a, { type: "task", to: "b", task: "two" });
    hub.unregister(b.id);
    for (const { id } of [t1, t2]) expect(hub.store.getTask(id)!.history.map((h) => h.state)).toEqual(["queued", "delivered", "failed"]);
  });


  test("replies to a task whose sender unregistered are not queued for nobody", () => {
    const { hub, a, b, send } = setup();
    const { id } = send(a, { type: "task", to: "b", task: "t" });
    hub.take(b, 10);
    hub.unregister(a.id);
    send(b, { type: "progress", in_reply_to: id, note: "on it" });
    send(b, { type: "response", in_reply_to: id, result: "done" });
    expect(hub.store.getTask(id)!.state).toBe("completed");
    expect(hub.store.queueLength(a.id)).toBe(0);
  });
});

describe("hub: forgetting idle agents", () => {
  const make = () => {
    let now = 1_000_000;
    const hub = new Hub({ clock: () => now, staleAfterMs: 1000, forgetAfterMs: 60_000, ackWindowMs: 3_600_000 });
    const reg = (name: string) => hub.store.getAgent(hub.register({ name, caps: [], description: "", machine: "" }).id)!;
    const drain = (agent: AgentRecord) => hub.ack(agent, hub.take(agent, 100).map((m) => m.id));
    return { hub, reg, drain, advance: (ms: number) => hub.tick((now += ms)), send: (from: AgentRecord, msg: unknown) => hub.send(from, v.parse(SendMessage, msg)) };
  };

  test("an agent stale and idle for --forget-after is forgotten; one with something queued, in flight or held is not", () => {
    const { hub, reg, drain, advance, send } = make();
    const [idle, queued, inflight, holder, boss] = ["idle", "queued", "inflight", "holder", "boss"].map(reg) as AgentRecord[];
    send(boss!, { type: "task", to: "queued", task: "waits in the queue" });
    send(boss!, { type: "task", to: "holder", task: "held unfinished" });
    drain(holder!);
    send(boss!, { type: "broadcast", content: "news" });
    drain(idle!);
    drain(holder!);
    hub.take(inflight!, 100); // taken, never acknowledged
    drain(boss!);
    advance(59_000);
    expect(hub.agentCount()).toBe(5);
    advance(16_000);
    expect(hub.listAgents({ all: true }).map((a) => a.name)).toEqual(["holder", "inflight", "queued"]);
  });

  test("an agent seen or connected within --forget-after is kept", () => {
    const { hub, reg, advance } = make();
    const seen = reg("seen");
    const connected = reg("connected");
    hub.delivery.connect({ id: newSinkId(), agentId: connected.id, push: () => 1, close() {} });
    for (let i = 0; i < 10; i++) {
      advance(30_000);
      hub.heartbeat(seen);
    }
    expect(hub.agentCount()).toBe(2);
  });
});
