/**
 * New registrations per client address per minute: one client cannot fill the registry in a burst. Counted in
 * the store, so relays sharing one count together; a request is counted as it asks, whether or not its name is free.
 */
import { ClawlinkError } from "../errors";
import type { TeamLimits } from "./core/limits";
import { addressKey } from "./ratelimit";

const WINDOW_MS = 60_000;

export class RegistrationLimit {
  constructor(
    /** New agents allowed per address per minute. */
    private max: number,
    private team: Pick<TeamLimits, "hit" | "shared" | "retryAfterS">,
  ) {}

  /** Counts a new agent asked for from `ip`, or throws 429 while the address has used up this minute's. */
  async admit(ip: string) {
    const w = await this.team.hit(`reg:${addressKey(ip)}`, WINDOW_MS, this.max);
    if (w.ok) return;
    const retryAfter = this.team.retryAfterS(w);
    const where = this.team.shared ? " (on the relays sharing this one's store together)" : "";
    throw new ClawlinkError(
      "too_many_registrations",
      `${ip} asked to register ${w.count} new agents within a minute${where}, the relay's limit (--max-registrations ${this.max})`,
      `retry after ${retryAfter}s; an agent that is already registered comes back with its own identity (\`clawlink heartbeat\`) without counting`,
      { headers: { "Retry-After": String(retryAfter) } },
    );
  }
}
