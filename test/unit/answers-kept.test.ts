/**
 * An answered task's response stays with its sender until the sender settles it, whatever happens around
 * it: random walks (seeded, so a failure replays) over every store's operations that touch an inbox — tasks
 * sent, handed out on sockets that take everything or only tasks, acknowledged, handed back or neither, answered;
 * sockets opened and closed on two relays, one of them dying (Redis); leases and ttls running out, holders reclaimed,
 * idle agents forgotten — and the sender's own sockets taking and settling the statuses. At the end the
 * sender's inbox holds one response for each answer, no more, no fewer.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Message } from "../../src/protocol/schemas";
import { MemoryStore } from "../../src/relay/store/memory";
import type { Room, Store, Want } from "../../src/relay/store/port";
import { RedisStore } from "../../src/relay/store/redis/store";
import { SqliteStore } from "../../src/relay/store/sqlite";
import { cleanup, tempHome } from "../_helpers";
import { redisMissing, startRedis, type TestRedis } from "../_redis";

afterAll(cleanup);

const ROOM: Room = { maxQueue: 10_000, maxQueuedBytes: 256 * 1024 * 1024, maxSenderBytes: 64 * 1024 * 1024, maxRecipientBytes: 32 * 1024 * 1024 };
const T0 = 1_000_000_000;
const WALKS = 4;
const STEPS = 250;
const TASKS_ONLY: Want = { types: ["task"], filePrefix: null };
const STATUSES_ONLY: Want = { types: ["status"], filePrefix: null };
const agent = (id: string) => ({ id, name: id, caps: [], description: "", machine: "", secretHash: `hash-${id}` });

/** mulberry32: a walk is the same on every run and every store. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface Socket {
  agent: "a" | "b";
  id: string;
  relay: string;
  want: Want | null;
}

/** One walk: `a` sends tasks to `b`, which answers some of those it took; then how many answers, and the responses `a` finds for them. */
async function walk(store: Store, seed: number, dies?: (relay: string, now: number) => Promise<unknown>) {
  const rand = random(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  let now = T0;
  const rules = { staleBefore: 0, maxAgents: 10, takeOver: true, allowNew: true, note: "", room: ROOM };
  await store.claimName(agent("a"), now, rules);
  await store.claimName(agent("b"), now, rules);
  const relays = ["r1", "r2"];
  const sockets: Socket[] = [];
  const received = new Set<string>();
  const answers = new Map<string, string>();
  let made = 0;
  let opened = 0;
  const open = (who: "a" | "b") => {
    const relay = pick(relays);
    const s: Socket = { agent: who, id: `${relay}.${++opened}`, relay, want: rand() < 0.5 ? null : who === "b" ? TASKS_ONLY : STATUSES_ONLY };
    sockets.push(s);
    // A socket that takes everything is handed a message queued alone as it is queued (the Redis store's eager path).
    return store.attachConnection(who, s.id, now, s.want ? undefined : 60_000);
  };
  const take = async (s: Socket) => {
    const { messages } = await store.claimNext(s.agent, s.id, now, { max: 1 + Math.floor(rand() * 16), want: s.want, ackWindowMs: 30_000, room: ROOM });
    for (const m of messages) if (s.agent === "b" && m.type === "task") received.add(m.id);
    // b acknowledges about half of what it took; a settles statuses only, so every response must stay.
    const settled = messages.filter((m) => (s.agent === "a" ? m.type === "status" : rand() < 0.5));
    if (settled.length) await store.ack(s.agent, settled.map((m) => m.id));
    // A socket that backed up hands back what it could not send.
    const back = messages.filter((m) => !settled.includes(m) && rand() < 0.2);
    if (back.length) await store.requeue(s.agent, back.map((m) => m.id));
  };
  for (let step = 0; step < STEPS; step++) {
    now += Math.floor(rand() * 3000);
    // The sender keeps sending, so it is never idle long enough to be forgotten (with its inbox).
    await store.touchAgent("a", now);
    const ops: Promise<unknown>[] = [];
    for (let k = 1 + Math.floor(rand() * 4); k > 0; k--) {
      const r = rand();
      const mine = (who: "a" | "b") => sockets.filter((s) => s.agent === who);
      if (r < 0.2) {
        const id = `t_${String(++made).padStart(6, "0")}`;
        ops.push(store.createTask({ id, from: "a", to: "b", cap: null, task: `job ${made}`, context: {}, priority: "normal", leaseS: pick([2, 5, 30, 300]), ttlS: pick([null, null, 20]), createdAt: now, idempotencyKey: null }, ROOM));
      } else if (r < 0.28) {
        ops.push(open("b"));
      } else if (r < 0.33 && mine("b").length) {
        const s = pick(mine("b"));
        sockets.splice(sockets.indexOf(s), 1);
        ops.push(store.detachConnection("b", s.id, now));
      } else if (r < 0.53 && mine("b").length) {
        ops.push(take(pick(mine("b"))));
      } else if (r < 0.7 && received.size) {
        // As Tasks.answer does: one step, the reply addressed to the task's sender by the store.
        const id = pick([...received]);
        if (answers.has(id)) continue;
        const rid = `m_${id.slice(2)}${step}${k}`;
        const reply: Message = { type: "response", id: rid, from: "b", to: "", created_at: new Date(now).toISOString(), in_reply_to: id, status: "completed", result: `JOB ${id}` };
        const change = { state: "completed", note: "", at: now, holder: "b", result: reply.result, responseId: rid, withdraw: true, handedOut: true, reply, room: ROOM } as const;
        ops.push(store.transitionTask(id, ["queued", "delivered", "working"], change).then((done) => done.ok && answers.set(id, rid)));
      } else if (r < 0.74) {
        ops.push(open("a"));
      } else if (r < 0.77 && mine("a").length) {
        const s = pick(mine("a"));
        sockets.splice(sockets.indexOf(s), 1);
        ops.push(store.detachConnection("a", s.id, now));
      } else if (r < 0.83 && mine("a").length) {
        ops.push(take(pick(mine("a"))));
      } else if (r < 0.87) {
        ops.push(store.requeueExpired(now, 1000, ROOM), store.expireTasks(now, 1000, ROOM));
      } else if (r < 0.91) {
        ops.push(store.reclaimTasks(now, 1000, { graceMs: 15_000, reachableMs: 30_000, room: ROOM }));
      } else if (r < 0.94) {
        ops.push(store.expireUnread(now - 24 * 3600_000, 10_000, now, "not taken", ROOM), store.forgetAgents(now - 120_000, 100, now, "idle", ROOM));
      } else if (r < 0.96 && dies && relays.length > 1) {
        // A relay killed: its sockets close without a word, and another relay claims it once its heartbeat runs out.
        const dead = pick(relays);
        relays.splice(relays.indexOf(dead), 1);
        for (const s of sockets.filter((x) => x.relay === dead)) sockets.splice(sockets.indexOf(s), 1);
        ops.push(dies(dead, now));
      }
    }
    await Promise.all(ops);
  }
  for (const s of sockets.filter((x) => x.agent === "a")) await store.detachConnection("a", s.id, now);
  const inbox = await store.claimNext("a", null, now, { max: 100_000, ackWindowMs: 30_000, room: ROOM });
  const responses = inbox.messages.flatMap((m) => (m.type === "response" ? [m.in_reply_to] : []));
  return { answers: answers.size, responses: responses.length, missing: [...answers.keys()].filter((id) => !responses.includes(id)), twice: responses.length - new Set(responses).size };
}

const kinds: { name: string; open: () => Promise<Store>; dies?: (store: Store) => (relay: string, now: number) => Promise<unknown> }[] = [
  { name: "memory", open: async () => new MemoryStore() },
  { name: "sqlite", open: async () => new SqliteStore(join(tempHome(), "relay.db")) },
];

let redis: TestRedis | undefined;
if (!redisMissing("test/unit/answers-kept.test.ts")) {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());
  let teams = 0;
  kinds.push({
    name: "redis",
    open: () => new RedisStore(redis!.url, { prefix: `k${++teams}:` }).open(),
    // What peers.ts does when a relay's heartbeat runs out: another relay claims it and drops its sockets.
    dies: (store) => async (relay, now) => {
      const s = store as RedisStore;
      await s.cmd("ZADD", [`${s.prefix}relays`, 0, relay]);
      return s.forgetRelay(relay, now);
    },
  });
}

describe("an answered task's response stays with its sender", () => {
  for (const kind of kinds) {
    test(`${kind.name}: through ${WALKS} random walks of ${STEPS} steps, one response per answer`, async () => {
      for (let seed = 1; seed <= WALKS; seed++) {
        const store = await kind.open();
        const got = await walk(store, seed, kind.dies?.(store));
        // The walk must answer tasks for the check to mean anything.
        expect(got.answers).toBeGreaterThan(20);
        expect({ seed, ...got }).toEqual({ seed, answers: got.answers, responses: got.answers, missing: [], twice: 0 });
        await store.close();
      }
    });
  }
});
