/**
 * Delivery between relays on one Redis: a message the store put in flight on a socket as it queued it
 * is pushed by the relay holding that socket from the bus event, with no claim, or goes back to the
 * queue when the socket cannot take it now; and a socket or task watch the store fails under leaves
 * nothing behind (the store's connection cut between two of its operations).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import * as v from "valibot";
import { RegisterRequest, SendMessage, type Message } from "../../src/protocol/schemas";
import { RedisBus } from "../../src/relay/bus/redis";
import { Relay } from "../../src/relay/core/relay";
import { RedisStore } from "../../src/relay/store/redis/store";
import { redisMissing, startRedis, type TestRedis } from "../_redis";
import { sink } from "./_core";

const until = async (what: () => boolean) => {
  for (let i = 0; i < 200 && !what(); i++) await Bun.sleep(10);
  expect(what()).toBe(true);
};

describe.skipIf(redisMissing("test/unit/redis-delivery.test.ts") !== null)("delivery on redis", () => {
  let redis: TestRedis;
  let n = 0;
  const open: Relay[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const r of open) await r.close();
    redis?.stop();
  });

  /** Two relays on one team, and the claims each makes after it started. */
  async function team() {
    const prefix = `d${++n}:`;
    const one = async () => {
      const store = await new RedisStore(redis.url, { prefix }).open();
      const bus = await new RedisBus(redis.url, prefix).open();
      store.publishAs(bus.origin);
      const claims: string[] = [];
      const claimNext = store.claimNext.bind(store);
      store.claimNext = (agent, ...rest) => (claims.push(agent), claimNext(agent, ...rest));
      const relay = new Relay({ store, bus, ackWindowMs: 5000 });
      open.push(relay);
      return { relay, claims, store };
    };
    const [a, b] = [await one(), await one()];
    const register = async (name: string) => (await a.relay.authenticate((await a.relay.register(v.parse(RegisterRequest, { name }))).secret))!;
    return { a, b, boss: await register("boss"), worker: await register("worker") };
  }
  /** The boss on a socket of relay A and the worker on one of relay B, with the claims made while attaching forgotten. */
  async function connected() {
    const t = await team();
    const [bossSink, workerSink] = [sink(), sink()];
    t.a.relay.connect(t.boss, bossSink);
    const workerConn = t.b.relay.connect(t.worker, workerSink);
    await until(() => bossSink.opened !== null && workerSink.opened !== null);
    // Attaching looks at the queue once; from here on nothing is claimed.
    await Bun.sleep(50);
    t.a.claims.length = t.b.claims.length = 0;
    return { ...t, bossSink, workerSink, workerConn };
  }
  /** Breaks the store's connection and resolves once the store knows: until it has reconnected, it refuses every operation up front. */
  async function cutOff(store: RedisStore) {
    const away = new Promise<void>((resolve) => store.onHealth((failure) => failure && resolve()));
    const id = await store.client.send("CLIENT", ["ID"]);
    const killer = new RedisClient(redis.url);
    await killer.send("CLIENT", ["KILL", "ID", String(id)]);
    killer.close();
    await away;
  }
  const types = (ms: Message[]) => ms.map((m) => (m.type === "status" ? `status:${m.state}` : m.type));

  test("a task sent on one relay reaches a socket on another, and its answer comes back, with no claim", async () => {
    const { a, b, boss, worker, bossSink, workerSink } = await connected();
    const sent = await a.relay.send(boss, v.parse(SendMessage, { type: "task", to: "worker", task: "say done" }));
    await until(() => workerSink.got.length === 1);
    expect(workerSink.got[0]).toMatchObject({ type: "task", id: sent.id, attempt: 1 });
    await b.relay.send(worker, v.parse(SendMessage, { type: "response", in_reply_to: sent.id, status: "completed", result: "done" }));
    await until(() => bossSink.got.some((m) => m.type === "response"));
    await Bun.sleep(50);
    expect(types(bossSink.got)).toEqual(["status:delivered", "response", "status:completed"]);
    expect([a.claims, b.claims]).toEqual([[], []]);
  });

  test("an answer and the status that goes with it reach the sender's socket in one write", async () => {
    const t = await team();
    // A socket that takes batches (as `listen` does), each write recorded.
    const bossSink = sink();
    const writes: string[][] = [];
    bossSink.pushMany = (msgs) => {
      writes.push(types([...msgs]));
      bossSink.got.push(...msgs);
      return { taken: msgs.length, full: false };
    };
    const workerSink = sink();
    t.a.relay.connect(t.boss, bossSink);
    t.b.relay.connect(t.worker, workerSink);
    await until(() => bossSink.opened !== null && workerSink.opened !== null);
    await Bun.sleep(50);
    const sent = await t.a.relay.send(t.boss, v.parse(SendMessage, { type: "task", to: "worker", task: "say done" }));
    await until(() => workerSink.got.length === 1);
    await t.b.relay.send(t.worker, v.parse(SendMessage, { type: "response", in_reply_to: sent.id, status: "completed", result: "done" }));
    await until(() => bossSink.got.length === 3);
    expect(writes).toEqual([["status:delivered"], ["response", "status:completed"]]);
  });

  test("a broadcast sent on one relay and the reply to it reach sockets on the other, with no claim", async () => {
    const { a, b, boss, worker, bossSink, workerSink } = await connected();
    await a.relay.send(boss, v.parse(SendMessage, { type: "broadcast", content: "who is free?" }));
    await until(() => workerSink.got.length === 1);
    const asked = workerSink.got[0]!;
    expect(asked).toMatchObject({ type: "broadcast", content: "who is free?" });
    await b.relay.send(worker, v.parse(SendMessage, { type: "response", to: "boss", in_reply_to: asked.id, status: "completed", result: "me" }));
    await until(() => bossSink.got.length === 1);
    expect(bossSink.got[0]).toMatchObject({ type: "response", in_reply_to: asked.id, result: "me" });
    expect([a.claims, b.claims]).toEqual([[], []]);
  });

  test("one the socket cannot take now goes back to the queue, and out again once the socket drains", async () => {
    const { a, b, boss, worker } = await team();
    // Takes one message, then reports its buffer full.
    const workerSink = sink(1);
    const conn = b.relay.connect(worker, workerSink);
    await until(() => workerSink.opened !== null);
    const first = await a.relay.send(boss, v.parse(SendMessage, { type: "task", to: "worker", task: "one" }));
    await until(() => workerSink.got.length === 1);
    const second = await a.relay.send(boss, v.parse(SendMessage, { type: "task", to: "worker", task: "two" }));
    await Bun.sleep(100);
    expect(workerSink.got.map((m) => m.id)).toEqual([first.id]);
    workerSink.capacity = Infinity;
    conn.drained();
    await until(() => workerSink.got.length === 2);
    // Handed out again by a claim: the worker may see it as a second attempt, as after any requeue.
    expect(workerSink.got[1]).toMatchObject({ id: second.id, type: "task" });
    expect(b.claims.length).toBeGreaterThan(0);
  });

  test("a socket whose attach the store never answers is closed with 1011 rather than left without its hello, and its close detaches it all the same", async () => {
    const { a, worker } = await team();
    const s = sink();
    const back = new Promise<void>((resolve) => a.store.onHealth((failure) => failure === null && resolve()));
    let conn;
    redis.proc.kill("SIGSTOP");
    try {
      conn = a.relay.connect(worker, s);
      // The agent's topic is followed first, then the attach goes unanswered for the store's 3 s.
      for (let i = 0; i < 150 && s.closed === null; i++) await Bun.sleep(100);
    } finally {
      redis.proc.kill("SIGCONT");
    }
    expect(s.closed).toBe(1011);
    expect(s.opened).toBeNull();
    // Redis ran the attach once it woke: the store holds the socket, and the agent would look connected until its detach.
    await back;
    expect((await a.store.getAgent(worker.id))!.conns).toEqual([conn.id]);
    await conn.close();
    expect((await a.store.getAgent(worker.id))!.conns).toEqual([]);
  }, 30_000);

  test("a socket whose hand-back the store refused, after its claim put them in flight on it, is closed at once, and once the store is back the rest go out again", async () => {
    const { a, boss, worker } = await team();
    const sent: string[] = [];
    for (const task of ["one", "two", "three"]) sent.push((await a.relay.send(boss, v.parse(SendMessage, { type: "task", to: "worker", task }))).id);
    // The store goes away between the claim's answer and the hand-back of what the socket could not take: the hand-back is refused up front.
    const requeue = a.store.requeue.bind(a.store);
    let cut = false;
    a.store.requeue = async (...args) => {
      if (!cut) {
        cut = true;
        await cutOff(a.store);
      }
      return requeue(...args);
    };
    // Takes one message, then reports its buffer full: the other two are handed back.
    const first = sink(1);
    const conn = a.relay.connect(worker, first);
    await until(() => first.closed !== null);
    expect(cut).toBe(true);
    expect(first.closed).toBe(1011);
    expect(first.got.map((m) => m.id)).toEqual([sent[0]!]);
    // As the WebSocket does once closed: its detach queues the two again, and the next socket gets them.
    await conn.close();
    const second = sink();
    a.relay.connect(worker, second);
    await until(() => second.got.length === 3);
    expect(second.got.map((m) => m.id).sort()).toEqual([...sent].sort());
  });

  test("once its bus is back, a relay closes its sockets that take every message: a task another relay handed to one meanwhile, unheard, goes out again", async () => {
    const { a, b, boss, worker, workerSink, workerConn } = await connected();
    // Every relay's bus loses its subscriptions; until each has subscribed again it hears nothing.
    const killer = new RedisClient(redis.url);
    await killer.send("CLIENT", ["KILL", "TYPE", "pubsub"]);
    killer.close();
    // Handed straight to the worker's socket on B as it is made, with an event B does not hear.
    const sent = await a.relay.send(boss, v.parse(SendMessage, { type: "task", to: "worker", task: "while B was deaf" }));
    for (let i = 0; i < 100 && workerSink.closed === null; i++) await Bun.sleep(50);
    expect(workerSink.closed).toBe(1011);
    expect(workerSink.got.map((m) => m.id)).not.toContain(sent.id);
    // As the WebSocket does once closed: its detach queues the task again, and the next socket gets it.
    await workerConn.close();
    const again = sink();
    b.relay.connect(worker, again);
    await until(() => again.got.some((m) => m.id === sent.id));
  });

  test("a task watch whose first read the store refused is dropped: it is shown nothing after", async () => {
    const { a, boss } = await team();
    const sent = await a.relay.send(boss, v.parse(SendMessage, { type: "task", to: "worker", task: "one" }));
    // The store goes away between the check that the boss may watch the task and the watch's first read of it.
    const getTask = a.store.getTask.bind(a.store);
    let reads = 0;
    a.store.getTask = async (id) => {
      if (++reads === 2) await cutOff(a.store);
      return getTask(id);
    };
    const back = new Promise<void>((resolve) => a.store.onHealth((failure) => failure === null && resolve()));
    const shown: string[] = [];
    const watching = a.relay.watchTask(boss, sent.id, { push: (t) => shown.push(t.state), close: () => {} });
    expect(await watching.then(() => "watching", (err) => err.code)).toBe("store_unavailable");
    await back;
    // The task changes once the store is back: a watch left behind would be shown it.
    await a.relay.cancel(boss, sent.id);
    const watch = await a.relay.watchTask(boss, sent.id, { push: (t) => shown.push(`new ${t.state}`), close: () => {} });
    await Bun.sleep(100);
    expect(shown).toEqual(["new canceled"]);
    watch();
  });

  test("a long poll whose client hung up while its relay subscribed the agent's topic takes nothing", async () => {
    const { a, boss, worker } = await team();
    const sent = await a.relay.send(boss, v.parse(SendMessage, { type: "task", to: "worker", task: "one" }));
    const hungUp = new AbortController();
    const polled = a.relay.take(worker, { max: 10, waitMs: 5000, signal: hungUp.signal });
    hungUp.abort();
    expect(await polled).toEqual([]);
    // Still queued, not in flight for a poller gone.
    expect((await a.relay.take(worker, { max: 10 })).map((m) => m.id)).toEqual([sent.id]);
  });
});
