/**
 * A relay on a Redis that answers but refuses to write (here a read-only replica, as after `REPLICAOF`;
 * out of memory under `noeviction` and a busy script are refused the same way). The connection never
 * breaks, so no reconnect tells the relay the store is back: a refusal alone must leave no message
 * in flight on an open socket, no socket or poll waiting for what it will never be told, and no detach
 * given up on; and what Redis took is confirmed, though a step after it was refused.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from "bun:test";
import { RedisClient } from "bun";
import * as v from "valibot";
import { RegisterRequest, SendMessage } from "../../src/protocol/schemas";
import { RedisBus } from "../../src/relay/bus/redis";
import { Relay } from "../../src/relay/core/relay";
import { RedisStore } from "../../src/relay/store/redis/store";
import { redisMissing, startRedis, type TestRedis } from "../_redis";
import { sink, type TestSink } from "./_core";

/** Waits up to `ms` for `what`. */
const until = async (what: () => boolean, ms = 2000) => {
  for (const end = Date.now() + ms; Date.now() < end && !what(); ) await Bun.sleep(10);
  expect(what()).toBe(true);
};

/** A sink that keeps the reason it was closed with. */
function closing(capacity = Infinity): TestSink & { reason: string } {
  const s = Object.assign(sink(capacity), { reason: "" });
  const close = s.close.bind(s);
  s.close = (code, reason) => {
    s.reason = reason;
    close(code, reason);
  };
  return s;
}

describe.skipIf(redisMissing("test/unit/redis-refusals.test.ts") !== null)("a relay on a redis that refuses writes", () => {
  let redis: TestRedis;
  let admin: RedisClient;
  let n = 0;
  const open: Relay[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    admin = new RedisClient(redis.url);
  });
  afterAll(async () => {
    for (const r of open) await r.close();
    admin?.close();
    await redis?.stop();
  });

  /** A replica of a master that is not there: it serves reads and answers every write READONLY. */
  const readOnly = () => admin.send("REPLICAOF", ["127.0.0.1", "1"]);
  const writable = () => admin.send("REPLICAOF", ["NO", "ONE"]);

  /** Turns Redis read-only just before the store's first call of `op`, between one store call and the next: `refusing()` says whether it did. */
  function readOnlyBefore<K extends "requeue" | "pruneTasks" | "assignWaiting" | "broadcast">(store: RedisStore, op: K) {
    const real = (store[op] as (...args: unknown[]) => Promise<unknown>).bind(store);
    let refusing = false;
    (store as unknown as Record<K, (...args: unknown[]) => Promise<unknown>>)[op] = async (...args: unknown[]) => {
      if (!refusing) {
        refusing = true;
        await readOnly();
      }
      return real(...args);
    };
    return () => refusing;
  }

  /** A socket of `worker` that takes one message and reports its buffer full; then Redis turns read-only and the socket drains, so its next claim is refused. */
  async function drainedIntoRefusal(core: Relay, worker: Parameters<Relay["connect"]>[0], before: () => void = () => {}) {
    const s = closing(1);
    const conn = core.connect(worker, s);
    await until(() => s.got.length === 1);
    await Bun.sleep(100);
    await readOnly();
    s.capacity = Infinity;
    before();
    conn.drained();
    return s;
  }

  /** A relay with a boss and a worker, and every outage its store's connection reports (none, when Redis only refuses). */
  async function relay(opts: { maxFinishedTasks?: number } = {}) {
    const prefix = `f${++n}:`;
    const store = await new RedisStore(redis.url, { prefix }).open();
    const bus = await new RedisBus(redis.url, prefix).open();
    store.publishAs(bus.origin);
    const outages: string[] = [];
    store.onHealth((failure) => failure && outages.push(failure.message));
    const core = new Relay({ store, bus, ackWindowMs: 5000, ...opts });
    open.push(core);
    const register = async (name: string) => (await core.authenticate((await core.register(v.parse(RegisterRequest, { name }))).secret))!;
    const boss = await register("boss");
    const worker = await register("worker");
    const send = async (task: string) => (await core.send(boss, v.parse(SendMessage, { type: "task", to: "worker", task }))).id;
    return { core, store, boss, worker, send, outages };
  }

  test("a socket whose hand-back Redis refuses is closed at once, told to reconnect; once Redis writes again its detach queues what it held, and the next socket gets it", async () => {
    const { core, store, worker, send, outages } = await relay();
    const sent = [await send("one"), await send("two"), await send("three")];
    // Redis turns read-only between the claim and the hand-back of what the socket could not take.
    const refusing = readOnlyBefore(store, "requeue");
    try {
      // Takes one message, then reports its buffer full: the other two are handed back, and refused.
      const first = closing(1);
      const conn = core.connect(worker, first);
      await until(() => first.closed !== null);
      expect(refusing()).toBe(true);
      expect(first.closed).toBe(1011);
      expect(first.reason).toContain("reconnect to get them");
      expect(first.got.map((m) => m.id)).toEqual([sent[0]!]);
      // As the WebSocket does once closed; its detach is refused until Redis writes again.
      const closed = conn.close();
      await writable();
      await closed;
    } finally {
      await writable();
    }
    const second = sink();
    core.connect(worker, second);
    await until(() => second.got.length === 3);
    expect(second.got.map((m) => m.id).sort()).toEqual([...sent].sort());
    // Refused, never cut off: no reconnect did any of this.
    expect(outages).toEqual([]);
  }, 15_000);

  test("a claim Redis refuses changes nothing: the socket stays open, and gets what waits once Redis writes again, with no message to wake it", async () => {
    const { core, store, worker, send, outages } = await relay();
    const sent = [await send("one"), await send("two"), await send("three")];
    const refusals: string[] = [];
    const claimNext = store.claimNext.bind(store);
    store.claimNext = (...args) => claimNext(...args).catch((err) => (refusals.push(err.code), Promise.reject(err)));
    // Takes one message, then reports its buffer full: the other two go back to the queue.
    let s!: ReturnType<typeof closing>;
    try {
      s = await drainedIntoRefusal(core, worker);
      await until(() => refusals.length > 0);
      expect(refusals[0]).toBe("store_unavailable");
    } finally {
      await writable();
    }
    // Nothing is sent, nothing reconnects: the relay looks again by itself.
    await until(() => s.got.length === 3, 10_000);
    expect(s.got.map((m) => m.id)).toEqual(sent);
    expect(s.closed).toBeNull();
    expect(outages).toEqual([]);
  }, 20_000);

  test("a relay that closes while a claim is refused looks again no more: no claim reaches the store it closed", async () => {
    const { core, store, worker, send } = await relay();
    await send("one");
    await send("two");
    let claims = 0;
    const claimNext = store.claimNext.bind(store);
    store.claimNext = (...args) => (claims++, claimNext(...args));
    // Takes one message, then reports its buffer full: the other goes back to the queue.
    let before = 0;
    try {
      await drainedIntoRefusal(core, worker, () => (before = claims));
      await until(() => claims > before);
      await Bun.sleep(100);
      // The refused claim's look again (1 s later) is due; the relay closes first.
      const atClose = claims;
      await core.close();
      await Bun.sleep(1500);
      expect(claims).toBe(atClose);
    } finally {
      await writable();
    }
  });

  test("a socket whose attach Redis refuses is closed with 1011, and its close owes the store no detach", async () => {
    const { core, store, worker, outages } = await relay();
    let detaches = 0;
    const detach = store.detachConnection.bind(store);
    store.detachConnection = (...args) => (detaches++, detach(...args));
    try {
      await readOnly();
      const s = closing();
      const conn = core.connect(worker, s);
      await until(() => s.closed !== null);
      expect(s.closed).toBe(1011);
      expect(s.reason).toContain("reconnect");
      expect(s.opened).toBeNull();
      let done = false;
      void conn.close().then(() => (done = true));
      await until(() => done || detaches > 0);
      expect(detaches).toBe(0);
    } finally {
      await writable();
    }
    expect((await store.getAgent(worker.id))!.conns).toEqual([]);
    expect(outages).toEqual([]);
  });

  test("an answer Redis takes is confirmed, though the finished tasks past the count it makes forgettable cannot be forgotten yet", async () => {
    const { core, store, boss, worker, send } = await relay({ maxFinishedTasks: 1 });
    const first = await send("one");
    const second = await send("two");
    expect((await core.take(worker, { max: 10 })).map((m) => m.id)).toEqual([first, second]);
    await core.send(worker, v.parse(SendMessage, { type: "response", in_reply_to: first, status: "completed", result: "ONE" }));
    // Redis turns read-only once the second answer is in, before the first finished task gives way to it.
    const refusing = readOnlyBefore(store, "pruneTasks");
    try {
      const sent = await core.send(worker, v.parse(SendMessage, { type: "response", in_reply_to: second, status: "completed", result: "TWO" }));
      expect(sent.to).toBe(boss.id);
      expect(refusing()).toBe(true);
    } finally {
      await writable();
    }
    expect((await store.getTask(second))!.state).toBe("completed");
    // The sweep forgets what the answer could not.
    expect(await store.getTask(first)).toBeDefined();
    await core.tick();
    expect(await store.getTask(first)).toBeUndefined();
  });

  test("a registration Redis took is confirmed, though the tasks waiting for its capability cannot be handed to it yet; its first socket gets them", async () => {
    const { core, store, boss } = await relay();
    const waiting = (await core.send(boss, v.parse(SendMessage, { type: "task", cap: "review", queue: true, task: "look" }))).id;
    // Redis turns read-only once the agent is registered, before the waiting task is handed to it.
    const refusing = readOnlyBefore(store, "assignWaiting");
    let reviewer;
    try {
      reviewer = await core.register(v.parse(RegisterRequest, { name: "reviewer", caps: ["review"] }));
      expect(refusing()).toBe(true);
    } finally {
      await writable();
    }
    const agent = (await core.authenticate(reviewer.secret))!;
    expect(agent.name).toBe("reviewer");
    const s = sink();
    core.connect(agent, s);
    await until(() => s.got.length === 1);
    expect(s.got[0]!.id).toBe(waiting);
  });

  test("a file version Redis took is confirmed, though the notice of it to the other agents is refused", async () => {
    const { core, store, worker } = await relay();
    // Redis turns read-only once the version is written, before the boss is told of it.
    const refusing = readOnlyBefore(store, "broadcast");
    let put;
    try {
      put = await core.putFile(worker, "notes.md", new TextEncoder().encode("first"));
      expect(refusing()).toBe(true);
    } finally {
      await writable();
    }
    expect(put.version).toBe(1);
    expect(new TextDecoder().decode((await core.getFile("notes.md")).bytes)).toBe("first");
  });

  test("a closed socket's detach is asked again for as long as Redis refuses it, however long: once it writes again, what was in flight on the socket goes to the next one", async () => {
    const { core, store, worker, send } = await relay();
    const first = sink();
    const conn = core.connect(worker, first);
    const sent = await send("one");
    await until(() => first.got.length === 1);
    // Each refused detach is counted as it comes back.
    const detach = store.detachConnection.bind(store);
    let refusals = 0;
    let heard: (() => void) | undefined;
    store.detachConnection = (...args) =>
      detach(...args).catch((err) => {
        refusals++;
        heard?.();
        throw err;
      });
    const refused = async (n: number) => {
      while (refusals < n) await new Promise<void>((r) => (heard = r));
    };
    await readOnly();
    // Six minutes of seconds, without waiting them out: the timers between attempts are run by hand.
    jest.useFakeTimers();
    try {
      void conn.close();
      for (let n = 1; n <= 360; n++) {
        await refused(n);
        jest.advanceTimersByTime(1000);
      }
      await writable();
      jest.advanceTimersByTime(1000);
    } finally {
      jest.useRealTimers();
      await writable();
    }
    for (let i = 0; i < 200 && (await store.getAgent(worker.id))!.conns.length > 0; i++) await Bun.sleep(10);
    expect((await store.getAgent(worker.id))!.conns).toEqual([]);
    expect(refusals).toBe(360);
    const second = sink();
    core.connect(worker, second);
    await until(() => second.got.length === 1);
    expect(second.got[0]!.id).toBe(sent);
  }, 20_000);

  test("a long poll whose claim Redis refuses is answered 503 and leaves nothing waiting behind it", async () => {
    const { core, worker, send } = await relay();
    await send("one");
    const polls = (core as unknown as { delivery: { polls: { waiting(agent: string): boolean } } }).delivery.polls;
    try {
      await readOnly();
      const err = await core.take(worker, { max: 10, waitMs: 30_000 }).catch((e) => e);
      expect(err.code).toBe("store_unavailable");
    } finally {
      await writable();
    }
    expect(polls.waiting(worker.id)).toBe(false);
  });
});
