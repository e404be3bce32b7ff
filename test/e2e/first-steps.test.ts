/** What a first-time agent trips over: whoami before registering or against another relay, a --context in shell quoting, stopping a listener. */
import { afterAll, describe, expect, test } from "bun:test";
import { CliProcess, cleanup, eventually, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

describe("whoami answers before and after registering, and says which relay knows the agent", async () => {
  const { url } = await spawnRelay();
  const { url: other } = await spawnRelay();

  test("before registering: exit 0, not registered, the relay reachable, and the next step", async () => {
    const home = tempHome();
    const r = await runCli(["whoami", "--json"], { home, relay: url });
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ name: null, reachable: true, registered: false, problem: { code: "no_identity" } });
    expect(r.json.problem.hint).toContain("clawlink register --name NAME");
  });

  test("with another relay: names the identity and the relay it is registered with", async () => {
    const home = tempHome();
    expect((await runCli(["register", "--name", "first"], { home, relay: url })).code).toBe(0);
    const r = await runCli(["whoami", "--json", "--relay", other], { home });
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ registered: false, reachable: true, other_relay: { name: "first", relay: url } });
    const human = await runCli(["whoami", "--relay", other], { home });
    expect(human.stdout).toContain(`name        (none for this relay; first is registered with ${url})`);
  });

  test("with its relay down: the identity, the relay unreachable, registration unknown, exit 3", async () => {
    const { url: gone, relay } = await spawnRelay();
    const home = tempHome();
    const r0 = await runCli(["register", "--name", "lonely", "--json"], { home, relay: gone });
    await relay.stop();
    const r = await runCli(["whoami", "--json"], { home });
    expect(r.code).toBe(3);
    expect(r.json).toMatchObject({ name: "lonely", id: r0.json.id, reachable: false, registered: null });
    expect((await runCli(["whoami"], { home })).stdout).toContain("registered  unknown (the relay did not answer)");
  });
});

describe("delegate --context", async () => {
  const { url } = await spawnRelay();
  const home = tempHome();
  await runCli(["register", "--name", "ctx"], { home, relay: url });

  test("JSON without quotes on its keys is refused with what to fix and an example (exit 2)", async () => {
    const r = await runCli(["delegate", "--to", "ctx", "--task", "x", "--context", "{repo:api}"], { home, relay: url });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--context is not valid JSON (");
    expect(r.stderr).toContain("keys and strings need double quotes");
    expect(r.stderr).toContain(`--context '{"repo":"api","branch":"main"}'`);
  });
});

describe("listen stopped with SIGTERM", async () => {
  const { url } = await spawnRelay();
  const boss = tempHome();
  const w = tempHome();
  await runCli(["register", "--name", "boss"], { home: boss, relay: url });
  await runCli(["register", "--name", "stopper"], { home: w, relay: url });

  test("exits 0 while a handler runs, and hands the unacknowledged task back for the next listener", async () => {
    const first = new CliProcess(["listen", "--exec", "sleep 30"], { home: w, relay: url });
    await first.waitFor(/listening as/);
    const id = (await runCli(["delegate", "--to", "stopper", "--task", "long", "--json"], { home: boss, relay: url })).json.id;
    await eventually(async () => (await runCli(["task", "--id", id, "--json"], { home: boss, relay: url })).json.state === "delivered", 10_000);
    expect(await first.stop("SIGTERM")).toBe(0);
    const next = new CliProcess(["listen", "--json"], { home: w, relay: url });
    await next.waitFor(new RegExp(`"type":"task","id":"${id}".*"attempt":2,"redelivered":true`));
  });
});
