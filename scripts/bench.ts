/**
 * ClawLink's benchmarks. Every relay runs in its own process (the compiled binary), binds loopback,
 * and every load is bounded in count and time.
 *   bun scripts/bench.ts                      every section
 *   bun scripts/bench.ts push throughput      some sections
 *   --repeat N        run each section N times and report the spread (noise)
 *   --duration S      measured seconds per load run (default 5), after --warmup S (default 1)
 *   --connections N   HTTP connections for the throughput load (default 64)
 *   --no-wrk          skip the wrk cross-check even when wrk is installed
 *   --profile DIR     run relays from source under `bun --cpu-prof-md`; profiles land in DIR
 *   --binary PATH     benchmark this build instead of dist/ (A/B against an older one)
 *   --baseline PATH   also run every section against this build (the previous release's binary), taking
 *                     turns with the current one, and report current/baseline for every figure
 * Sections: discover, throughput, push, roundtrip, crowd, durable, redis (needs redis-server).
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { crowd } from "./_crowd";
import { discover } from "./_discover";
import { durable } from "./_durable";
import { describeMachine, machineLine } from "./_machine";
import { push } from "./_push";
import { BINARY, ensureBinary, useBinary } from "./_relay";
import { compareBuilds } from "./_compare";
import { meets, type BenchContext, type Figure, type Section } from "./_report";
import { redis } from "./_redis";
import { roundtrip } from "./_roundtrip";
import { fmtInt, spread } from "./_stats";
import { throughput } from "./_throughput";

const SECTIONS: Record<string, Section> = { discover, throughput, push, roundtrip, crowd, durable, redis };

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    repeat: { type: "string", default: "1" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    connections: { type: "string", default: "64" },
    "no-wrk": { type: "boolean", default: false },
    profile: { type: "string" },
    binary: { type: "string" },
    baseline: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  process.stdout.write(`usage: bun scripts/bench.ts [${Object.keys(SECTIONS).join("|")}...] [--repeat N] [--duration S] [--warmup S] [--connections N] [--no-wrk] [--profile DIR] [--binary PATH] [--baseline PATH]\n`);
  process.exit(0);
}
const unknown = positionals.filter((p) => !(p in SECTIONS));
if (unknown.length) {
  process.stderr.write(`unknown section ${unknown.join(", ")}; sections: ${Object.keys(SECTIONS).join(", ")}\n`);
  process.exit(2);
}

const profileDir = values.profile ? resolve(values.profile) : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });
const ctx: BenchContext = {
  durationMs: Number(values.duration) * 1000,
  warmupMs: Number(values.warmup) * 1000,
  connections: Number(values.connections),
  wrk: !values["no-wrk"],
  profileDir,
  log: (line) => process.stdout.write(line + "\n"),
};
const repeat = Math.max(1, Number(values.repeat));
const chosen = positionals.length ? positionals : Object.keys(SECTIONS);

if (values.binary) useBinary(resolve(values.binary));
await ensureBinary();
ctx.log(machineLine(describeMachine()));
ctx.log(`binary: ${BINARY}`);
if (values.baseline) ctx.log(`baseline binary: ${resolve(values.baseline)} (each section runs on both, taking turns)`);
if (profileDir) ctx.log(`profiling: relays run from source under bun --cpu-prof-md (slower than the binary); profiles in ${profileDir}`);

const builds: [string, string][] = values.baseline ? [["baseline", resolve(values.baseline)], ["current", BINARY]] : [["current", BINARY]];
const runs = new Map<string, Figure[]>();
let failed = false;
for (const name of chosen) {
  for (let i = 0; i < repeat; i++) {
    if (repeat > 1) ctx.log(`-- ${name} run ${i + 1}/${repeat} (load avg ${describeMachine().load})`);
    // Turns alternate, so neither build always runs on the machine the other has just warmed or loaded.
    for (const [label, binary] of i % 2 ? [...builds].reverse() : builds) {
      useBinary(binary);
      if (builds.length > 1) ctx.log(`-- ${name} on the ${label} build`);
      try {
        for (const f of await SECTIONS[name]!(ctx)) {
          const key = builds.length > 1 ? `${label}: ${f.name}` : f.name;
          runs.set(key, [...(runs.get(key) ?? []), f]);
        }
      } catch (err) {
        failed = true;
        ctx.log(`${name} (${label}): failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    }
  }
}

if (repeat > 1) {
  ctx.log(`-- spread over ${repeat} runs (min / median / max; spread = (max - min) / median)`);
  for (const [name, figures] of runs) {
    const s = spread(figures.map((f) => f.value));
    const fmt = (v: number) => (Math.abs(v) >= 100 ? fmtInt(v) : v.toFixed(2));
    const met = figures.filter((f) => meets(f) === true).length;
    const target = figures[0]!.target === undefined ? "" : `; met target in ${met}/${figures.length}`;
    ctx.log(`${name}: ${fmt(s.min)} / ${fmt(s.median)} / ${fmt(s.max)} ${figures[0]!.unit} (spread ${Number.isFinite(s.rel) ? Math.round(s.rel * 100) : 0}%)${target}`);
  }
}
if (builds.length > 1) compareBuilds(runs, ctx.log);
process.exit(failed ? 1 : 0);
