/**
 * A relay remembers the agents whose secret it verified, so a busy agent's requests skip the store's
 * read; whatever may change an agent's record drops it on every relay sharing the store (a bus event),
 * and with no event at all it is read again within VERIFIED_MS. Clocks here never move unless told,
 * so only an event can make a relay read again before then.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as v from "valibot";
import { RegisterRequest } from "../../src/protocol/schemas";
import { RedisBus } from "../../src/relay/bus/redis";
import { VERIFIED_MS } from "../../src/relay/core/registry";
import { Relay } from "../../src/relay/core/relay";
import { RedisStore } from "../../src/relay/store/redis/store";
import { eventually } from "../_helpers";
import { redisMissing, startRedis, type TestRedis } from "../_redis";
import { setup } from "./_core";

const ROOM = { maxQueue: 100, maxQueuedBytes: 1e9, maxSenderBytes: 1e9, maxRecipientBytes: 1e9 };

describe("a relay on its own", () => {
  test("an agent that unregisters is refused at its next request, and a wrong secret is never taken for a verified one", async () => {
    const { relay } = setup();
    const r = await relay.register(v.parse(RegisterRequest, { name: "worker" }));
    const worker = (await relay.authenticate(r.secret))!;
    expect(await relay.authenticate(r.secret)).toMatchObject({ id: worker.id });
    expect(await relay.authenticate(`${worker.id}.${"A".repeat(43)}`)).toBeUndefined();
    await relay.unregister(worker);
    expect(await relay.authenticate(r.secret)).toBeUndefined();
  });
});

describe.skipIf(redisMissing("test/unit/verified.test.ts") !== null)("relays on one Redis", () => {
  let redis: TestRedis;
  let n = 0;
  let now = 1_000_000;
  const clock = () => now;
  const relays: Relay[] = [];
  /** A relay wired as `clawlink relay --redis` wires it: its store's scripts publish as its bus. */
  const open = async (prefix: string) => {
    const store = await new RedisStore(redis.url, { prefix }).open();
    const bus = await new RedisBus(redis.url, prefix).open();
    store.publishAs(bus.origin);
    const relay = new Relay({ store, bus, clock });
    relays.push(relay);
    return { relay, store, bus };
  };
  /** Two relays, and an agent registered through the first, once the second heard of it (an event during a read keeps it from being remembered). */
  const pair = async () => {
    const prefix = `v${++n}:`;
    const [a, b] = [await open(prefix), await open(prefix)];
    const heard = new Promise<void>((resolve) => b.bus.subscribe((e) => e.type === "registered" && resolve()));
    const r = await a.relay.register(v.parse(RegisterRequest, { name: "worker" }));
    await heard;
    return { a, b, secret: r.secret, id: r.id };
  };
  /** Agent records read so far (HGET on `agents`, or anything else) by every client. */
  const hgets = async (s: RedisStore) => Number(/cmdstat_hget:calls=(\d+)/.exec((await s.client.send("INFO", ["commandstats"])) as string)?.[1] ?? 0);

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const r of relays) await r.close();
    await redis?.stop();
  });

  test("a verified agent's next requests read nothing from the store", async () => {
    const { b, secret, id } = await pair();
    expect(await b.relay.authenticate(secret)).toMatchObject({ id });
    const before = await hgets(b.store);
    for (let i = 0; i < 5; i++) expect(await b.relay.authenticate(secret)).toMatchObject({ id });
    expect(await hgets(b.store)).toBe(before);
  });

  test("an agent unregistered through one relay is refused by the other once the event arrives, its clock unmoved", async () => {
    const { a, b, secret, id } = await pair();
    expect(await b.relay.authenticate(secret)).toMatchObject({ id });
    await a.relay.unregister((await a.relay.authenticate(secret))!);
    await eventually(async () => (await b.relay.authenticate(secret)) === undefined, 3000);
  });

  test("a wrong secret for an agent another request verified reads the store, and is refused", async () => {
    const { b, secret, id } = await pair();
    expect(await b.relay.authenticate(secret)).toMatchObject({ id });
    const before = await hgets(b.store);
    expect(await b.relay.authenticate(`${id}.${"A".repeat(43)}`)).toBeUndefined();
    expect(await hgets(b.store)).toBe(before + 1);
  });

  test("an agent taken over by a new registration is refused on every relay", async () => {
    const { a, b, secret, id } = await pair();
    expect(await b.relay.authenticate(secret)).toMatchObject({ id });
    now += 200_000;
    // Stale now: a new agent takes its name, and the old one is gone.
    const next = await a.relay.register(v.parse(RegisterRequest, { name: "worker" }));
    expect(next.id).not.toBe(id);
    await eventually(async () => (await b.relay.authenticate(secret)) === undefined, 3000);
    expect(await b.relay.authenticate(next.secret)).toMatchObject({ id: next.id });
  });

  test("with no event at all (the record changed behind the relays' backs), a verified agent is read again within VERIFIED_MS", async () => {
    const { a, b, secret, id } = await pair();
    expect(await b.relay.authenticate(secret)).toMatchObject({ id });
    // The store alone: no relay tells the others.
    expect(await a.store.unregisterAgent(id, now, "gone", ROOM)).toBeDefined();
    expect(await b.relay.authenticate(secret)).toMatchObject({ id });
    now += VERIFIED_MS;
    expect(await b.relay.authenticate(secret)).toBeUndefined();
  });

  test("once the bus comes back after losing its connection (events may be lost), nothing verified before is trusted", async () => {
    const { a, b, secret, id } = await pair();
    expect(await b.relay.authenticate(secret)).toMatchObject({ id });
    expect(await a.store.unregisterAgent(id, now, "gone", ROOM)).toBeDefined();
    // Every subscriber's connection is cut; each bus reconnects and says so.
    await a.store.client.send("CLIENT", ["KILL", "TYPE", "pubsub"]);
    await eventually(async () => (await b.relay.authenticate(secret)) === undefined, 5000);
  });
});
