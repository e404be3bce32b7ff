/** Summaries of timings: exact percentiles for small samples, a fixed-size histogram for load runs. */

/** The p-th percentile (0-100) of an ascending array, nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export interface Summary {
  n: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return { n: s.length, mean, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
}

// Log-linear buckets: exact below 128 µs, then 64 buckets per power of two (at most 1.6% wide).
const SUB = 64;
const LINEAR = 2 * SUB;
const BUCKETS = LINEAR + SUB * 26;

function bucketOf(us: number): number {
  const v = Math.max(0, Math.floor(us));
  if (v < LINEAR) return v;
  const shift = 31 - Math.clz32(v) - 6;
  return Math.min(BUCKETS - 1, shift * SUB + (v >>> shift));
}

function valueOf(bucket: number): number {
  if (bucket < LINEAR) return bucket;
  const shift = Math.floor(bucket / SUB) - 1;
  const low = (bucket - shift * SUB) * 2 ** shift;
  return low + 2 ** shift / 2;
}

/** Latencies in microseconds; memory stays fixed however long the run is. */
export class Histogram {
  private counts = new Float64Array(BUCKETS);
  n = 0;
  private sum = 0;
  max = 0;

  record(us: number) {
    this.counts[bucketOf(us)]!++;
    this.n++;
    this.sum += us;
    if (us > this.max) this.max = us;
  }

  merge(other: Histogram) {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.n += other.n;
    this.sum += other.sum;
    this.max = Math.max(this.max, other.max);
  }

  /** The p-th percentile in microseconds. */
  percentile(p: number): number {
    if (this.n === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(valueOf(i), this.max);
    }
    return this.max;
  }

  /** The same figures as `summarize`, in milliseconds. */
  summary(): Summary {
    const ms = (us: number) => us / 1000;
    return {
      n: this.n,
      mean: ms(this.n ? this.sum / this.n : NaN),
      p50: ms(this.percentile(50)),
      p90: ms(this.percentile(90)),
      p99: ms(this.percentile(99)),
      max: ms(this.max),
    };
  }
}

/** `1.23 ms`, `456 µs` or `12.3 s`, whichever reads best. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "n/a";
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 100) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** `31,200` */
export const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");

/** Minimum, median and maximum of repeated runs, to show how noisy they were. */
export function spread(values: number[]): { min: number; median: number; max: number; rel: number } {
  const s = [...values].sort((a, b) => a - b);
  const median = percentile(s, 50);
  const min = s[0] ?? NaN;
  const max = s[s.length - 1] ?? NaN;
  return { min, median, max, rel: median ? (max - min) / median : NaN };
}
