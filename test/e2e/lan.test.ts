/** LAN safety: a relay reachable from the network without a token is refused before it binds anything. */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, runCli, spawnRelay } from "../_helpers";

afterAll(cleanup);

describe("binding a non-loopback host", () => {
  for (const host of ["0.0.0.0", "::", "192.0.2.10"]) {
    test(`--host ${host} without --token is refused, with what to do instead (exit 2)`, async () => {
      const r = await runCli(["relay", "--host", host, "--port", "0"], { timeoutMs: 10_000 });
      expect(r.code).toBe(2);
      const out = r.stdout + r.stderr;
      expect(out).toContain(`refusing to bind ${host} without a token: anyone on the network could register, read every agent's messages and send as them`);
      expect(out).toContain("start with --token SECRET (or CLAWLINK_TOKEN)");
      expect(out).toContain("--insecure to accept the risk");
      expect(out).not.toContain("listening");
    });
  }

  test("a loopback host needs no token", async () => {
    const { url } = await spawnRelay(["--host", "127.0.0.1"]);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test("limit flags are checked before anything starts (exit 2)", async () => {
    const r = await runCli(["relay", "--port", "0", "--max-queue", "0"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--max-queue must be a whole number of at least 1, not "0"');
    const frame = await runCli(["relay", "--port", "0", "--max-frame-bytes", "lots"]);
    expect(frame.code).toBe(2);
    expect(frame.stderr).toContain('--max-frame-bytes must be a whole number of at least 1024, not "lots"');
  });
});
