/** Picking an agent by capability: the one holding the fewest unfinished tasks, ties taken in turn. */
import type { AgentRecord } from "./store";

export class CapabilityRouter {
  /** Unfinished tasks per assignee. */
  private load = new Map<string, number>();
  private turns = new Map<string, number>();

  pick(cap: string, online: (a: AgentRecord) => boolean, agents: Iterable<AgentRecord>): AgentRecord | undefined {
    const candidates = [...agents].filter((a) => a.caps.includes(cap) && online(a)).sort((a, b) => (a.id < b.id ? -1 : 1));
    if (candidates.length === 0) return undefined;
    const least = Math.min(...candidates.map((a) => this.load.get(a.id) ?? 0));
    const ties = candidates.filter((a) => (this.load.get(a.id) ?? 0) === least);
    const turn = this.turns.get(cap) ?? 0;
    this.turns.set(cap, turn + 1);
    return ties[turn % ties.length];
  }

  started(agentId: string) {
    this.load.set(agentId, (this.load.get(agentId) ?? 0) + 1);
  }

  finished(agentId: string) {
    this.load.set(agentId, Math.max(0, (this.load.get(agentId) ?? 1) - 1));
  }

  held(agentId: string): number {
    return this.load.get(agentId) ?? 0;
  }

  forget(agentId: string) {
    this.load.delete(agentId);
  }
}
