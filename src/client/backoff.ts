/** Exponential backoff with jitter: `base * 2^attempt`, capped, then scaled by a random 50-100 %, so reconnecting clients spread out. */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** attempt) * (0.5 + Math.random() / 2);
}
