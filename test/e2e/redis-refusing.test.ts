/**
 * A relay (the compiled binary) on a Redis that answers but refuses to write: a read-only replica, as after
 * `REPLICAOF`; out of memory and a busy script are refused the same way. The relay answers 503 and stays up.
 */
import { RedisClient } from "bun";
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, runCli, spawnRelay, tempHome } from "../_helpers";
import { redisMissing, startRedis } from "../_redis";
import { wsConnect } from "../ws";

afterAll(cleanup);

if (!redisMissing("test/e2e/redis-refusing.test.ts")) {
  describe("a relay whose Redis refuses writes", async () => {
    const redis = await startRedis();
    const admin = new RedisClient(redis.url);
    afterAll(async () => {
      admin.close();
      await redis.stop();
    });
    const { relay, url } = await spawnRelay(["--redis", redis.url]);
    const bob = tempHome();

    test("a frame on an open socket while Redis is read-only is refused, and the relay stays up", async () => {
      expect((await runCli(["register", "--name", "bob", "--json"], { home: bob, relay: url })).code).toBe(0);
      const { secret } = JSON.parse(readFileSync(join(bob, "identities", "bob.json"), "utf8"));
      const ws = await wsConnect(`${url}/v1/ws`, secret);
      expect((await ws.nextOp("hello")).agent.name).toBe("bob");
      // A frame more than a second after the last one marks the agent seen: a write, which Redis refuses.
      await Bun.sleep(1100);
      await admin.send("REPLICAOF", ["127.0.0.1", "1"]);
      try {
        ws.send({ op: "ack", ids: ["m_1"] });
        await Bun.sleep(500);
        expect(relay.proc.exitCode).toBeNull();
      } finally {
        await admin.send("REPLICAOF", ["NO", "ONE"]);
      }
      expect((await fetch(`${url}/v1/health`)).status).toBe(200);
      expect(relay.proc.exitCode).toBeNull();
      // Refused, not a bug: nothing goes to the operator's log as an error.
      expect(relay.stderr).not.toContain("ClawlinkError");
      ws.close();
    });

    test("a command the read-only Redis refuses says Redis refused it and exits 7", async () => {
      // A broadcast with nobody to queue it for writes nothing (nor does bob's request, within a second of his last):
      // alice makes it a write.
      expect((await runCli(["register", "--name", "alice", "--json"], { home: tempHome(), relay: url })).code).toBe(0);
      expect((await runCli(["whoami", "--json"], { home: bob, relay: url })).code).toBe(0);
      await admin.send("REPLICAOF", ["127.0.0.1", "1"]);
      try {
        const r = await runCli(["broadcast", "--content", "hello", "--json"], { home: bob, relay: url });
        expect(r.code).toBe(7);
        const { error } = JSON.parse(r.stdout);
        expect(error.code).toBe("store_unavailable");
        expect(error.message).toContain("the relay's Redis store refused the request (it answered READONLY");
        expect(error.message).toContain("so nothing was changed");
        // The relay logs nothing of a refusal (its connection is fine): the answer is in the message, not in its log.
        expect(error.hint).toBe("retry in a few seconds; if it goes on, the relay's operator must fix its Redis (its answer above says what: out of memory, a read-only replica, a busy script)");
        expect(relay.stdout + relay.stderr).not.toContain("READONLY");
      } finally {
        await admin.send("REPLICAOF", ["NO", "ONE"]);
      }
    });
  });
}
