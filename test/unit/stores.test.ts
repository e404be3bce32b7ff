/** The store contract (store-contract.ts) against every store: memory, SQLite reopened on its file, and Redis (a private redis-server). */
import { afterAll, beforeAll } from "bun:test";
import { join } from "node:path";
import { MemoryStore } from "../../src/relay/store/memory";
import type { Store } from "../../src/relay/store/port";
import { RedisStore } from "../../src/relay/store/redis/store";
import { SqliteStore } from "../../src/relay/store/sqlite";
import { cleanup, tempHome } from "../_helpers";
import { redisMissing, startRedis, type TestRedis } from "../_redis";
import { storeContract } from "./store-contract";

afterAll(cleanup);

storeContract({ name: "memory", open: () => new MemoryStore(), again: async (s) => s });

const paths = new WeakMap<Store, string>();
storeContract({
  name: "sqlite",
  open() {
    const path = join(tempHome(), "relay.db");
    const s = new SqliteStore(path);
    paths.set(s, path);
    return s;
  },
  async again(s) {
    const path = paths.get(s)!;
    await s.close();
    const reopened = new SqliteStore(path);
    paths.set(reopened, path);
    return reopened;
  },
});

if (!redisMissing("test/unit/stores.test.ts")) {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());
  let teams = 0;
  // Each store is a team of its own on the one server: its own key prefix.
  storeContract({
    name: "redis",
    open: () => new RedisStore(redis.url, { prefix: `t${++teams}:` }),
    async again(s) {
      const { prefix } = s as RedisStore;
      await s.close();
      return new RedisStore(redis.url, { prefix });
    },
  });
}
