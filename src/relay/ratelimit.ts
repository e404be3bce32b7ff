/**
 * Slows down guessing: refused credentials are counted per client address and per identity they
 * claimed (the agent a secret names, or the relay token), and a pair over its allowance gets 429.
 * This process keeps its own table, which answers without a round trip; relays sharing a store
 * also count each failure there, so N relays do not allow N times the guesses.
 */
import { ClawlinkError } from "../errors";
import { AGENT_ID_RE } from "../protocol/schemas";
import type { TeamLimits } from "./core/limits";
import { secretId } from "./keys";

const WINDOW_MS = 60_000;
/** Pairs tracked at most; past it, pairs that are not refused make room, those with the fewest failures first. */
const CAPACITY = 10_000;

interface Window {
  failures: number;
  resetAt: number;
}

/**
 * The key an address is counted under. IPv6 hosts usually own a whole /64, and a local process
 * can use any 127.x address, so one attacker could rotate through them; each range counts as one.
 */
export function addressKey(ip: string): string {
  const bare = ip.replace(/%.*$/, "").toLowerCase();
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/.exec(bare)?.[1];
  if (v4) return v4.startsWith("127.") ? "127.0.0.0/8" : v4;
  if (!bare.includes(":")) return bare;
  const [head = "", tail = ""] = bare.split("::");
  const left = head ? head.split(":") : [];
  const right = bare.includes("::") && tail ? tail.split(":") : [];
  const groups = bare.includes("::") ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/**
 * The range whose failures a new pair shares once every tracked pair is refused: an IPv4 /16, an IPv6 /32.
 * Wide enough that one attacker's addresses share it, narrow enough that clients elsewhere never do.
 */
export function rangeKey(ip: string): string {
  const address = addressKey(ip);
  const v4 = /^(\d+)\.(\d+)\./.exec(address);
  if (v4) return `${v4[1]}.${v4[2]}.0.0/16`;
  if (address.endsWith("::/64")) return `${address.split(":").slice(0, 2).join(":")}::/32`;
  return address;
}

/**
 * A token the throttle need not hold back when it is presented right: 32 characters or more, and not a few
 * repeated (`openssl rand -hex 16` gives one). Guessing it is hopeless, so letting the right one through
 * teaches a guesser nothing; a shorter token may be guessable, and then even the right one waits.
 */
export function isUnguessable(token: string): boolean {
  return token.length >= 32 && new Set(token).size >= 10;
}

/** A credential and the identity it claims: an agent's secret names its agent (`a_….<random>`); anything else is a guess at the token. */
export interface Claim {
  bearer: string;
  /** The agent id a secret names, or "token". */
  who: string;
}

export function claimOf(req: Request): Claim | undefined {
  const header = req.headers.get("authorization");
  if (header === null) return undefined;
  const bearer = header.replace(/^\s*bearer\s+/i, "").trim();
  const id = secretId(bearer);
  return { bearer, who: AGENT_ID_RE.test(id) ? id : "token" };
}

export class AuthThrottle {
  private windows = new Map<string, Window>();
  /**
   * The failures of new pairs while every tracked pair is refused, per range of addresses (`rangeKey`), so a full
   * table is no way around the limit and a client in another range, who never failed, is never held back.
   */
  private overflow = new Map<string, Window>();

  constructor(
    /** Failures allowed per address and claimed identity per minute. */
    private max: number,
    private clock: () => number = Date.now,
    private capacity = CAPACITY,
    /** The store's counts, when other relays share it. */
    private team?: Pick<TeamLimits, "hit" | "shared">,
  ) {}

  /** Whether other relays count failures too (then a pair's failures there are learnt from the store). */
  get shared() {
    return this.team?.shared === true;
  }

  /** Nothing has failed lately: nothing to check (the common case, kept cheap). */
  get idle() {
    return this.windows.size === 0;
  }

  /**
   * Throws 429 while `ip` has used up its allowance for the identity `claim` names. A credential that
   * `proves` itself passes all the same: the caller says which can, an agent's secret (256 bits only the relay
   * key can make) and an unguessable token. Letting those through teaches a guesser nothing, and nobody can lock
   * them out by failing in their name. A short token may be guessable: once its allowance is used up even the
   * right one waits, so a right guess looks like a wrong one.
   */
  check(ip: string, claim: Claim, proves: (bearer: string) => boolean) {
    const now = this.clock();
    const key = `${addressKey(ip)} ${claim.who}`;
    let w = this.windows.get(key);
    if (w && now >= w.resetAt) {
      this.windows.delete(key);
      w = undefined;
    }
    if (!w && this.windows.size >= this.capacity) {
      const shared = this.overflow.get(rangeKey(ip));
      if (shared && now < shared.resetAt) w = shared;
    }
    if (!w || w.failures < this.max) return;
    if (proves(claim.bearer)) return;
    const retryAfter = Math.max(1, Math.ceil((w.resetAt - now) / 1000));
    const whose = claim.who === "token" ? "the relay token" : `agent ${claim.who}`;
    const where = this.shared ? " on the relays sharing this one's store" : "";
    throw new ClawlinkError(
      "too_many_auth_failures",
      `too many failed authentications for ${whose} from ${ip} (${w.failures} within a minute${where}); the relay refuses them for ${retryAfter}s`,
      claim.who === "token"
        ? `check the token (--token or CLAWLINK_TOKEN), then retry after ${retryAfter}s`
        : `this is not agent ${claim.who}'s secret: use the identity file that registered it (\`clawlink whoami\`), or register again; retry after ${retryAfter}s`,
      { headers: { "Retry-After": String(retryAfter) } },
    );
  }

  /**
   * Counts one refused credential from `ip` claiming `who`. Sharing a store, it counts there too and resolves
   * with the refusal the pair has earned on the relays together (undefined while it has not); alone, undefined.
   */
  fail(ip: string, who: string): Promise<ClawlinkError | undefined> | undefined {
    this.record(ip, who, 1);
    if (!this.shared) return undefined;
    // The failure that uses up the allowance is still answered 401, as by a relay on its own; the next is refused.
    return this.team!.hit(teamKey(ip, who), WINDOW_MS, this.max).then((w) => {
      const refusal = this.learn(ip, { bearer: "", who }, w.count, w.resetAt);
      return w.ok ? undefined : refusal;
    });
  }

  /** Before a credential that cannot prove itself is tried, sharing a store: what the other relays counted for its pair. */
  async recall(ip: string, claim: Claim): Promise<void> {
    if (!this.shared) return;
    const w = await this.team!.hit(teamKey(ip, claim.who), WINDOW_MS, 0);
    if (w.count > 0) this.learn(ip, claim, w.count, w.resetAt);
  }

  /** Takes the store's count for a pair when it is ahead of this table's; the refusal, once the pair is over its allowance. */
  private learn(ip: string, claim: Claim, failures: number, resetAt: number): ClawlinkError | undefined {
    const w = this.windows.get(`${addressKey(ip)} ${claim.who}`);
    if (w && this.clock() < w.resetAt) {
      if (failures > w.failures) w.failures = failures;
      w.resetAt = Math.min(w.resetAt, resetAt);
    } else if (failures > 0) this.record(ip, claim.who, failures, resetAt);
    try {
      this.check(ip, claim, () => false);
      return undefined;
    } catch (err) {
      return err as ClawlinkError;
    }
  }

  private record(ip: string, who: string, failures: number, resetAt?: number) {
    const key = `${addressKey(ip)} ${who}`;
    const now = this.clock();
    const w = this.windows.get(key);
    if (w && now < w.resetAt) {
      w.failures += failures;
      return;
    }
    this.windows.delete(key);
    if (this.windows.size >= this.capacity) this.makeRoom(now);
    if (this.windows.size < this.capacity) {
      this.windows.set(key, { failures, resetAt: resetAt ?? now + WINDOW_MS });
      return;
    }
    const range = rangeKey(ip);
    let shared = this.overflow.get(range);
    if (!shared || now >= shared.resetAt) {
      if (this.overflow.size >= this.capacity) for (const [k, o] of this.overflow) if (now >= o.resetAt) this.overflow.delete(k);
      // Refused pairs filling the table from more /16s or /32s than it has room for is beyond any one attacker.
      if (this.overflow.size >= this.capacity) return;
      this.overflow.set(range, (shared = { failures: 0, resetAt: now + WINDOW_MS }));
    }
    shared.failures += failures;
  }

  /**
   * Drops expired windows, then windows that are not refused, fewest failures first, down to three
   * quarters of the capacity. A refused pair is never dropped: no flood of one-shot failures frees it early.
   */
  private makeRoom(now: number) {
    for (const [key, w] of this.windows) if (now >= w.resetAt) this.windows.delete(key);
    const target = Math.floor((this.capacity * 3) / 4);
    if (this.windows.size <= target) return;
    const open = [...this.windows].filter(([, w]) => w.failures < this.max).sort((a, b) => a[1].failures - b[1].failures);
    for (const [key] of open) {
      if (this.windows.size <= target) break;
      this.windows.delete(key);
    }
  }
}

/** A pair's window in the store: the address as `addressKey` counts it, and the identity claimed. */
const teamKey = (ip: string, who: string) => `auth:${addressKey(ip)} ${who}`;

/**
 * Whether a failed request was a guess: a credential was presented and refused (401). A wrong secret
 * in a re-registration's body is refused too (403) but not counted: like every secret, it is 256 unguessable bits.
 */
export function isAuthFailure(req: Request, err: unknown): boolean {
  return err instanceof ClawlinkError && err.status === 401 && req.headers.has("authorization");
}
