/** Time for the relay's core: milliseconds from an injected clock, shown as ISO 8601. */

/** Milliseconds since the epoch; the core never reads the system clock itself. */
export type Clock = () => number;

let lastMs = NaN;
let lastIso = "";

/** ISO 8601 time; messages made in the same millisecond share one string instead of formatting it again. */
export function iso(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}
