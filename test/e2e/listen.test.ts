/** `listen` keeps its promise of at least once: a message is acknowledged only once it is handled and answered. */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { CliProcess, cleanup, eventually, freePort, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

/** A fresh relay with two registered agents, boss and worker, each in its own home. */
async function bossAndWorker() {
  const { url } = await spawnRelay();
  const boss = { home: tempHome(), relay: url };
  const worker = { home: tempHome(), relay: url };
  await runCli(["register", "--name", "boss"], boss);
  await runCli(["register", "--name", "worker"], worker);
  return { boss, worker };
}

describe("listen", () => {
  test("stops when its agent is unregistered, instead of registering it again", async () => {
    const { boss, worker } = await bossAndWorker();
    const listener = new CliProcess(["listen"], worker);
    await listener.waitFor(/listening as worker/);
    expect((await runCli(["unregister"], worker)).code).toBe(0);
    await listener.waitFor(/worker \(a_\w+\) was unregistered; stopping/);
    expect(await listener.proc.exited).toBe(0);
    expect((await runCli(["discover", "--all", "--json"], boss)).json.map((a: any) => a.name)).toEqual(["boss"]);
  });

  test("listen --exec writes its own status lines to stderr: stdout carries only the command's output", async () => {
    const { boss, worker } = await bossAndWorker();
    const listener = new CliProcess(["listen", "--exec", "echo handled"], worker);
    await listener.waitFor(/listening as worker/);
    const sent = await runCli(["delegate", "--to", "worker", "--task", "t", "--json"], boss);
    await listener.waitFor(new RegExp(`task ${sent.json.id}: \`?echo handled\`? exited 0`));
    expect((await runCli(["unregister"], worker)).code).toBe(0);
    await listener.waitFor(/was unregistered; stopping/);
    expect(await listener.proc.exited).toBe(0);
    expect(listener.stdout).toBe("handled\n");
    expect(listener.stderr).toContain("listening as worker");
    expect(listener.stderr).toMatch(new RegExp(`task ${sent.json.id}: \`?echo handled\`? exited 0`));
    expect(listener.stderr).toContain("was unregistered; stopping");
  });

  test("plain listen prints messages on stdout and its status lines on stderr", async () => {
    const { boss, worker } = await bossAndWorker();
    const listener = new CliProcess(["listen", "--json"], worker);
    await listener.waitFor(/listening as worker/);
    await runCli(["broadcast", "--content", "hello all"], boss);
    await eventually(() => listener.jsonLines().length === 1);
    await listener.stop();
    expect(listener.stdout).not.toContain("listening as");
    expect(listener.stderr).toContain("listening as worker");
  });

  test("a task redelivered while its handler still runs is not acknowledged: stopped mid-task, it comes back", async () => {
    const data = join(tempHome(), "relay.db");
    const port = freePort();
    let { relay, url } = await spawnRelay(["--data", data], undefined, port);
    const boss = { home: tempHome(), relay: url };
    const worker = { home: tempHome(), relay: url };
    await runCli(["register", "--name", "boss"], boss);
    await runCli(["register", "--name", "worker"], worker);
    const listener = new CliProcess(["listen", "--exec", "sleep 8; echo done", "--respond"], worker);
    await listener.waitFor(/listening as worker/);
    const { id } = (await runCli(["delegate", "--to", "worker", "--task", "slow", "--json"], boss)).json;
    await eventually(async () => (await runCli(["task", "--id", id, "--json"], boss)).json.state === "delivered", 5000);
    // A connected listener keeps its task; a relay restart queues again what was out on sockets, so the
    // listener, back on a new socket, is handed the task again while its handler still runs.
    relay.proc.kill("SIGKILL");
    ({ relay } = await spawnRelay(["--data", data], undefined, port));
    await eventually(async () => (await runCli(["task", "--id", id, "--json"], boss)).json?.attempts >= 2, 8000);
    await Bun.sleep(200);
    await listener.stop();
    const polled = (await runCli(["poll", "--json"], worker)).json;
    expect(polled.map((m: any) => m.id)).toContain(id);
  }, 30_000);

  test("a response the relay could not take is sent again once it is back, and only then acknowledged", async () => {
    const data = join(tempHome(), "relay.db");
    const port = freePort();
    let { relay, url } = await spawnRelay(["--data", data], undefined, port);
    const boss = { home: tempHome(), relay: url };
    const worker = { home: tempHome(), relay: url };
    await runCli(["register", "--name", "boss"], boss);
    await runCli(["register", "--name", "worker"], worker);
    const listener = new CliProcess(["listen", "--exec", "sleep 1; echo done", "--respond"], worker);
    await listener.waitFor(/listening as worker/);
    const { id } = (await runCli(["delegate", "--to", "worker", "--task", "across a restart", "--json"], boss)).json;
    await eventually(async () => (await runCli(["task", "--id", id, "--json"], boss)).json.state === "delivered");
    // The relay is down when the handler finishes, and back a little later.
    relay.proc.kill("SIGKILL");
    await relay.proc.exited;
    await listener.waitFor(/could not respond/, 5000);
    ({ relay } = await spawnRelay(["--data", data], undefined, port));
    const task = await eventually(async () => {
      const t = (await runCli(["task", "--id", id, "--json"], boss)).json;
      return t?.state === "completed" && t;
    }, 15_000);
    expect(task.result).toBe("done");
  }, 30_000);
});
