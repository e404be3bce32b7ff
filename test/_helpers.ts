/** What every test needs: a real relay on a free loopback port, the real CLI as a subprocess, temp homes. */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRelay, type RelayOptions, type RelayServer } from "../src/relay/server";

const root = join(import.meta.dir, "..");
const hostOs = process.platform === "win32" ? "windows" : process.platform;
export const BINARY = join(root, "dist", `clawlink-${hostOs}-${process.arch}${hostOs === "windows" ? ".exe" : ""}`);

/** The compiled binary (built by `npm test` before `bun test`); CLAWLINK_TEST_SOURCE=1 runs the sources instead. */
export function cliCommand(): string[] {
  if (process.env.CLAWLINK_TEST_SOURCE === "1") return [process.execPath, join(root, "src", "cli.ts")];
  if (!existsSync(BINARY)) throw new Error(`no binary at ${BINARY}: run \`bun scripts/build.ts --host\` (npm test does)`);
  return [BINARY];
}

const cleanups: (() => unknown)[] = [];
const children = new Set<ReturnType<typeof Bun.spawn>>();

/** Stops what the file's tests started; every test file calls `afterAll(cleanup)`. */
export async function cleanup() {
  for (const c of cleanups.splice(0).reverse()) await c();
}
// Should a test run die half-way, no relay or listener outlives it.
process.on("exit", () => {
  for (const p of children) if (p.exitCode === null) p.kill("SIGKILL");
});

/** An in-process relay on a free port, stopped after the file's tests. */
export function startTestRelay(opts: RelayOptions = {}): RelayServer {
  const relay = startRelay({ host: "127.0.0.1", port: 0, version: "test", ...opts });
  cleanups.push(() => relay.stop());
  return relay;
}

/** A fresh CLAWLINK_HOME, removed after the file's tests. */
export function tempHome(): string {
  const dir = mkdtempSync(join(tmpdir(), "clawlink-test-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json: any;
}

/** Runs the CLI to completion. The environment is cleaned of the caller's CLAWLINK_* variables. */
export async function runCli(
  args: string[],
  opts: { home?: string; relay?: string; env?: Record<string, string>; stdin?: string | Uint8Array; timeoutMs?: number; command?: string[] } = {},
): Promise<CliResult> {
  const proc = Bun.spawn([...(opts.command ?? cliCommand()), ...args], {
    env: cliEnv(opts),
    stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(), opts.timeoutMs ?? 20_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {}
  return { code, stdout, stderr, json };
}

/** An agent registered by the CLI in a home of its own: what `runCli` needs to act as it, and its id. */
export type Member = { home: string; relay: string; id: string };

export async function member(url: string, name: string, caps?: string): Promise<Member> {
  const home = tempHome();
  const r = await runCli(["register", "--name", name, ...(caps ? ["--caps", caps] : []), "--json"], { home, relay: url });
  if (r.code !== 0) throw new Error(`register ${name} exited ${r.code}: ${r.stderr}`);
  return { home, relay: url, id: r.json.id };
}

/** The environment a CLI subprocess gets: the caller's without its CLAWLINK_* variables, plus the home and relay given. */
export function cliEnv(opts: { home?: string; relay?: string; env?: Record<string, string> }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("CLAWLINK_")) env[k] = v;
  env.NO_COLOR = "1";
  if (opts.home) env.CLAWLINK_HOME = opts.home;
  if (opts.relay) env.CLAWLINK_RELAY = opts.relay;
  return { ...env, ...opts.env };
}

/** A long-running CLI process (relay, listen) whose output can be awaited line by line. */
export class CliProcess {
  readonly proc: ReturnType<typeof Bun.spawn>;
  stdout = "";
  stderr = "";
  private waiters: (() => void)[] = [];

  /** `command` runs another clawlink than the one under test (an installed one). */
  constructor(args: string[], opts: { home?: string; relay?: string; env?: Record<string, string>; cwd?: string; command?: string[] } = {}) {
    this.proc = Bun.spawn([...(opts.command ?? cliCommand()), ...args], { env: cliEnv(opts), cwd: opts.cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    children.add(this.proc);
    this.pipe(this.proc.stdout as ReadableStream<Uint8Array>, "stdout");
    this.pipe(this.proc.stderr as ReadableStream<Uint8Array>, "stderr");
    cleanups.push(() => this.stop());
  }

  private async pipe(stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this[into] += decoder.decode(chunk, { stream: true });
      for (const w of this.waiters.splice(0)) w();
    }
  }

  /** Waits until stdout+stderr matches `pattern`; returns the match. */
  async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = (this.stdout + this.stderr).match(pattern);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output so far:\n${this.stdout}\n${this.stderr}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  /** stdout's complete lines parsed as JSON. */
  jsonLines(): any[] {
    return this.stdout
      .split("\n")
      .filter((l) => l.trim().startsWith("{"))
      .map((l) => JSON.parse(l));
  }

  async stop(signal: NodeJS.Signals = "SIGTERM") {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc.exitCode;
    this.proc.kill(signal);
    return await this.proc.exited;
  }
}

/** Starts `clawlink relay` as a subprocess on a free port and returns it with its URL. */
export async function spawnRelay(extra: string[] = [], env?: Record<string, string>, port = 0, command?: string[]): Promise<{ relay: CliProcess; url: string }> {
  const relay = new CliProcess(["relay", "--port", String(port), ...extra], { env, command });
  const m = await relay.waitFor(/https?:\/\/127\.0\.0\.1:(\d+)/);
  return { relay, url: m[0] };
}

/** Polls `check` until it returns a truthy value. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(25);
  }
}

/** A loopback port that was free a moment ago (for a relay that must come back on the same port). */
export function freePort(): number {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = server.port!;
  server.stop(true);
  return port;
}

/** The record the relay's core holds for an agent, found by its secret as any request would be. */
export async function agentOf(relay: RelayServer, secret: string) {
  const agent = await relay.core.authenticate(secret);
  if (!agent) throw new Error("the relay does not recognise this secret");
  return agent;
}

/** Messages waiting for an agent, as its heartbeat reports them. */
export async function pendingOf(relay: RelayServer, agent: { secret: string }): Promise<number> {
  return (await relay.core.heartbeat(await agentOf(relay, agent.secret))).pending;
}

/** A task as one of its parties sees it. */
export async function taskOf(relay: RelayServer, party: { secret: string }, taskId: string) {
  return relay.core.getTask(await agentOf(relay, party.secret), taskId);
}
