/** Slows down guessing: failed authentications are counted per client address, and an address over its allowance gets 429. */
import { ClawlinkError } from "../errors";

const WINDOW_MS = 60_000;
/** Past this many tracked addresses, expired ones are swept (and the oldest dropped if still too many). */
const MAX_TRACKED = 50_000;

interface Window {
  failures: number;
  resetAt: number;
}

/**
 * The key an address is counted under. IPv6 hosts usually own a whole /64, so one
 * attacker could rotate through addresses in it; they all count as one.
 */
export function addressKey(ip: string): string {
  const bare = ip.replace(/%.*$/, "").toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (mapped) return mapped[1]!;
  if (!bare.includes(":")) return bare;
  const [head = "", tail = ""] = bare.split("::");
  const left = head ? head.split(":") : [];
  const right = bare.includes("::") && tail ? tail.split(":") : [];
  const groups = bare.includes("::") ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

export class AuthThrottle {
  private windows = new Map<string, Window>();

  constructor(
    /** Failures allowed per address per minute. */
    private max: number,
    private clock: () => number = Date.now,
  ) {}

  /** No address has failed lately: nothing to check (the common case, kept cheap). */
  get idle() {
    return this.windows.size === 0;
  }

  /** Throws 429 while `ip` is over its allowance, whatever credentials it presents now. */
  check(ip: string) {
    const key = addressKey(ip);
    const w = this.windows.get(key);
    if (!w) return;
    const now = this.clock();
    if (now >= w.resetAt) {
      this.windows.delete(key);
      return;
    }
    if (w.failures < this.max) return;
    const retryAfter = Math.max(1, Math.ceil((w.resetAt - now) / 1000));
    throw new ClawlinkError(
      "too_many_auth_failures",
      429,
      `too many failed authentications from ${ip} (${w.failures} within a minute); the relay refuses it for ${retryAfter}s`,
      `check the token (--token or CLAWLINK_TOKEN) and the identity file, then retry after ${retryAfter}s`,
      { "Retry-After": String(retryAfter) },
    );
  }

  /** Counts one failed authentication from `ip`. */
  fail(ip: string) {
    const key = addressKey(ip);
    const now = this.clock();
    const w = this.windows.get(key);
    if (w && now < w.resetAt) {
      w.failures++;
      return;
    }
    this.windows.delete(key);
    this.windows.set(key, { failures: 1, resetAt: now + WINDOW_MS });
    if (this.windows.size > MAX_TRACKED) this.sweep(now);
  }

  private sweep(now: number) {
    for (const [key, w] of this.windows) if (now >= w.resetAt) this.windows.delete(key);
    // Insertion order is age order: drop the oldest windows when many addresses fail at once.
    for (const key of this.windows.keys()) {
      if (this.windows.size <= MAX_TRACKED / 2) break;
      this.windows.delete(key);
    }
  }
}

/**
 * Whether a failed request was a guess: a credential was presented and refused (401),
 * or an identity was claimed with a secret that does not match it (403 on register).
 */
export function isAuthFailure(req: Request, err: unknown): boolean {
  if (!(err instanceof ClawlinkError)) return false;
  if (err.status === 401) return req.headers.has("authorization");
  return err.status === 403 && req.method === "POST" && new URL(req.url).pathname === "/v1/agents";
}
