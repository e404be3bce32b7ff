/** The store contract (store-contract.ts) against every store: memory, and SQLite reopened on its file. */
import { afterAll } from "bun:test";
import { join } from "node:path";
import { MemoryStore } from "../../src/relay/store/memory";
import type { Store } from "../../src/relay/store/port";
import { SqliteStore } from "../../src/relay/store/sqlite";
import { cleanup, tempHome } from "../_helpers";
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
