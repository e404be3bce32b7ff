/**
 * Relays on one Redis hear an agent's traffic only where someone waits for it: a relay follows an agent's
 * topic while it holds a socket or long poll of the agent, a task's while it holds a watch on it, and every
 * topic (the feed) while a dashboard is open on it. Each wait below would hang were its relay not following.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { CliProcess, cleanup, eventually, runCli, spawnRelay, tempHome } from "../_helpers";
import { delegateShouted, redisMissing, startRedis, startShouter } from "../_redis";
import { wsOpen, type WsClient } from "../ws";

afterAll(cleanup);

if (!redisMissing("test/e2e/redis-topics.test.ts")) {
  describe("relays on one Redis follow the topics someone waits on", async () => {
    let redis = await startRedis(["--appendonly", "yes", "--appendfsync", "always"]);
    afterAll(() => redis.stop());
    const [a, b, c] = [await spawnRelay(["--redis", redis.url]), await spawnRelay(["--redis", redis.url]), await spawnRelay(["--redis", redis.url])];
    const alice = tempHome();
    const bob = tempHome();
    const carol = tempHome();
    const on = (home: string, relay: { url: string }) => ({ home, relay: relay.url });
    const ids: Record<string, string> = {};
    /** How many relays hear a channel of the bus (`PUBSUB NUMSUB`). */
    const hearing = async (channel: string) => {
      const client = new RedisClient(redis.url);
      try {
        return Number(((await client.send("PUBSUB", ["NUMSUB", `clawlink:bus${channel}`])) as [string, number])[1]);
      } finally {
        client.close();
      }
    };
    /** The dashboard's socket on `relay`, past its snapshot; `feed` collects the ids of the messages it shows. */
    const dashboard = async (relay: { url: string }) => {
      const ws = await wsOpen(`${relay.url}/v1/admin/ws`);
      ws.send({ op: "auth" });
      const feed = new Set<string>();
      const read = async (ws: WsClient, until: () => boolean, timeoutMs = 10_000) => {
        const deadline = Date.now() + timeoutMs;
        while (!until()) {
          const f = (await ws.next(Math.max(1, deadline - Date.now()))) as { op: string; items?: { id: string }[] };
          for (const item of f.op === "feed" ? f.items! : []) feed.add(item.id);
        }
      };
      const snapshot = (await ws.next(10_000)) as { op: string };
      expect(snapshot.op).toBe("snapshot");
      return { ws, feed, read: (until: () => boolean) => read(ws, until) };
    };

    test("agents register on three relays; every relay hears the bus, and nobody hears an agent's topic yet", async () => {
      for (const [home, name, relay] of [[alice, "alice", a], [bob, "bob", b], [carol, "carol", c]] as const) {
        const r = await runCli(["register", "--name", name, "--json"], on(home, relay));
        expect(r.code).toBe(0);
        ids[name] = r.json.id;
      }
      expect(await hearing("")).toBe(3);
      expect(await hearing(`:a:${ids.bob}`)).toBe(0);
      expect(await hearing(":all")).toBe(0);
    });

    test("a socket on one relay takes what is sent through another, and only its relay hears the agent's topic", async () => {
      const listener = new CliProcess(["listen", "--json"], on(bob, b));
      await listener.waitFor(/listening|connected/i);
      expect(await hearing(`:a:${ids.bob}`)).toBe(1);
      expect((await runCli(["delegate", "--to", "bob", "--task", "first of many", "--json"], on(alice, a))).code).toBe(0);
      await listener.waitFor(/first of many/);
      // Neither alice's relay nor carol's heard it: one relay follows bob.
      expect(await hearing(`:a:${ids.bob}`)).toBe(1);
      await listener.stop();
      // Heard a little longer (a socket reconnecting costs no subscription), then not at all.
      await eventually(async () => (await hearing(`:a:${ids.bob}`)) === 0, 15_000);
    }, 30_000);

    test("a long poll on one relay wakes for a task sent through another", async () => {
      const poll = runCli(["poll", "--wait", "30", "--json"], on(bob, b));
      await eventually(async () => (await hearing(`:a:${ids.bob}`)) === 1, 10_000);
      expect((await runCli(["delegate", "--to", "bob", "--task", "wake the poll", "--json"], on(carol, c))).code).toBe(0);
      const got = await poll;
      expect(got.code).toBe(0);
      expect(got.json.map((m: { task?: string }) => m.task)).toContain("wake the poll");
    });

    test("delegate --wait on one relay sees the task answered by a worker on a third", async () => {
      const worker = await startShouter(on(carol, c));
      await delegateShouted(on(bob, b), ["--to", "carol"], "answer bob");
      await worker.stop();
    });

    test("a file watch on one relay sees a write through another", async () => {
      const watch = new CliProcess(["file-watch", "--key", "notes/", "--json"], on(bob, b));
      await watch.waitFor(/watching files under notes\//);
      expect((await runCli(["file-put", "--key", "notes/a.md", "--json"], { ...on(alice, a), stdin: "hello\n" })).code).toBe(0);
      await eventually(() => watch.jsonLines().some((m) => m.key === "notes/a.md" && m.action === "put"), 10_000);
      await watch.stop();
    });

    test("a dashboard on one relay shows the traffic of agents on the others, and its relay hears the feed only while it is open", async () => {
      const board = await dashboard(b);
      expect(await hearing(":all")).toBe(1);
      const sent = await runCli(["delegate", "--to", "carol", "--task", "seen on the dashboard", "--json"], on(alice, a));
      expect(sent.code).toBe(0);
      await board.read(() => board.feed.has(sent.json.id));
      board.ws.close();
      await eventually(async () => (await hearing(":all")) === 0, 15_000);
    }, 30_000);

    test("after Redis restarts, the sockets, file watches and dashboards held through it are heard again", async () => {
      const listener = new CliProcess(["listen", "--json"], on(bob, b));
      await listener.waitFor(/listening|connected/i);
      const dave = tempHome();
      const reg = await runCli(["register", "--name", "dave", "--json"], on(dave, b));
      expect(reg.code).toBe(0);
      const watch = new CliProcess(["file-watch", "--key", "notes/", "--json"], on(dave, b));
      await watch.waitFor(/watching files under notes\//);
      const board = await dashboard(b);
      await redis.stop(true);
      redis = await startRedis(["--appendonly", "yes", "--appendfsync", "always"], redis.port, redis.dir);
      for (const r of [a, b, c]) await r.relay.waitFor(/the Redis server at .* is back/, 15_000);
      await eventually(async () => (await hearing(`:a:${ids.bob}`)) === 1 && (await hearing(`:a:${reg.json.id}`)) === 1 && (await hearing(":all")) === 1, 15_000);
      const sent = await eventually(async () => {
        const r = await runCli(["delegate", "--to", "bob", "--task", "after the restart", "--json"], on(alice, a));
        return r.code === 0 && r.json;
      }, 10_000);
      await listener.waitFor(/after the restart/, 10_000);
      await board.read(() => board.feed.has(sent.id));
      expect((await runCli(["file-put", "--key", "notes/b.md", "--json"], { ...on(alice, a), stdin: "again\n" })).code).toBe(0);
      await eventually(() => watch.jsonLines().some((m) => m.key === "notes/b.md"), 10_000);
      board.ws.close();
      await Promise.all([listener.stop(), watch.stop()]);
    }, 30_000);
  });
}
