/**
 * A task's context reaches its holder, and reads back, as its sender wrote it on every store (the Redis
 * one keeps it as text beside the record): long keys, numeric keys, big numbers, escapes, and
 * `__proto__`/`constructor`/`prototype` kept as plain data when nested, left out at the top level.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { MemoryStore } from "../../src/relay/store/memory";
import type { Store } from "../../src/relay/store/port";
import { RedisStore } from "../../src/relay/store/redis/store";
import { SqliteStore } from "../../src/relay/store/sqlite";
import { cleanup, startTestRelay, tempHome } from "../_helpers";
import { registerAgent } from "../_http";
import { redisMissing, startRedis, type TestRedis } from "../_redis";

afterAll(cleanup);

let redis: TestRedis | undefined;
const noRedis = redisMissing("test/integration/context-roundtrip.test.ts");
beforeAll(async () => {
  if (!noRedis) redis = await startRedis();
});
afterAll(() => redis?.stop());

/** Contexts as their senders write them; each comes back as the same text, but for the keys left out at the top level. */
const CONTEXTS = [
  '{"constructor":"alice","prototype":"v2","__proto__":{"x":1},"k":1}',
  '{"__proto__":null}',
  '{"a":{"constructor":1,"__proto__":[1,2]},"2":"two","1":"one","b":"\\u2028"}',
  `{"${"k".repeat(5000)}":1e308,"n":-0.5,"big":123456789012345680000}`,
];

const TOP_LEVEL_LEFT_OUT = ["__proto__", "constructor", "prototype"];

const stores: [string, () => Store][] = [
  ["memory", () => new MemoryStore()],
  ["sqlite", () => new SqliteStore(join(tempHome(), "relay.db"))],
  ...(noRedis ? [] : [["redis", () => new RedisStore(redis!.url, { prefix: `ctx${Math.random()}:` })] as [string, () => Store]]),
];

describe("a task's context round-trips", () => {
  for (const [name, open] of stores) {
    test(`on the ${name} store`, async () => {
      const relay = startTestRelay({ store: open() });
      const boss = await registerAgent(relay.url, "boss");
      const worker = await registerAgent(relay.url, "worker");
      for (const ctx of CONTEXTS) {
        const body = `{"type":"task","to":"worker","task":"t","context":${ctx}}`;
        const sent = await fetch(`${relay.url}/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${boss.secret}`, "content-type": "application/json" }, body });
        expect(sent.status).toBe(201);
        const { id } = (await sent.json()) as { id: string };
        const expected = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(ctx)).filter(([k]) => !TOP_LEVEL_LEFT_OUT.includes(k))));
        const inbox = await fetch(`${relay.url}/v1/agents/${worker.id}/inbox`, { headers: { authorization: `Bearer ${worker.secret}` } });
        const msgs = JSON.parse(await inbox.text()).messages as { id: string; context: unknown }[];
        expect(JSON.stringify(msgs.find((m) => m.id === id)!.context)).toBe(expected);
        const read = async () => JSON.stringify(JSON.parse(await (await fetch(`${relay.url}/v1/tasks/${id}`, { headers: { authorization: `Bearer ${boss.secret}` } })).text()).context);
        expect(await read()).toBe(expected);
        // Finished: the record is written again (on Redis, by a script that splices the context back in).
        const done = await fetch(`${relay.url}/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${worker.secret}`, "content-type": "application/json" }, body: JSON.stringify({ type: "response", in_reply_to: id, result: "ok" }) });
        expect(done.status).toBe(201);
        expect(await read()).toBe(expected);
      }
    });
  }
});
