/** Open WebSockets per agent and per client address: one client cannot hold every socket the relay can serve. */
import { ClawlinkError } from "../errors";
import { addressKey } from "./ratelimit";

/** How long a refused upgrade waits for its 429. */
export const REFUSAL_DELAY_MS = 1000;

export interface ConnectionLimits {
  /** Open WebSockets one agent may hold. */
  maxConnectionsPerAgent: number;
  /** Open WebSockets from one client address (an IPv6 /64, or all of 127.0.0.0/8, counts as one). */
  maxConnectionsPerAddress: number;
}

export class Connections {
  private byAgent = new Map<string, number>();
  private byAddress = new Map<string, number>();

  constructor(private limits: ConnectionLimits) {}

  /** Reserves a socket for `agentId` from `ip`, or throws 429 naming the limit; the returned function gives it back, once. */
  admit(agentId: string, ip: string): () => void {
    const address = addressKey(ip);
    const agents = this.byAgent.get(agentId) ?? 0;
    const addresses = this.byAddress.get(address) ?? 0;
    if (agents >= this.limits.maxConnectionsPerAgent) {
      throw tooMany(`agent ${agentId} already has ${agents} open WebSockets`, "--max-connections-per-agent", "close the sockets this agent no longer uses (one `clawlink listen` per agent is enough)");
    }
    if (addresses >= this.limits.maxConnectionsPerAddress) {
      throw tooMany(`${ip} already has ${addresses} open WebSockets`, "--max-connections-per-address", "close sockets that are no longer used");
    }
    this.byAgent.set(agentId, agents + 1);
    this.byAddress.set(address, addresses + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      decrement(this.byAgent, agentId);
      decrement(this.byAddress, address);
    };
  }
}

function decrement(map: Map<string, number>, key: string) {
  const n = (map.get(key) ?? 1) - 1;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}

const tooMany = (what: string, flag: string, step: string) =>
  new ClawlinkError("too_many_connections", `${what}, the relay's limit (${flag})`, `${step}, or start the relay with a higher ${flag}`, { headers: { "Retry-After": "1" } });
