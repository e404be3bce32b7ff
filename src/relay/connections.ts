/**
 * Connections a client keeps open while it waits (WebSockets, long polls, A2A streams and blocking A2A sends),
 * counted per identity, per client address and relay-wide: no client can hold every socket the relay can serve.
 * An identity's are counted in the store, on every relay sharing it together; an address's and the total are
 * this process's sockets, which only it runs out of.
 */
import type { Server } from "bun";
import { ClawlinkError } from "../errors";
import type { TeamLimits } from "./core/limits";
import { addressKey } from "./ratelimit";

/** How long a refused upgrade or long poll waits for its 429. */
export const REFUSAL_DELAY_MS = 1000;

/**
 * Connections every identity may hold whatever its address already holds: all of 127.0.0.0/8 is one
 * address, so without this one local process with many agents could leave the others none.
 */
export const GUARANTEED_PER_AGENT = 4;

export interface ConnectionLimits {
  /** Held connections of one agent (or of the shared A2A sender), on every relay sharing the store. */
  maxConnectionsPerAgent: number;
  /** Held connections from one client address (an IPv6 /64, or all of 127.0.0.0/8, counts as one), on this relay. */
  maxConnectionsPerAddress: number;
  /** Held connections of this relay process. */
  maxConnections: number;
}

/** Counts one connection held open by `identity` for as long as the request waits; resolves with its release. */
export type Hold = (identity: string, req: Request, srv: Server<unknown>) => Promise<() => void>;

const HELD = "open connections (WebSockets, long polls, A2A streams and blocking A2A sends)";

export class Connections {
  private byAgent = new Map<string, number>();
  private byAddress = new Map<string, number>();
  private total = 0;

  constructor(
    private limits: ConnectionLimits,
    private team: TeamLimits,
  ) {}

  /** Held connections right now, relay-wide. */
  get held() {
    return this.total;
  }

  /**
   * Reserves a held connection like `admit`; a refusal is heard a moment later, so a client that retries
   * at once makes a few attempts a second rather than thousands.
   */
  async hold(identity: string, ip: string): Promise<() => void> {
    try {
      return await this.admit(identity, ip);
    } catch (err) {
      await Bun.sleep(REFUSAL_DELAY_MS);
      throw err;
    }
  }

  /** Reserves a held connection for `identity` from `ip`, or throws 429/503 naming the limit; the returned function gives it back, once. */
  async admit(identity: string, ip: string): Promise<() => void> {
    const address = addressKey(ip);
    const mine = this.byAgent.get(identity) ?? 0;
    const there = this.byAddress.get(address) ?? 0;
    if (this.total >= this.limits.maxConnections) {
      throw new ClawlinkError(
        "relay_busy",
        `the relay already holds ${this.total} ${HELD}, its limit (--max-connections)`,
        "retry in a moment; whoever runs the relay can start it with a higher --max-connections (and raise `ulimit -n`)",
        { headers: { "Retry-After": "1" } },
      );
    }
    if (mine >= this.limits.maxConnectionsPerAgent) throw this.tooManyOfAgent(identity, mine);
    if (there >= this.limits.maxConnectionsPerAddress && mine >= GUARANTEED_PER_AGENT) {
      throw tooMany(`${ip} already holds ${there} ${HELD}`, "--max-connections-per-address", "close connections that are no longer used");
    }
    // Reserved here before the store counts it, so that a burst of connections cannot slip past this relay's limits meanwhile.
    this.byAgent.set(identity, mine + 1);
    this.byAddress.set(address, there + 1);
    this.total++;
    const undo = () => {
      this.total--;
      decrement(this.byAgent, identity);
      decrement(this.byAddress, address);
    };
    let held: Awaited<ReturnType<TeamLimits["hold"]>>;
    try {
      held = await this.team.hold(identity, this.limits.maxConnectionsPerAgent);
    } catch (err) {
      undo();
      throw err;
    }
    if (!held.ok) {
      undo();
      throw this.tooManyOfAgent(identity, held.count);
    }
    let released = false;
    const release = held.release;
    return () => {
      if (released) return;
      released = true;
      undo();
      release();
    };
  }

  private tooManyOfAgent(identity: string, count: number) {
    const where = this.team.shared ? " on the relays sharing this one's store" : "";
    return tooMany(
      `agent ${identity} already holds ${count} ${HELD}${where}`,
      "--max-connections-per-agent",
      "close what this agent no longer uses (one `clawlink listen` per agent is enough; a long poll ends when it answers)",
    );
  }
}

function decrement(map: Map<string, number>, key: string) {
  const n = (map.get(key) ?? 1) - 1;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}

const tooMany = (what: string, flag: string, step: string) =>
  new ClawlinkError("too_many_connections", `${what}, the relay's limit (${flag})`, `${step}, or start the relay with a higher ${flag}`, { headers: { "Retry-After": "1" } });
