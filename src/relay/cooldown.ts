/**
 * An agent whose WebSocket was closed for flooding frames waits before the relay takes another of its sockets:
 * without it, a flooder reconnects at once and sends the next backlog's worth, over and over.
 */
import { ClawlinkError } from "../errors";
import { REFUSAL_DELAY_MS } from "./connections";

/** How long an agent closed for flooding waits before it may open a WebSocket again. */
export const FLOOD_COOLDOWN_MS = 10_000;

export class FloodCooldown {
  private until = new Map<string, number>();

  constructor(
    readonly ms = FLOOD_COOLDOWN_MS,
    private clock: () => number = Date.now,
  ) {}

  /** `agent`'s socket was closed for flooding: its next sockets are refused for a while. */
  start(agent: string) {
    const now = this.clock();
    // Only agents closed in the last cooldown are kept: the map stays as small as the flooders.
    for (const [id, end] of this.until) if (end <= now) this.until.delete(id);
    this.until.set(agent, now + this.ms);
  }

  /**
   * Throws 429 `too_many_frames` while `agent` waits out its cooldown, a moment after the request (as the connection
   * limits do), so a flooder that retries at once makes one attempt a second rather than thousands.
   */
  async check(agent: string) {
    const refusal = this.refusal(agent);
    if (!refusal) return;
    await Bun.sleep(REFUSAL_DELAY_MS);
    throw refusal;
  }

  private refusal(agent: string): ClawlinkError | undefined {
    const end = this.until.get(agent);
    if (end === undefined) return undefined;
    const left = end - this.clock();
    if (left <= 0) {
      this.until.delete(agent);
      return undefined;
    }
    const retryAfter = Math.max(1, Math.ceil(left / 1000));
    return new ClawlinkError(
      "too_many_frames",
      `this agent's last WebSocket sent frames faster than the relay reads them and was closed (1008); it may open another in ${retryAfter}s`,
      `retry after ${retryAfter}s, and wait for answers before sending more frames (an ack frame names up to 1000 ids: send fewer, larger acks)`,
      { headers: { "Retry-After": String(retryAfter) } },
    );
  }
}
