/**
 * This process's connections and long polls. Delivery reacts to bus events: messages waiting for an
 * agent are claimed from the store (which puts them in flight) and pushed to its sockets (`sockets.ts`), long
 * polls are woken (`polls.ts`), and a changed task goes to its watchers (`watches.ts`). It calls only the store and the bus.
 */
import type { Message } from "../../protocol/schemas";
import { agentTopic, taskTopic, type Bus, type BusEvent } from "../bus/port";
import type { Clock } from "../clock";
import type { Effects, Store, Want } from "../store/port";
import { announce } from "./announce";
import { Polls } from "./polls";
import { Sockets, type Connection, type Pump, type Sink, type SocketOptions } from "./sockets";
import { TaskWatches, type TaskWatcher } from "./watches";

export type { Connection, Sink, TaskWatcher };

export interface DeliveryOptions extends SocketOptions {
  /** An agent not seen for this long is stale (as a task's holder shows it). */
  staleAfterMs: number;
}

export class Delivery {
  /** Pumps kicked and agents' long polls to wake in this turn of the event loop, started at its end. */
  private due: { pumps: Set<Pump>; wake: Set<string> } | undefined;
  private sockets: Sockets;
  private polls: Polls;
  private watches: TaskWatches;

  constructor(
    private store: Store,
    private bus: Bus,
    clock: Clock,
    private opts: DeliveryOptions,
  ) {
    this.sockets = new Sockets(store, bus, clock, opts, (pump) => this.schedule().pumps.add(pump));
    const follow = bus.follow?.bind(bus);
    this.polls = new Polls(store, clock, opts, (effects) => this.tell(effects), follow && ((agent) => follow(agentTopic(agent))));
    this.watches = new TaskWatches(store, clock, opts.staleAfterMs, follow && ((id) => follow(taskTopic(id))));
    bus.subscribe((e) => this.on(e));
  }

  private on(e: BusEvent) {
    switch (e.type) {
      case "queued": {
        if (e.conn && e.message) return this.sockets.carry(e.agent, e.conn, e.message);
        this.sockets.kickAgent(e.agent);
        // Long polls are woken after the sockets' pumps have claimed, as when both were woken at once.
        if (this.polls.waiting(e.agent)) this.schedule().wake.add(e.agent);
        return;
      }
      case "task":
        if (this.watches.has(e.id)) void this.watches.refresh(e.id).catch(this.fail);
        return;
      case "unregistered":
        // 4009: the agent lost its name to the identity that held it before a restart; its client must not register it again.
        if (e.reclaimedBy) this.closeAgent(e.agent, 4009, `name reclaimed by ${e.reclaimedBy}`);
        else this.closeAgent(e.agent);
        return;
    }
  }

  private fail = (err: unknown) => this.opts.onError?.(err);

  /**
   * A pump starts once the event loop has read what else arrived in this turn, so the messages of
   * many frames are claimed together and go out in one frame (or one write) instead of one each.
   */
  private schedule() {
    if (!this.due) {
      this.due = { pumps: new Set(), wake: new Set() };
      setImmediate(this.runDue);
    }
    return this.due;
  }

  private runDue = () => {
    const due = this.due!;
    this.due = undefined;
    for (const pump of due.pumps) this.sockets.start(pump);
    for (const agent of due.wake) this.polls.wake(agent);
  };

  // ---------------------------------------------------------------- sockets

  /**
   * Attaches a connection of `agent`: once the store has it, the sink is opened and pushed to.
   * Its id names this relay instance, so no other relay mistakes it for a dead one.
   */
  connect(agent: string, sink: Sink, want: Want | null): Connection {
    return this.sockets.connect(agent, sink, want);
  }

  /** Closes every connection and watch of an agent that is gone. */
  private closeAgent(agent: string, code = 4001, reason = "unregistered") {
    this.sockets.close(agent, code, reason);
    this.watches.close(agent, code, reason);
  }

  /** The relay is closing: nothing owed to the store is retried. */
  stop() {
    this.sockets.stop();
  }

  /** Closes every socket and task watch (the store they stood on was emptied); long polls wake and find nothing. */
  closeAll(code: number, reason: string) {
    for (const agent of new Set([...this.sockets.agents(), ...this.watches.agents()])) this.closeAgent(agent, code, reason);
    this.polls.wakeAll();
  }

  /** After the other relays took this one for gone: its open sockets are attached again, and look again. */
  reattach() {
    this.sockets.reattach();
  }

  /** After the store came back: a socket it may hold messages in flight on that it never got is closed (its detach queues them again); then all look again. */
  storeBack() {
    this.sockets.closeStranded();
    this.recover();
  }

  /** After the bus between relays was away: a socket another relay may have put messages in flight on unheard is closed; then all look again. */
  busBack() {
    this.sockets.closeEager();
    this.recover();
  }

  /** After the store undid a failed commit: every socket and poll looks again, and a watch shown what was undone is shown its task as it now is. */
  recover() {
    this.sockets.kickAll();
    this.polls.wakeAll();
    this.watches.refreshAll(this.fail);
  }

  // ---------------------------------------------------------------- polls

  /** Takes up to `max` messages for a poll, waiting up to `waitMs` for the first; they stay in flight until acknowledged. */
  take(agent: string, max: number, waitMs: number, signal?: AbortSignal): Promise<readonly Message[]> {
    return this.polls.take(agent, max, waitMs, signal);
  }

  /** Settles messages handed out, and every message about the given tasks (what `delegate --wait` showed). */
  async ack(agent: string, ids: readonly string[], taskIds: readonly string[]): Promise<number> {
    let n = ids.length ? await this.store.ack(agent, ids) : 0;
    if (taskIds.length) n += await this.store.clearTaskMessages(agent, taskIds);
    return n;
  }

  // ---------------------------------------------------------------- task watches

  /** Follows a task: its snapshot now and on every change; returns the unwatch. */
  watch(agent: string, taskId: string, watcher: TaskWatcher): Promise<() => void> {
    return this.watches.watch(agent, taskId, watcher);
  }

  // ---------------------------------------------------------------- sweeps

  /** Messages whose lease ran out go back to their queues (tasks with a history note). */
  async sweep(now: number) {
    const { effects } = await this.store.requeueExpired(now, 10_000, this.opts.room);
    this.tell(effects);
  }

  private tell(effects: Effects) {
    announce(this.bus, effects);
  }
}
