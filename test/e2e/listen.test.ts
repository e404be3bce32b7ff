/** `listen` keeps its promise of at least once: a message is acknowledged only once it is handled and answered. */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { CliProcess, cleanup, eventually, freePort, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

describe("listen", () => {
  test("stops when its agent is unregistered, instead of registering it again", async () => {
    const { url } = await spawnRelay();
    const boss = { home: tempHome(), relay: url };
    const worker = { home: tempHome(), relay: url };
    await runCli(["register", "--name", "boss"], boss);
    await runCli(["register", "--name", "worker"], worker);
    const listener = new CliProcess(["listen"], worker);
    await listener.waitFor(/listening as worker/);
    expect((await runCli(["unregister"], worker)).code).toBe(0);
    await listener.waitFor(/worker \(a_\w+\) was unregistered; stopping/);
    expect(await listener.proc.exited).toBe(0);
    expect((await runCli(["discover", "--all", "--json"], boss)).json.map((a: any) => a.name)).toEqual(["boss"]);
  });
});
