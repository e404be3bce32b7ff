/** Waiting out a relay that is away for a while: which failures pass, and how long to wait before trying again. */
import { ClawlinkError } from "../errors";

/** Unreachable, 429 and 5xx may pass; an answer this client cannot read, a refused credential or a bad request will not. */
export function isTransient(err: unknown): boolean {
  return err instanceof ClawlinkError && err.code !== "bad_response" && (err.code === "unreachable" || err.status === 429 || err.status >= 500);
}

/** Exponential backoff with jitter: 250 ms doubling up to 10 s, scaled by a random 50-100 %, so reconnecting clients spread out. */
export function backoffMs(attempt: number): number {
  return Math.min(10_000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2);
}
