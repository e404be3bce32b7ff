/** The CLI meets the relay's edge rules: a loopback relay reached by another name, and its connection limits. */
import { afterAll, describe, expect, test } from "bun:test";
import { CliProcess, cleanup, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

/** `localhost.` resolves to 127.0.0.1 but is not a literal loopback name: what a rebound name looks like. */
const byName = (url: string) => url.replace("127.0.0.1", "localhost.");

describe("the host name in the relay URL", () => {
  test("a loopback relay reached by another name is refused: exit 3, where to connect, and --allow-host", async () => {
    const { url } = await spawnRelay();
    const r = await runCli(["register", "--name", "x"], { home: tempHome(), relay: byName(url) });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`this relay listens on loopback and answers only to localhost, 127.0.0.1 or [::1], not to "localhost.:${new URL(url).port}"`);
    expect(r.stderr).toContain(`connect to ${url}; behind a proxy that passes its own host name, start the relay with --allow-host NAME`);
  });

  test("relay --allow-host adds that name", async () => {
    const { url } = await spawnRelay(["--allow-host", "localhost."]);
    expect((await runCli(["register", "--name", "x"], { home: tempHome(), relay: byName(url) })).code).toBe(0);
  });

  test("relay --host 0.0.0.0 --insecure (no token) still refuses a rebound name: exit 3, and --allow-host", async () => {
    const relay = new CliProcess(["relay", "--host", "0.0.0.0", "--port", "0", "--insecure"]);
    const url = (await relay.waitFor(/http:\/\/127\.0\.0\.1:\d+/))[0];
    expect((await runCli(["register", "--name", "x"], { home: tempHome(), relay: url })).code).toBe(0);
    const r = await runCli(["register", "--name", "y"], { home: tempHome(), relay: byName(url) });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("this relay has no token, so it answers only to its own addresses and host name (");
    expect(r.stderr).toContain("start the relay with --allow-host NAME, or give it a --token");
    await relay.stop();
  });

  test("a relay bound to every interface answers to any name (it has a token instead)", async () => {
    const relay = new CliProcess(["relay", "--host", "0.0.0.0", "--port", "0", "--token", "t0k3n"]);
    const url = (await relay.waitFor(/http:\/\/127\.0\.0\.1:\d+/))[0];
    const r = await runCli(["register", "--name", "x"], { home: tempHome(), relay: byName(url), env: { CLAWLINK_TOKEN: "t0k3n" } });
    expect(r.code).toBe(0);
  });
});

describe("connection limits, as the CLI sees them", async () => {
  const { url } = await spawnRelay(["--max-connections-per-agent", "1"]);
  const worker = { home: tempHome(), relay: url };
  const boss = { home: tempHome(), relay: url };
  await runCli(["register", "--name", "worker"], worker);
  await runCli(["register", "--name", "boss"], boss);

  test("a second listen for the same agent says which limit refused it, and keeps trying", async () => {
    const first = new CliProcess(["listen"], worker);
    await first.waitFor(/listening as worker/);
    const second = new CliProcess(["listen"], worker);
    await second.waitFor(/the relay refused the connection: agent a_\w+ already holds 1 open connections \(WebSockets, long polls, A2A streams and blocking A2A sends\), the relay's limit \(--max-connections-per-agent\)/);
    expect(second.proc.exitCode).toBeNull();
    expect(await first.stop()).toBe(0);
    await second.waitFor(/listening as worker/, 15_000);
    expect(await second.stop()).toBe(0);
  });

  test("delegate --wait over the limit exits 7 with the limit, and the task keeps running", async () => {
    const listener = new CliProcess(["listen"], boss);
    await listener.waitFor(/listening as boss/);
    const r = await runCli(["delegate", "--to", "worker", "--task", "t", "--wait", "--timeout", "30"], boss);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/cannot follow task t_\w+: agent a_\w+ already holds 1 open connections \(WebSockets, long polls, A2A streams and blocking A2A sends\), the relay's limit \(--max-connections-per-agent\)/);
    expect(r.stderr).toContain("the task keeps running: check it with `clawlink task --id t_");
    await listener.stop();
  });
});
