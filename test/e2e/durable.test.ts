/** Durable mode: kill -9 loses nothing acknowledged. Memory mode: nothing touches the disk. */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, cleanup, freePort, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

const N = 2000;

describe("relay --data", () => {
  test("thousands of tasks accepted, kill -9, restart: each is delivered exactly once; identities and files survive", async () => {
    const dir = tempHome();
    const data = join(dir, "state", "relay.db");
    const port = freePort();
    let { relay, url } = await spawnRelay(["--data", data], undefined, port);
    const boss = { home: tempHome(), relay: url };
    const worker = { home: tempHome(), relay: url };
    await runCli(["register", "--name", "boss"], boss);
    const workerId = (await runCli(["register", "--name", "worker", "--json"], worker)).json.id;
    const secret = (home: string) => {
      const d = join(home, "identities");
      return JSON.parse(readFileSync(join(d, readdirSync(d)[0]!), "utf8")).secret as string;
    };
    const bossAuth = { authorization: `Bearer ${secret(boss.home)}`, "content-type": "application/json" };
    await runCli(["file-put", "--key", "kept.txt"], { ...boss, stdin: "still here" });

    // Fire tasks concurrently; every 201 is a promise the relay must keep.
    const accepted: string[] = [];
    for (let i = 0; i < N; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          fetch(`${url}/v1/messages`, { method: "POST", headers: bossAuth, body: JSON.stringify({ type: "task", to: "worker", task: `job ${i + j}` }) }).then((r) => r.json() as any),
        ),
      );
      accepted.push(...batch.map((b) => b.id));
    }
    // Deliver and acknowledge the first 500 before the crash: those must not come back.
    const wAuth = { authorization: `Bearer ${secret(worker.home)}` };
    const early = ((await (await fetch(`${url}/v1/agents/${workerId}/inbox?max=500&ack=true`, { headers: wAuth })).json()) as any).messages;
    expect(early).toHaveLength(500);

    relay.proc.kill("SIGKILL");
    await relay.proc.exited;
    ({ relay, url } = await spawnRelay(["--data", data], undefined, port));

    // The worker's saved secret still works: the relay kept its id and the hash of its secret.
    const rest: any[] = [];
    for (;;) {
      const r = await runCli(["poll", "--max", "1000", "--json"], worker);
      expect(r.code).toBe(0);
      if (r.json.length === 0) break;
      rest.push(...r.json);
    }
    const ids = [...early, ...rest].filter((m: any) => m.type === "task").map((m: any) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual([...accepted].sort());
    expect((await runCli(["file-get", "--key", "kept.txt"], boss)).stdout).toBe("still here");
    const t = (await runCli(["task", "--id", accepted[0]!, "--json"], boss)).json;
    expect(t).toMatchObject({ state: "delivered", to: workerId });
  }, 60_000);
});

describe("memory mode", () => {
  test("a relay without --data writes nothing: its working folder, HOME and TMPDIR stay empty", async () => {
    const cwd = tempHome();
    const home = tempHome();
    const tmp = tempHome();
    const relay = new CliProcess(["relay", "--port", "0"], { env: { HOME: home, TMPDIR: tmp }, cwd });
    const m = await relay.waitFor(/http:\/\/127\.0\.0\.1:\d+/);
    const a = { home: tempHome(), relay: m[0] };
    await runCli(["register", "--name", "a"], a);
    await runCli(["file-put", "--key", "x.txt"], { ...a, stdin: "bytes" });
    await runCli(["broadcast", "--content", "hi"], a);
    await relay.stop();
    expect(readdirSync(home)).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
    expect(readdirSync(cwd)).toEqual([]);
  });
});
