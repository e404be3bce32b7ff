/**
 * A private redis-server for one test file, on a free loopback port, with no persistence unless asked.
 * Without `redis-server` the Redis tests are skipped with a loud message; under CI they fail instead.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "bun:test";
import { CliProcess, freePort, runCli } from "./_helpers";

export const REDIS_SERVER = Bun.which("redis-server");

/** Why the Redis tests cannot run here, or null when they can; under CI a missing server is an error. */
export function redisMissing(file: string): string | null {
  if (REDIS_SERVER) return null;
  const why = `redis-server is not installed, so the Redis tests in ${file} are SKIPPED (apt-get install redis-server runs them)`;
  if (process.env.CI) throw new Error(`${why}; CI must run them: .ci/run installs redis-server`);
  console.warn(`\n!!! ${why}\n`);
  return why;
}

export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  proc: ReturnType<typeof Bun.spawn>;
  /** Stops the server (and, unless `keep`, removes its directory). */
  stop(keep?: boolean): Promise<void>;
}

/** Starts redis-server on a free port; `extra` adds options (such as `--appendonly yes`). */
export async function startRedis(extra: string[] = [], port = freePort(), dir = mkdtempSync(join(tmpdir(), "clawlink-redis-"))): Promise<TestRedis> {
  const args = [REDIS_SERVER!, "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", ...extra];
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  // Should the test run die half-way, its redis-server does not outlive it.
  process.on("exit", () => proc.exitCode === null && proc.kill("SIGKILL"));
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const c = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      c.end();
      break;
    } catch {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}: ${await new Response(proc.stdout).text()}`);
      await Bun.sleep(20);
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    proc,
    async stop(keep = false) {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await proc.exited;
      }
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Seat = { home: string; relay: string };

/** A `listen --exec` worker, `at` a home on a relay, that answers each task with its text in capitals. */
export async function startShouter(at: Seat): Promise<CliProcess> {
  const worker = new CliProcess(["listen", "--exec", "tr a-z A-Z", "--respond", "--type", "task"], at);
  await worker.waitFor(/listening|connected/i);
  return worker;
}

/** `delegate --wait` as `from` to a shouter (`to`: `--to NAME` or `--cap CAP`), which must answer it in capitals: the response. */
export async function delegateShouted(from: Seat, to: string[], task: string) {
  const r = await runCli(["delegate", ...to, "--task", task, "--wait", "--timeout", "20", "--json"], from);
  expect(r.code).toBe(0);
  expect(r.json).toMatchObject({ type: "response", status: "completed" });
  expect(r.json.result).toContain(task.toUpperCase());
  return r.json;
}
