/** New registrations per client address per minute: one client cannot fill the registry in a burst. */
import { ClawlinkError } from "../errors";
import { addressKey } from "./ratelimit";

const WINDOW_MS = 60_000;
/** Past this many tracked addresses, expired windows are swept (and the oldest dropped if still too many). */
const MAX_TRACKED = 50_000;

export class RegistrationLimit {
  private windows = new Map<string, { count: number; resetAt: number }>();

  constructor(
    /** New agents allowed per address per minute. */
    private max: number,
    private clock: () => number = Date.now,
  ) {}

  /** Throws 429 while `ip` has used up its registrations for this minute. */
  check(ip: string) {
    const now = this.clock();
    const w = this.windows.get(addressKey(ip));
    if (!w || now >= w.resetAt || w.count < this.max) return;
    const retryAfter = Math.max(1, Math.ceil((w.resetAt - now) / 1000));
    throw new ClawlinkError(
      "too_many_registrations",
      `${ip} registered ${w.count} new agents within a minute, the relay's limit (--max-registrations ${this.max})`,
      `retry after ${retryAfter}s; an agent that is already registered comes back with its own identity (\`clawlink heartbeat\`) without counting`,
      { headers: { "Retry-After": String(retryAfter) } },
    );
  }

  /** Counts one new agent registered from `ip`. */
  count(ip: string) {
    const key = addressKey(ip);
    const now = this.clock();
    const w = this.windows.get(key);
    if (w && now < w.resetAt) {
      w.count++;
      return;
    }
    this.windows.delete(key);
    this.windows.set(key, { count: 1, resetAt: now + WINDOW_MS });
    if (this.windows.size > MAX_TRACKED) this.sweep(now);
  }

  private sweep(now: number) {
    for (const [key, w] of this.windows) if (now >= w.resetAt) this.windows.delete(key);
    // Insertion order is age order.
    for (const key of this.windows.keys()) {
      if (this.windows.size <= MAX_TRACKED / 2) break;
      this.windows.delete(key);
    }
  }
}
