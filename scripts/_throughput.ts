/**
 * Relay throughput: POST /v1/messages with an agent's secret, fixed concurrency, the relay in its own
 * process. Two mixes, so the queue bound (429 at --max-queue) never turns this into a rejection test:
 * a broadcast with no other agent registered (the HTTP, auth, validation and routing cost alone), and
 * a task to one registered agent that is not listening, with --max-queue and the byte budgets raised to hold every task.
 */
import { cpuMeter, fmtCpu, fmtCpuPerOp, rssMiBOf, selfCpuMeter } from "./_machine";
import { fmtStatuses, runLoad, type LoadResult } from "./_load";
import { registerAgents, spawnBaseline, spawnRelay, track, type ServerProcess } from "./_relay";
import { verdict, type BenchContext, type Figure } from "./_report";
import { fmtInt, fmtMs, type Summary } from "./_stats";
import { join } from "node:path";

const TARGET_RPS = 30_000;
const TARGET_P99_MS = 10;
/** Task POST against a bare Bun.serve parsing the same body, both under wrk (issue 10). */
const TARGET_OF_BARE = 0.7;
/** wrk's load: 2 threads, 50 connections (issue 10's measurement). */
const WRK_THREADS = 2;
const WRK_CONNECTIONS = 50;

const BROADCAST = { type: "broadcast", content: "build 4812 is green; main is open again", topic: "ci", tags: ["ci", "main"] };
const task = (to: string) => ({
  type: "task",
  to,
  task: "review the diff of PR 1234 and list style problems",
  context: { repo: "api", pr: 1234 },
  priority: "normal",
});

interface Mix {
  name: string;
  /** Whether the relay keeps what each request sends (a task), so the bare server that keeps it is its floor. */
  keeps: boolean;
  flags: string[];
  /** Registers what the mix needs and returns the sender's secret and the body to post. */
  prepare(url: string): Promise<{ secret: string; body: unknown }>;
}

const MIXES: Mix[] = [
  {
    name: "broadcast, 0 recipients",
    keeps: false,
    flags: [],
    async prepare(url) {
      const [sender] = await registerAgents(url, ["sender"]);
      return { secret: sender!.secret, body: BROADCAST };
    },
  },
  {
    name: "task to an agent not listening, --max-queue 10000000",
    keeps: true,
    // The byte budgets raised too, so that every task is held however fast they come.
    flags: ["--max-queue", "10000000", "--max-queued-bytes", String(8 * 2 ** 30), "--max-sender-bytes", String(8 * 2 ** 30), "--max-recipient-bytes", String(8 * 2 ** 30)],
    async prepare(url) {
      const [sender] = await registerAgents(url, ["sender", "worker"]);
      return { secret: sender!.secret, body: task("worker") };
    },
  },
];

interface Measured {
  rps: number;
  latency: Summary;
  statuses: Record<number, number>;
  errors: number;
  relayCpu: number;
  clientCpu: number;
}

export async function throughput(ctx: BenchContext): Promise<Figure[]> {
  const figures: Figure[] = [];
  const base = await measureBaseline(ctx);
  ctx.log(
    `throughput baseline (bare Bun.serve: read body, JSON.parse, reply; bun loadgen, ${ctx.connections} conns): ${fmtInt(base.rps)} req/s, p50 ${fmtMs(base.latency.p50)}, p99 ${fmtMs(base.latency.p99)}; cpu ${fmtCpu("server", base.relayCpu)}, ${fmtCpu("loadgen", base.clientCpu)}; server ${fmtCpuPerOp(base.relayCpu, base.rps, "req")}`,
  );
  const bareWrk = ctx.wrk && Bun.which("wrk") ? await measureBaselineWrk(ctx) : undefined;
  // The relay runs with its allocator setting on Linux (src/relay/allocator.ts); the bare server with it too, for comparison.
  const bareTuned = bareWrk && process.platform === "linux" ? await measureBaselineWrk(ctx, { MIMALLOC_PURGE_DELAY: "-1" }) : undefined;
  // The least a relay that keeps its tasks must do: the same, keeping each task it parsed in a Map by id.
  const bareKeeping = bareTuned ? await measureBaselineWrk(ctx, { MIMALLOC_PURGE_DELAY: "-1", BASELINE_KEEP: "1" }, JSON.stringify(task("worker"))) : undefined;
  for (const [label, b] of [
    ["bare Bun.serve", bareWrk],
    ["bare Bun.serve, MIMALLOC_PURGE_DELAY=-1", bareTuned],
    ["bare Bun.serve keeping each task it parses in a Map by id, MIMALLOC_PURGE_DELAY=-1", bareKeeping],
  ] as const) {
    if (b) ctx.log(`throughput baseline (${label}; ${wrkLabel(ctx)}): ${fmtInt(b.rps)} req/s, p50 ${fmtMs(b.p50)}, p99 ${fmtMs(b.p99)}; cpu ${fmtCpu("server", b.relayCpu)}, ${fmtCpu("wrk", b.wrkCpu)}; server ${fmtCpuPerOp(b.relayCpu, b.rps, "req")}`);
  }
  for (const mix of MIXES) {
    const relay = await spawnRelay({ flags: mix.flags, profileDir: ctx.profileDir && join(ctx.profileDir, `throughput-${MIXES.indexOf(mix)}`) });
    try {
      const { secret, body } = await mix.prepare(relay.url);
      const headers = { authorization: `Bearer ${secret}`, "content-type": "application/json" };
      const rss0 = rssMiBOf(relay.pid);
      const m = await measure(relay, ctx, { headers, body: JSON.stringify(body) });
      const rss1 = rssMiBOf(relay.pid);
      const rps: Figure = { name: `throughput ${mix.name} (req/s)`, value: m.rps, unit: "req/s", better: "higher", target: TARGET_RPS };
      const p99: Figure = { name: `throughput ${mix.name} (p99)`, value: m.latency.p99, unit: "ms", better: "lower", target: TARGET_P99_MS };
      figures.push(rps, p99, { name: `throughput ${mix.name} (relay µs CPU/req)`, value: (m.relayCpu * 1e6) / m.rps, unit: "µs", better: "lower" });
      ctx.log(
        `throughput (${mix.name}; bun loadgen, ${ctx.connections} conns, ${ctx.durationMs / 1000}s): ${fmtInt(m.rps)} req/s, p50 ${fmtMs(m.latency.p50)}, p99 ${fmtMs(m.latency.p99)}; ` +
          `${fmtStatuses(m.statuses)}${m.errors ? `, ${m.errors} socket errors` : ""}; cpu ${fmtCpu("relay", m.relayCpu)}, ${fmtCpu("loadgen", m.clientCpu)}; relay ${fmtCpuPerOp(m.relayCpu, m.rps, "req")}; relay RSS ${rss0.toFixed(0)} -> ${rss1.toFixed(0)} MiB; ` +
          `${Math.round((m.rps / base.rps) * 100)}% of baseline (target >= ${fmtInt(TARGET_RPS)} req/s, p99 < ${TARGET_P99_MS} ms) ${verdict(rps, p99)}`,
      );
      if (ctx.wrk && Bun.which("wrk")) {
        const w = await measureWrk(relay, ctx, { headers, body: JSON.stringify(body) });
        if (w) {
          const ofBare: Figure = { name: `throughput ${mix.name}, wrk, of bare Bun.serve`, value: bareWrk ? w.rps / bareWrk.rps : NaN, unit: "x", better: "higher", target: TARGET_OF_BARE };
          figures.push(
            { name: `throughput ${mix.name}, wrk (req/s)`, value: w.rps, unit: "req/s", better: "higher" },
            { name: `throughput ${mix.name}, wrk (relay µs CPU/req)`, value: (w.relayCpu * 1e6) / w.rps, unit: "µs", better: "lower" },
            ofBare,
          );
          ctx.log(
            `throughput (${mix.name}; ${wrkLabel(ctx)}): ${fmtInt(w.rps)} req/s, p50 ${fmtMs(w.p50)}, p99 ${fmtMs(w.p99)}; ${w.non2xx} non-2xx; cpu ${fmtCpu("relay", w.relayCpu)}, ${fmtCpu("wrk", w.wrkCpu)}; relay ${fmtCpuPerOp(w.relayCpu, w.rps, "req")}; ` +
              `${ofBare.value.toFixed(2)}x bare Bun.serve under wrk (target >= ${TARGET_OF_BARE}x) ${verdict(ofBare)}` +
              (bareTuned ? `; ${(w.rps / bareTuned.rps).toFixed(2)}x the bare server with the relay's allocator setting` : "") +
              (bareKeeping && mix.keeps ? `; ${(w.rps / bareKeeping.rps).toFixed(2)}x the bare server keeping each task` : ""),
          );
        }
      }
    } finally {
      await relay.stop();
    }
  }
  return figures;
}

export async function measure(server: ServerProcess, ctx: BenchContext, req: { headers: Record<string, string>; body: string }): Promise<Measured> {
  let relayCpu = () => NaN;
  let clientCpu = () => NaN;
  // Meters start after warm-up, with the run: the load keeps going while the timer is reset.
  const warm = Bun.sleep(ctx.warmupMs).then(() => {
    relayCpu = cpuMeter(server.pid);
    clientCpu = selfCpuMeter();
  });
  const r: LoadResult = await runLoad({ url: server.url, method: "POST", path: "/v1/messages", connections: ctx.connections, durationMs: ctx.durationMs, warmupMs: ctx.warmupMs, ...req });
  await warm;
  return { rps: r.rps, latency: r.latency.summary(), statuses: r.statuses, errors: r.socketErrors, relayCpu: relayCpu(), clientCpu: clientCpu() };
}

async function measureBaseline(ctx: BenchContext): Promise<Measured> {
  const server = await spawnBaseline();
  try {
    return await measure(server, ctx, { headers: { "content-type": "application/json" }, body: JSON.stringify(BROADCAST) });
  } finally {
    await server.stop();
  }
}

const wrkLabel = (ctx: BenchContext) => `wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS}, ${ctx.durationMs / 1000}s`;

async function measureBaselineWrk(ctx: BenchContext, env: Record<string, string> = {}, body = JSON.stringify(BROADCAST)) {
  const server = await spawnBaseline(env);
  try {
    return await measureWrk(server, ctx, { headers: {}, body });
  } finally {
    await server.stop();
  }
}

/** The same load through wrk (2 threads, 50 connections), which takes less CPU than the in-repo generator. */
async function measureWrk(server: ServerProcess, ctx: BenchContext, req: { headers: Record<string, string>; body: string }) {
  const script = join(import.meta.dir, "wrk-post.lua");
  const args = ["wrk", `-t${WRK_THREADS}`, `-c${WRK_CONNECTIONS}`, `-d${Math.round(ctx.durationMs / 1000)}s`, "--latency", "-s", script, `${server.url}/v1/messages`];
  const env = { ...process.env, BENCH_AUTH: req.headers.authorization ?? "", BENCH_BODY: req.body };
  const proc = track(Bun.spawn(args, { env, stdout: "pipe", stderr: "pipe" }));
  const relayCpu = cpuMeter(server.pid);
  const wrkCpu = cpuMeter(proc.pid);
  // Read the meters just before wrk exits, while /proc still has it.
  const sampled = Bun.sleep(ctx.durationMs - 100).then(() => ({ relay: relayCpu(), wrk: wrkCpu() }));
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  const cpu = await sampled;
  if (code !== 0) {
    ctx.log(`wrk failed (${code}): ${await new Response(proc.stderr).text()}`);
    return undefined;
  }
  return { ...parseWrk(out), relayCpu: cpu.relay, wrkCpu: cpu.wrk };
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
const toMs = (s: string | undefined) => {
  const m = /([\d.]+)(us|ms|s|m)/.exec(s ?? "");
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : NaN;
};

export function parseWrk(out: string) {
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: toMs(/\s50%\s+(\S+)/.exec(out)?.[1]),
    p99: toMs(/\s99%\s+(\S+)/.exec(out)?.[1]),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
  };
}
