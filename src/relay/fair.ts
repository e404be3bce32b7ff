/**
 * Shares each turn of the event loop among agents, so that one agent flooding frames or requests (acks,
 * progress notes) delays itself rather than everyone: past its share of a turn, an agent's work waits,
 * in order, for the next turn, and the relay reads other clients' requests in between.
 */

/** Bytes of frames or request bodies one agent may have handled per turn; one item always runs, however large. */
export const SHARE_PER_TURN = 64 * 1024;
/** What one HTTP request costs besides its body: a flood of small requests is shared out too. */
export const REQUEST_COST = 1024;
/**
 * Bytes of frames one agent may have waiting for later turns (at least; 16 frames of the largest size), and all
 * agents together: past either, the socket that sent more is closed. Deferred frames are read off the socket
 * already, so TCP no longer holds a flooder back: these bounds do.
 */
export const BACKLOG_BYTES = 16 * 1024 * 1024;
export const TOTAL_BACKLOG_BYTES = 256 * 1024 * 1024;

interface Item {
  cost: number;
  run: () => void;
}

export class FairShare {
  private used = new Map<string, number>();
  private waiting = new Map<string, Item[]>();
  private backlog = new Map<string, number>();
  private total = 0;
  private next: ReturnType<typeof setImmediate> | undefined;

  constructor(private share = SHARE_PER_TURN) {}

  /** Runs `run` now if `agent` has room in this turn and nothing waiting, else in a later turn after what waits. */
  submit(agent: string, cost: number, run: () => void) {
    if (this.admit(agent, cost)) {
      run();
      return;
    }
    let queue = this.waiting.get(agent);
    if (!queue) this.waiting.set(agent, (queue = []));
    queue.push({ cost, run });
    this.backlog.set(agent, (this.backlog.get(agent) ?? 0) + cost);
    this.total += cost;
    this.turnEnds();
  }

  /** Takes `cost` of `agent`'s share of this turn and says true when it has room and nothing waiting; false (nothing taken) when it must wait its turn. */
  admit(agent: string, cost: number): boolean {
    const used = this.used.get(agent) ?? 0;
    if (this.waiting.has(agent) || (used !== 0 && used + cost > this.share)) return false;
    this.used.set(agent, used + cost);
    this.turnEnds();
    return true;
  }

  /** Resolves once `agent` may go on: at once when it has room in this turn. */
  turn(agent: string, cost: number): Promise<void> {
    return new Promise((resolve) => this.submit(agent, cost, resolve));
  }

  /** Bytes of `agent`'s work waiting for a later turn. */
  waitingFor(agent: string): number {
    return this.backlog.get(agent) ?? 0;
  }

  /** Bytes of everyone's work waiting for a later turn. */
  get waitingBytes(): number {
    return this.total;
  }

  /** The turn ends once the event loop has read what else arrived: the shares start afresh, and what waits runs. */
  private turnEnds() {
    this.next ??= setImmediate(() => {
      this.next = undefined;
      this.used.clear();
      for (const [agent, queue] of this.waiting) {
        let used = 0;
        while (queue.length && (used === 0 || used + queue[0]!.cost <= this.share)) {
          const item = queue.shift()!;
          used += item.cost;
          this.backlog.set(agent, this.backlog.get(agent)! - item.cost);
          this.total -= item.cost;
          item.run();
        }
        this.used.set(agent, used);
        if (queue.length === 0) {
          this.waiting.delete(agent);
          this.backlog.delete(agent);
        }
      }
      if (this.waiting.size || this.used.size) this.turnEnds();
    });
  }
}
