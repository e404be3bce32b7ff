/** LAN safety: a relay reachable from the network without a token is refused before it binds anything. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

describe("binding a non-loopback host", () => {
  // A name that starts like a loopback address may resolve anywhere: only literal loopback addresses count.
  for (const host of ["0.0.0.0", "::", "192.0.2.10", "127.0.0.1.nip.io", "127.0.0.256"]) {
    test(`--host ${host} without --token is refused, with what to do instead (exit 2)`, async () => {
      const r = await runCli(["relay", "--host", host, "--port", "0"], { timeoutMs: 10_000 });
      expect(r.code).toBe(2);
      const out = r.stdout + r.stderr;
      expect(out).toContain(`refusing to bind ${host} without a token: anyone on the network could register agents (and through them send tasks and write shared files), list the agents and read the shared files; each agent's own inbox and actions still need its secret`);
      expect(out).toContain("start with --token-file PATH (or CLAWLINK_TOKEN)");
      expect(out).toContain("--insecure to accept the risk");
      expect(out).not.toContain("listening");
    });
  }

  test("a loopback host needs no token", async () => {
    const { url } = await spawnRelay(["--host", "127.0.0.1"]);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test("--token-file keeps the token out of the process list; --token works but warns that it shows there", async () => {
    const dir = tempHome();
    const file = join(dir, "relay.token");
    writeFileSync(file, "s3cret-from-a-file\n", { mode: 0o600 });
    const { relay, url } = await spawnRelay(["--token-file", file]);
    expect(readFileSync(`/proc/${relay.proc.pid}/cmdline`, "utf8")).not.toContain("s3cret-from-a-file");
    expect((await runCli(["register", "--name", "a"], { home: tempHome(), relay: url })).code).toBe(4);
    expect((await runCli(["register", "--name", "a"], { home: tempHome(), relay: url, env: { CLAWLINK_TOKEN: "s3cret-from-a-file" } })).code).toBe(0);
    expect(relay.stdout + relay.stderr).not.toContain("process list");
    // A short token can be guessed: the relay says what that costs, and what to use instead.
    await relay.waitFor(/the token is shorter than 32 characters \(or repeats a few\): once someone fails --max-auth-failures times from an address, even the right token waits a minute there; a long random one \(`?openssl rand -hex 16`?\) is never held back/);
    writeFileSync(file, "4f3c9e1a7b2d8c6e0f5a9b3d7c1e2f48\n", { mode: 0o600 });
    const long = await spawnRelay(["--token-file", file]);
    await long.relay.waitFor(/listening/);
    expect(long.relay.stdout + long.relay.stderr).not.toContain("shorter than 32 characters");

    const shown = await spawnRelay(["--token", "on-the-command-line"]);
    await shown.relay.waitFor(/--token is visible to every user of this machine in the process list; prefer CLAWLINK_TOKEN or --token-file/);

    const both = await runCli(["relay", "--port", "0", "--token", "x", "--token-file", file]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("pass --token or --token-file, not both");
    const missing = await runCli(["relay", "--port", "0", "--token-file", join(dir, "nope")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`--token-file: no such file: ${join(dir, "nope")}`);
    writeFileSync(join(dir, "empty"), "\n");
    const empty = await runCli(["relay", "--port", "0", "--token-file", join(dir, "empty")]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("is empty");
  });

  test("limit flags are checked before anything starts (exit 2)", async () => {
    const r = await runCli(["relay", "--port", "0", "--max-queue", "0"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--max-queue: must be at least 1");
    const frame = await runCli(["relay", "--port", "0", "--max-frame-bytes", "lots"]);
    expect(frame.code).toBe(2);
    expect(frame.stderr).toContain("--max-frame-bytes: must be a number");
    const half = await runCli(["relay", "--port", "0", "--max-agents", "2.5"]);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain("--max-agents: must be a whole number");
  });
});
