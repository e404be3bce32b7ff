/**
 * Durable mode (`relay --data PATH`): the same POST /v1/messages load as the throughput section against
 * a memory relay and a durable one (target: durable keeps at least half), then a durable relay holding
 * 100,000 queued tasks killed with SIGKILL and started again on its file (target: ready in under 2 s).
 */
import { join } from "node:path";
import { fmtCpuPerOp, rssMiBOf } from "./_machine";
import { registerAgents, spawnRelay, tempHome } from "./_relay";
import { verdict, type BenchContext, type Figure } from "./_report";
import { fmtInt, fmtMs } from "./_stats";
import { measure } from "./_throughput";

const TARGET_RATIO = 0.5;
const TARGET_RESTART_MS = 2000;
const QUEUED = 100_000;
/** Queue and byte limits raised, so that every task sent is held however fast they come. */
const HOLD_ALL = ["--max-queue", "10000000", "--max-queued-bytes", String(8 * 2 ** 30), "--max-sender-bytes", String(8 * 2 ** 30), "--max-recipient-bytes", String(8 * 2 ** 30)];

const BROADCAST = { type: "broadcast", content: "build 4812 is green; main is open again", topic: "ci", tags: ["ci", "main"] };
const TASK = { type: "task", to: "worker", task: "review the diff of PR 1234 and list style problems", context: { repo: "api", pr: 1234 }, priority: "normal" };

export async function durable(ctx: BenchContext): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const [name, body] of [["broadcast, 0 recipients", BROADCAST], ["task to an agent not listening", TASK]] as const) {
    const rates: number[] = [];
    for (const mode of ["memory", "durable"] as const) {
      const home = tempHome();
      const relay = await spawnRelay({ flags: [...HOLD_ALL, ...(mode === "durable" ? ["--data", join(home.dir, "relay.db")] : [])] });
      try {
        const [sender] = await registerAgents(relay.url, ["sender", "worker"]);
        const m = await measure(relay, ctx, { headers: { authorization: `Bearer ${sender!.secret}`, "content-type": "application/json" }, body: JSON.stringify(body) });
        rates.push(m.rps);
        figures.push(
          { name: `durable section: ${name}, ${mode} (req/s)`, value: m.rps, unit: "req/s", better: "higher" },
          { name: `durable section: ${name}, ${mode} (relay µs CPU/req)`, value: (m.relayCpu * 1e6) / m.rps, unit: "µs", better: "lower" },
        );
        ctx.log(`durable (${name}; ${mode}): ${fmtInt(m.rps)} req/s, p50 ${fmtMs(m.latency.p50)}, p99 ${fmtMs(m.latency.p99)}; relay ${fmtCpuPerOp(m.relayCpu, m.rps, "req")}`);
      } finally {
        await relay.stop();
        home.remove();
      }
    }
    const ratio: Figure = { name: `durable/memory throughput (${name})`, value: rates[1]! / rates[0]!, unit: "x", better: "higher", target: TARGET_RATIO };
    figures.push(ratio);
    ctx.log(`durable (${name}): ${fmtInt(rates[1]!)} vs ${fmtInt(rates[0]!)} req/s in memory = ${ratio.value.toFixed(2)}x (target >= ${TARGET_RATIO}x) ${verdict(ratio)}`);
  }

  const home = tempHome();
  const data = join(home.dir, "relay.db");
  let relay = await spawnRelay({ flags: [...HOLD_ALL, "--data", data] });
  try {
    const [sender, worker] = await registerAgents(relay.url, ["sender", "worker"]);
    const headers = { authorization: `Bearer ${sender!.secret}`, "content-type": "application/json" };
    const started = performance.now();
    let sent = 0;
    const fill = async () => {
      while (sent < QUEUED) {
        sent++;
        const res = await fetch(`${relay.url}/v1/messages`, { method: "POST", headers, body: JSON.stringify(TASK) });
        if (res.status !== 201) throw new Error(`filling the queue: ${res.status} ${await res.text()}`);
      }
    };
    await Promise.all(Array.from({ length: 64 }, fill));
    ctx.log(`durable restart: queued ${fmtInt(QUEUED)} tasks in ${((performance.now() - started) / 1000).toFixed(1)} s; relay RSS ${rssMiBOf(relay.pid).toFixed(0)} MiB`);
    relay.proc.kill("SIGKILL");
    await relay.proc.exited;
    const t0 = performance.now();
    relay = await spawnRelay({ flags: [...HOLD_ALL, "--data", data] });
    const ready = performance.now() - t0;
    const hb = (await (await fetch(`${relay.url}/v1/agents/${worker!.id}/heartbeat`, { method: "POST", headers: { authorization: `Bearer ${worker!.secret}` } })).json()) as { pending: number };
    const restart: Figure = { name: "durable restart with 100k queued (ms)", value: ready, unit: "ms", better: "lower", target: TARGET_RESTART_MS };
    figures.push(restart);
    ctx.log(
      `durable restart: kill -9, then a new relay on the same file serves in ${fmtMs(ready)} with ${fmtInt(hb.pending)} messages pending for the worker (target < ${TARGET_RESTART_MS} ms, none lost) ${verdict(restart)}${hb.pending >= QUEUED ? "" : " LOST MESSAGES"}`,
    );
  } finally {
    await relay.stop();
    home.remove();
  }
  return figures;
}
