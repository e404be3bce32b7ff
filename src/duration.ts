/** Durations as flags spell them: `90s`, `30m`, `24h`, `7d`, or a bare number of seconds. */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds from `24h`, `30m`, `90s`, `7d`, `500ms` or `3600` (seconds); undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * UNITS[m[2] ?? "s"]!;
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** The largest whole unit that says `ms` exactly (days from two on): `24h`, `7d`, `90m`, `45s`, `1500ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "ever";
  for (const unit of ["d", "h", "m", "s"]) {
    const size = UNITS[unit]!;
    if (ms >= (unit === "d" ? 2 : 1) * size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
