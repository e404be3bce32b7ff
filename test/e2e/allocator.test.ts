/** On Linux the relay runs with its allocator keeping freed memory (src/relay/allocator.ts), in the process it was started as. */
import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { cleanup, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

const environOf = (pid: number) => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");

test.skipIf(process.platform !== "linux")("the relay starts itself again in place with MIMALLOC_PURGE_DELAY=-1, keeps its pid, and serves; kill -9 ends it", async () => {
  const { relay, url } = await spawnRelay();
  expect(environOf(relay.proc.pid)).toContain("MIMALLOC_PURGE_DELAY=-1");
  // Started once: the listening banner comes from the process started again, and only from it.
  expect((relay.stdout + relay.stderr).match(/listening/g)).toHaveLength(1);
  const r = await runCli(["register", "--name", "alice", "--json"], { home: tempHome(), relay: url });
  expect(r.code).toBe(0);
  await relay.stop("SIGKILL");
  expect(relay.proc.signalCode).toBe("SIGKILL");
});

test.skipIf(process.platform !== "linux")("a MIMALLOC_PURGE_DELAY the user set is kept", async () => {
  const { relay } = await spawnRelay([], { MIMALLOC_PURGE_DELAY: "100" });
  expect(environOf(relay.proc.pid)).toContain("MIMALLOC_PURGE_DELAY=100");
  expect(environOf(relay.proc.pid)).not.toContain("MIMALLOC_PURGE_DELAY=-1");
});
