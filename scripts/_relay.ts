/** The servers under test, each in its own process on a loopback port, and the CLI they are driven with. */
import type { Subprocess } from "bun";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Summary } from "./_stats";

const root = join(import.meta.dir, "..");
const hostOs = process.platform === "win32" ? "windows" : process.platform;
export let BINARY = join(root, "dist", `clawlink-${hostOs}-${process.arch}${hostOs === "windows" ? ".exe" : ""}`);

/** Benchmarks another build (`--binary PATH`), e.g. one from before a change, for an A/B comparison. */
export function useBinary(path: string) {
  BINARY = path;
}

/** Builds the host binary when it is missing, so a fresh checkout can run the bench. */
export async function ensureBinary() {
  if (existsSync(BINARY)) return;
  const proc = Bun.spawn([process.execPath, join(root, "scripts", "build.ts"), "--host"], { cwd: root, stdout: "inherit", stderr: "inherit" });
  if ((await proc.exited) !== 0) throw new Error("building the binary failed");
}

// Whatever the bench started dies with it, even on Ctrl-C or a crash.
const live = new Set<Subprocess>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

/** Remembers a child so it is killed if the bench exits first. */
export function track<P extends Subprocess>(proc: P): P {
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  return proc;
}

export interface ServerProcess {
  url: string;
  pid: number;
  proc: Subprocess;
  /** Everything it printed on stdout so far. */
  output(): string;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  flags?: string[];
  /** Run the sources under `bun --cpu-prof-md` instead of the binary; the profile lands in this directory on stop. */
  profileDir?: string;
}

/** Starts `clawlink relay --port 0` and waits for its URL. */
export function spawnRelay(opts: SpawnOptions = {}): Promise<ServerProcess> {
  const cmd = opts.profileDir
    ? [process.execPath, "--cpu-prof-md", `--cpu-prof-dir=${opts.profileDir}`, join(root, "src", "cli.ts")]
    : [BINARY];
  const flags = knownFlags(cmd, opts.flags ?? []);
  return spawnServer([...cmd, "relay", "--host", "127.0.0.1", "--port", "0", ...flags], opts.profileDir ? 30_000 : 5_000);
}

/** Each build's `relay --help`, asked once. */
const relayHelp = new Map<string, string>();

/** Drops `--flag value` pairs a build's `relay --help` does not list: a budget an older build never had cannot bind it. */
function knownFlags(cmd: string[], flags: string[]): string[] {
  if (!flags.length) return flags;
  const build = cmd.join(" ");
  let help = relayHelp.get(build);
  if (help === undefined) relayHelp.set(build, (help = Bun.spawnSync([...cmd, "relay", "--help"]).stdout.toString()));
  const kept: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i]!;
    const takesValue = i + 1 < flags.length && !flags[i + 1]!.startsWith("--");
    if (!flag.startsWith("--") || help.includes(`${flag}=`) || help.includes(`${flag} `)) kept.push(flag, ...(takesValue ? [flags[i + 1]!] : []));
    if (takesValue) i++;
  }
  return kept;
}

/** Starts the bare Bun.serve the relay is compared with (scripts/_baseline.ts). */
/** The bare Bun.serve; `env` adds to the environment (the relay's allocator setting, for a like-for-like figure). */
export function spawnBaseline(env: Record<string, string> = {}): Promise<ServerProcess> {
  return spawnServer([process.execPath, join(import.meta.dir, "_baseline.ts")], 5_000, env);
}

/** The relay from source with its handlers timed in-process (scripts/_timed-relay.ts); `timings` reads them after stop. */
export async function spawnTimedRelay(flags: string[] = []) {
  const server = await spawnServer([process.execPath, join(import.meta.dir, "_timed-relay.ts"), ...flags], 5_000);
  return {
    ...server,
    timings(): { ws: TimingSummary; http: TimingSummary } | undefined {
      const line = /^timings (.*)$/m.exec(server.output());
      return line ? JSON.parse(line[1]!) : undefined;
    },
  };
}

/** Handler times in microseconds. */
export type TimingSummary = Summary;

/** Runs a server with the open-files limit raised to the hard limit and waits for the URL it prints. */
async function spawnServer(cmd: string[], stopGraceMs: number, env: Record<string, string> = {}): Promise<ServerProcess> {
  // `exec` keeps the pid: the shell becomes the server after raising its limit.
  const proc = track(
    Bun.spawn(["sh", "-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', "sh", ...cmd], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...env },
    }),
  );
  const stdout = readStdout(proc);
  const url = await stdout.url;
  return {
    url,
    pid: proc.pid,
    proc,
    output: () => stdout.text(),
    async stop() {
      proc.kill("SIGTERM");
      const done = await Promise.race([proc.exited.then(() => true), Bun.sleep(stopGraceMs).then(() => false)]);
      if (!done) proc.kill("SIGKILL");
      await proc.exited;
      await stdout.ended;
    },
  };
}

/** Collects a server's stdout (always drained, so it never blocks on a full pipe) and finds its URL in it. */
function readStdout(proc: Subprocess<"ignore", "pipe", "pipe">) {
  const decoder = new TextDecoder();
  let text = "";
  let found: (url: string) => void = () => {};
  let failed: (err: Error) => void = () => {};
  const url = new Promise<string>((resolve, reject) => {
    found = resolve;
    failed = reject;
  });
  const deadline = setTimeout(() => proc.kill("SIGKILL"), 10_000);
  const stderr = new Response(proc.stderr).text();
  const ended = (async () => {
    for await (const chunk of proc.stdout) {
      text += decoder.decode(chunk, { stream: true });
      const m = /http:\/\/127\.0\.0\.1:\d+/.exec(text);
      if (m) {
        clearTimeout(deadline);
        found(m[0]);
      }
    }
    clearTimeout(deadline);
    failed(new Error(`the server did not start: ${text}${await stderr}`));
  })();
  return { url, ended, text: () => text };
}

export interface AgentCred {
  id: string;
  name: string;
  secret: string;
}

/** Registers agents over HTTP, `concurrency` at a time. */
export async function registerAgents(url: string, names: string[], concurrency = 16): Promise<AgentCred[]> {
  const out: AgentCred[] = new Array(names.length);
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const i = next++;
      const res = await fetch(`${url}/v1/agents`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: names[i], caps: ["bench"], description: "a bench agent" }),
      });
      if (res.status !== 201) throw new Error(`registering ${names[i]}: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as AgentCred;
      out[i] = { id: body.id, name: body.name, secret: body.secret };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, names.length) }, worker));
  return out;
}

/** A throwaway CLAWLINK_HOME. */
export function tempHome(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "clawlink-bench-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The environment for the CLI: the caller's, minus its CLAWLINK_* settings. */
export function cliEnv(home: string, relay: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("CLAWLINK_")) env[k] = v;
  return { ...env, NO_COLOR: "1", CLAWLINK_HOME: home, CLAWLINK_RELAY: relay };
}

/** Runs the binary to completion and returns its stdout; throws on a non-zero exit. */
export async function runBinary(args: string[], env: Record<string, string>): Promise<string> {
  const proc = Bun.spawn([BINARY, ...args], { env, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`clawlink ${args.join(" ")} exited ${code}: ${err || out}`);
  return out;
}
