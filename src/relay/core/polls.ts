/**
 * This process's long polls: a poll claims what waits for its agent, or waits, up to its limit, for a message
 * to be queued for it. Delivery wakes an agent's polls when one is, after the sockets' pumps have claimed.
 */
import type { Message } from "../../protocol/schemas";
import type { Clock } from "../clock";
import type { Effects, Room, Store } from "../store/port";

export interface PollOptions {
  ackWindowMs: number;
  /** Where the status messages a claim tells fit. */
  room: Room;
}

export class Polls {
  private waiters = new Map<string, Set<() => void>>();

  constructor(
    private store: Store,
    private clock: Clock,
    private opts: PollOptions,
    private tell: (effects: Effects) => void,
    /** Hears the agent's topic from other relays until the returned unfollow (`Bus.follow`); absent in one process. */
    private follow?: (agent: string) => Promise<() => void>,
  ) {}

  /** True while a poll of `agent` waits here. */
  waiting(agent: string) {
    return this.waiters.has(agent);
  }

  /** Wakes the polls of `agent`: each claims again. */
  wake(agent: string) {
    const waiting = this.waiters.get(agent);
    if (!waiting) return;
    this.waiters.delete(agent);
    for (const wake of waiting) wake();
  }

  /** Wakes every poll waiting here. */
  wakeAll() {
    for (const [agent, waiting] of this.waiters) {
      this.waiters.delete(agent);
      for (const wake of waiting) wake();
    }
  }

  /** Takes up to `max` messages for a poll, waiting up to `waitMs` for the first; they stay in flight until acknowledged. */
  async take(agent: string, max: number, waitMs: number, signal?: AbortSignal): Promise<readonly Message[]> {
    if (signal?.aborted) return [];
    if (waitMs <= 0 || !this.follow) return this.wait(agent, max, waitMs, signal);
    // The agent's topic is heard before the first claim: a message queued after it still wakes the wait.
    const unfollow = await this.follow(agent);
    try {
      // A poller that hung up while the topic was subscribed takes nothing, as one that hung up before.
      if (signal?.aborted) return [];
      return await this.wait(agent, max, waitMs, signal);
    } finally {
      unfollow();
    }
  }

  private async wait(agent: string, max: number, waitMs: number, signal?: AbortSignal): Promise<readonly Message[]> {
    // Listening before looking: a message queued while the first claim runs still wakes the wait.
    const wait = waitMs > 0 && !signal?.aborted ? this.waiter(agent, signal) : null;
    let first: readonly Message[];
    try {
      first = await this.claim(agent, max);
    } catch (err) {
      // Refused (the store is away or will not write): the poll ends here, and so does its waiter.
      wait?.cancel();
      throw err;
    }
    if (first.length > 0 || !wait) {
      wait?.cancel();
      return first;
    }
    await wait.until(waitMs);
    // A poller that hung up takes nothing: what it would take would sit in flight until its lease ran out.
    if (signal?.aborted) return [];
    return this.claim(agent, max);
  }

  private async claim(agent: string, max: number) {
    const { messages, effects } = await this.store.claimNext(agent, null, this.clock(), { max, ackWindowMs: this.opts.ackWindowMs, room: this.opts.room });
    this.tell(effects);
    return messages;
  }

  private waiter(agent: string, signal?: AbortSignal) {
    let woken = false;
    let resolve: () => void = () => {};
    const wake = () => {
      woken = true;
      resolve();
    };
    let set = this.waiters.get(agent);
    if (!set) this.waiters.set(agent, (set = new Set()));
    set.add(wake);
    signal?.addEventListener("abort", wake);
    const cancel = () => {
      const s = this.waiters.get(agent);
      if (s?.delete(wake) && s.size === 0) this.waiters.delete(agent);
      signal?.removeEventListener("abort", wake);
    };
    return {
      cancel,
      until: (ms: number) =>
        new Promise<void>((done) => {
          if (woken) return (cancel(), done());
          const timer = setTimeout(wake, ms);
          resolve = () => {
            clearTimeout(timer);
            cancel();
            done();
          };
        }),
    };
  }
}
