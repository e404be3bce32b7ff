/** The current build against the baseline build, figure by figure, from runs that took turns on one machine. */
import type { Figure } from "./_report";
import { spread } from "./_stats";

/** What the current build must keep of the baseline's throughput (issue: nothing on the hot path may get slower). */
const KEEP = 0.95;

export function compareBuilds(runs: Map<string, Figure[]>, log: (line: string) => void) {
  log(`-- current / baseline (medians of the runs; throughput must stay >= ${KEEP}x)`);
  for (const [key, current] of runs) {
    if (!key.startsWith("current: ")) continue;
    const name = key.slice("current: ".length);
    const baseline = runs.get(`baseline: ${name}`);
    if (!baseline?.length) continue;
    const c = spread(current.map((f) => f.value)).median;
    const b = spread(baseline.map((f) => f.value)).median;
    const ratio = c / b;
    const f = current[0]!;
    const fmt = (v: number) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(2));
    const check = f.unit === "req/s" || f.unit === "msg/s" ? (ratio >= KEEP ? " ok" : " BELOW 0.95x") : "";
    log(`${name}: ${fmt(c)} vs ${fmt(b)} ${f.unit} = ${Number.isFinite(ratio) ? ratio.toFixed(2) : "n/a"}x${check}`);
  }
}
