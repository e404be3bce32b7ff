/**
 * How fast a one-shot command starts: `clawlink discover --json` against a relay holding 20 agents, next to
 * the smallest compiled Bun program that makes the same authenticated request and prints the same JSON
 * (the baseline, built with the release's compile flags). Runs alternate, so load on the machine hits
 * both alike. Also times `--version` against a compiled "hello", and lists what each command loads.
 *   bun scripts/bench-cli.ts [--runs 200] [--warmup 10] [--binary PATH] [--before PATH] [--profile DIR]
 *   --binary PATH   time this build instead of dist/
 *   --before PATH   also time an older build of clawlink in the same turns (before/after a change)
 *   --profile DIR   also write CPU profiles (Markdown) of a few discover runs to DIR
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { describeMachine, machineLine } from "./_machine";
import { commandLoads, heavyIn } from "./_modules";
import { BINARY, cliEnv, ensureBinary, registerAgents, runBinary, spawnRelay, tempHome, useBinary } from "./_relay";
import { verdict, type Figure } from "./_report";
import { fmtMs, summarize, type Summary } from "./_stats";
import { COMPILE_FLAGS } from "./_targets";

const TARGET_RATIO = 1.2;
const AGENTS = 20;
/** Commands that run until stopped, or serve a protocol: they load what they serve. */
const LONG_RUNNING = new Set(["relay", "mcp", "a2a-bridge"]);

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "200" },
    warmup: { type: "string", default: "10" },
    binary: { type: "string" },
    before: { type: "string" },
    profile: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log("usage: bun scripts/bench-cli.ts [--runs N] [--warmup N] [--binary PATH] [--before PATH] [--profile DIR]");
  process.exit(0);
}
const runs = Number(values.runs);
const warmup = Number(values.warmup);
if (!(Number.isInteger(runs) && runs >= 10 && Number.isInteger(warmup) && warmup >= 0)) {
  console.error("--runs takes a whole number of at least 10, --warmup a whole number");
  process.exit(2);
}
if (values.binary) useBinary(resolve(values.binary));
await ensureBinary();

/** The baseline: the same request and output as `discover --json`, and nothing else. */
const MINIMAL = `const res = await fetch(process.env.CLAWLINK_RELAY + "/v1/agents", { headers: { authorization: "Bearer " + process.env.BENCH_SECRET } });
if (!res.ok) { console.error(res.status); process.exit(1); }
console.log(JSON.stringify((await res.json()).agents));
`;

async function compileProgram(dir: string, name: string, source: string): Promise<string> {
  const src = join(dir, `${name}.ts`);
  const exe = join(dir, name);
  await Bun.write(src, source);
  const build = Bun.spawn([process.execPath, "build", src, "--compile", ...COMPILE_FLAGS, "--outfile", exe], { stdout: "ignore", stderr: "pipe" });
  if ((await build.exited) !== 0) throw new Error(`building ${name} failed: ${await new Response(build.stderr).text()}`);
  return exe;
}

/** Wall time, and the CPU time (user + system) the process used, which holds better when other work shares the cores. */
async function timeRun(cmd: string[], env: Record<string, string>): Promise<{ ms: number; cpuMs: number; out: string }> {
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, { env, stdout: "pipe", stderr: "ignore", stdin: "ignore" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${out}`);
  return { ms, cpuMs: Number(proc.resourceUsage()?.cpuTime.total ?? NaN) / 1000, out };
}

interface Timing {
  wall: Summary;
  cpu: Summary;
}

/** Each program once per turn, in an order that rotates, `runs` turns after `warmup` unmeasured ones. */
async function alternate(programs: Record<string, string[]>, env: Record<string, string>): Promise<Record<string, Timing>> {
  const names = Object.keys(programs);
  const wall: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const cpu: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let turn = 0; turn < warmup + runs; turn++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(turn + i) % names.length]!;
      const r = await timeRun(programs[name]!, env);
      if (turn < warmup) continue;
      wall[name]!.push(r.ms);
      cpu[name]!.push(r.cpuMs);
    }
  }
  return Object.fromEntries(names.map((n) => [n, { wall: summarize(wall[n]!), cpu: summarize(cpu[n]!) }]));
}

const line = (t: Timing) => `wall p50 ${fmtMs(t.wall.p50)}, p90 ${fmtMs(t.wall.p90)}, mean ${fmtMs(t.wall.mean)}; CPU p50 ${fmtMs(t.cpu.p50)}`;

const work = mkdtempSync(join(tmpdir(), "clawlink-bench-cli-"));
const relay = await spawnRelay();
const home = tempHome();
try {
  console.log(machineLine(describeMachine()));
  console.log(`binary: ${BINARY}`);
  const minimal = await compileProgram(work, "minimal", MINIMAL);
  const hello = await compileProgram(work, "hello", 'console.log("hello");\n');
  console.log(`baseline: a compiled Bun program (${COMPILE_FLAGS.join(" ")}) that GETs /v1/agents with the agent's secret and prints the JSON; floor: one that prints "hello"`);

  const env = cliEnv(home.dir, relay.url);
  await runBinary(["register", "--name", "me", "--caps", "bench"], env);
  await registerAgents(relay.url, Array.from({ length: AGENTS - 1 }, (_, i) => `agent-${String(i).padStart(2, "0")}`));
  const identity = await Bun.file(join(home.dir, "identities", "me.json")).json();
  const benchEnv = { ...env, BENCH_SECRET: identity.secret as string };

  const programs: Record<string, string[]> = { clawlink: [BINARY, "discover", "--json"], minimal: [minimal] };
  if (values.before) programs.before = [resolve(values.before), "discover", "--json"];
  for (const [name, cmd] of Object.entries(programs)) {
    const listed = JSON.parse((await timeRun(cmd, benchEnv)).out) as { name: string }[];
    if (listed.length !== AGENTS) throw new Error(`${name} listed ${listed.length} agents, expected ${AGENTS}`);
  }

  const discover = await alternate(programs, benchEnv);
  const ratio: Figure = { name: "discover/minimal (p50)", value: discover.clawlink!.wall.p50 / discover.minimal!.wall.p50, unit: "x", better: "lower", target: TARGET_RATIO };
  console.log(`discover --json (${AGENTS} agents, ${runs} runs each, alternating):`);
  for (const [name, s] of Object.entries(discover)) console.log(`  ${name.padEnd(8)} ${line(s)}`);
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const [c, m] = [discover.clawlink!, discover.minimal!];
  console.log(`discover/minimal: wall p50 ${x(c.wall.p50, m.wall.p50)}, p90 ${x(c.wall.p90, m.wall.p90)}; CPU p50 ${x(c.cpu.p50, m.cpu.p50)} (target: wall p50 <= ${TARGET_RATIO}x) ${verdict(ratio)}`);
  if (discover.before) console.log(`discover now/before: wall p50 ${x(c.wall.p50, discover.before.wall.p50)}; CPU p50 ${x(c.cpu.p50, discover.before.cpu.p50)}`);

  const start: Record<string, string[]> = { "clawlink --version": [BINARY, "--version"], hello: [hello] };
  if (values.before) start["before --version"] = [resolve(values.before), "--version"];
  const floor = await alternate(start, env);
  console.log(`start-up alone (${runs} runs each):`);
  for (const [name, s] of Object.entries(floor)) console.log(`  ${name.padEnd(18)} ${line(s)}`);
  // In CPU time, which other work on the machine disturbs less than wall time.
  const p50 = (t: Timing) => t.cpu.p50;
  const own = p50(floor["clawlink --version"]!) - p50(floor.hello!);
  const request = p50(m) - p50(floor.hello!);
  const rest = p50(c) - p50(floor["clawlink --version"]!) - request;
  console.log(`where discover's CPU p50 goes: the runtime ${fmtMs(p50(floor.hello!))}, clawlink's entry ${fmtMs(own)}, the request and its output ${fmtMs(request)}, the command's own code ${fmtMs(rest)}`);

  if (values.profile) {
    const dir = resolve(values.profile);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 5; i++) await timeRun(programs.clawlink!, { ...benchEnv, BUN_OPTIONS: `--cpu-prof-md --cpu-prof-dir=${dir}` });
    console.log(`profiles of 5 discover runs (bun --cpu-prof-md): ${dir}`);
  }

  console.log("what each command loads at start (split build; chunks, source modules, minified KiB):");
  let heavy = 0;
  for (const load of await commandLoads()) {
    const extra = heavyIn(load);
    const flag = !LONG_RUNNING.has(load.command) && extra.length ? `  LOADS ${extra.join(", ")}` : "";
    if (flag) heavy++;
    console.log(`  ${load.command.padEnd(14)} ${String(load.chunks).padStart(2)} chunks ${String(load.modules.length).padStart(3)} modules ${(load.bytes / 1024).toFixed(1).padStart(6)} KiB${flag}`);
  }
  console.log(heavy ? `${heavy} one-shot command(s) load relay, MCP, A2A or dashboard code: BELOW TARGET` : "no one-shot command loads relay, MCP, A2A or dashboard code: ok");
  process.exitCode = verdict(ratio) === "ok" && !heavy ? 0 : 1;
} finally {
  home.remove();
  await relay.stop();
  rmSync(work, { recursive: true, force: true });
}
