/** What a section returns and how its lines read. */

export interface BenchContext {
  /** Measured stretch of each load run. */
  durationMs: number;
  /** Unmeasured stretch before it, to warm the JIT. */
  warmupMs: number;
  /** HTTP connections for the throughput load. */
  connections: number;
  /** Also run wrk when it is installed. */
  wrk: boolean;
  /** Run the relay from source under `bun --cpu-prof-md` and keep its profiles here. */
  profileDir?: string;
  log(line: string): void;
}

/** A headline figure, kept so repeated runs can be compared. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** Whether the target is a floor (throughput) or a ceiling (latency, ratio). */
  better: "higher" | "lower";
  target?: number;
}

export type Section = (ctx: BenchContext) => Promise<Figure[]>;

export function meets(f: Figure): boolean | undefined {
  if (f.target === undefined || !Number.isFinite(f.value)) return undefined;
  return f.better === "higher" ? f.value >= f.target : f.value <= f.target;
}

/** `ok` or `BELOW TARGET`, for the end of a line. */
export function verdict(...figures: Figure[]): string {
  const results = figures.map(meets).filter((r) => r !== undefined);
  if (results.length === 0) return "";
  return results.every(Boolean) ? "ok" : "BELOW TARGET";
}
