/** What the CLI says about ordinary slips and states: a value after a switch, a task still queued, a key not locked, who a task went to. */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

describe("a value after a flag that takes none", () => {
  test("delegate --wait 30: exit 2, and the hint names --timeout", async () => {
    const r = await runCli(["delegate", "--to", "bob", "--task", "x", "--wait", "30"], { home: tempHome() });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: unexpected argument "30"\nhint: --wait takes no value; use --wait --timeout 30\n');
  });

  test("--wait=30 and --all=no are refused like --wait 30, not taken for yes; =true and =false still work", async () => {
    const wait = await runCli(["delegate", "--to", "bob", "--task", "x", "--wait=30", "--json"], { home: tempHome() });
    expect(wait.code).toBe(2);
    expect(wait.json.error).toEqual({ code: "usage", message: 'unexpected value "30" for --wait', hint: "--wait takes no value; use --wait --timeout 30" });
    const all = await runCli(["discover", "--all=no", "--json"], { home: tempHome() });
    expect(all.code).toBe(2);
    expect(all.json.error).toEqual({ code: "usage", message: 'unexpected value "no" for --all', hint: '--all takes no value: drop "no", or run the command with --help to see its options' });
    const { url } = await spawnRelay();
    for (const value of ["true", "false"]) expect((await runCli(["discover", `--all=${value}`, "--json"], { home: tempHome(), relay: url })).code).toBe(0);
  });

  test("a switch without a related flag: the hint says to drop the value", async () => {
    const r = await runCli(["discover", "--all", "yes", "--json"], { home: tempHome() });
    expect(r.code).toBe(2);
    expect(r.json.error.hint).toBe('--all takes no value: drop "yes", or run the command with --help to see its options');
  });

  test("a stray word after a flag's value keeps the general hint", async () => {
    const r = await runCli(["delegate", "--to", "bob", "carol", "--task", "x"], { home: tempHome() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("hint: values go after their flag, e.g. --to NAME");
  });
});

describe("names", () => {
  test("are case-sensitive: Bob and bob are two agents", async () => {
    const { url } = await spawnRelay();
    const upper = await runCli(["register", "--name", "Bob", "--json"], { home: tempHome(), relay: url });
    const lower = await runCli(["register", "--name", "bob", "--json"], { home: tempHome(), relay: url });
    expect([upper.code, lower.code]).toEqual([0, 0]);
    expect(upper.json.id).not.toBe(lower.json.id);
    const names = (await runCli(["discover", "--json"], { home: tempHome(), relay: url })).json.map((a: { name: string }) => a.name);
    expect(names.sort()).toEqual(["Bob", "bob"]);
  });
});

describe("a task sent without --wait", () => {
  test("delegate names the agent it went to, with its id; a task still queued is queued for it, not held by it", async () => {
    const { url } = await spawnRelay();
    const boss = { home: tempHome(), relay: url };
    const bob = await runCli(["register", "--name", "bob", "--caps", "review", "--json"], { home: tempHome(), relay: url });
    await runCli(["register", "--name", "boss"], boss);
    const byName = await runCli(["delegate", "--to", "bob", "--task", "look"], boss);
    expect(byName.code).toBe(0);
    const id = byName.stdout.trim();
    expect(byName.stderr).toBe(`sent task ${id} to bob (${bob.json.id}); follow it: clawlink task --id ${id}\n`);
    const byCap = await runCli(["delegate", "--cap", "review", "--task", "look again"], boss);
    expect(byCap.stderr).toContain(` to bob (${bob.json.id}); follow it`);
    const waited = await runCli(["delegate", "--to", "bob", "--task", "in time?", "--wait", "--timeout", "1"], boss);
    expect(waited.code).toBe(13);
    expect(waited.stderr).toMatch(/; it is queued for bob \(online, seen /);
    expect(waited.stderr).not.toContain("held by");
  });
});

describe("a relay that will not start", () => {
  test("a usage error and its hint both go to stderr, nothing to stdout", async () => {
    const r = await runCli(["relay", "--port", "0", "--data", "x.db", "--redis", "redis://127.0.0.1:1"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("pass --data or --redis, not both");
    expect(r.stderr).toContain("--data keeps one relay's state in a file; --redis shares it between relays");
  });

  test("a port in use: the error and its hint on stderr", async () => {
    const { url } = await spawnRelay();
    const r = await runCli(["relay", "--port", new URL(url).port]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("is already in use");
    expect(r.stderr).toContain("is a relay already running? pick another with --port");
  });
});
