/**
 * This process's connections and long polls. Delivery reacts to bus events: messages waiting for an
 * agent are claimed from the store (which puts them in flight) and pushed to its sockets here, long
 * polls are woken (`polls.ts`), and a changed task goes to its watchers (`watches.ts`). It calls only the store and the bus.
 */
import { ClawlinkError } from "../../errors";
import type { Message } from "../../protocol/schemas";
import type { Bus, BusEvent } from "../bus/port";
import type { Clock } from "../clock";
import { NO_EFFECTS, type AgentRecord, type Effects, type Room, type Store, type Want } from "../store/port";
import { announce } from "./announce";
import { Polls } from "./polls";
import { TaskWatches, type TaskWatcher } from "./watches";

export type { TaskWatcher };

/** How many times, a second apart, a closed socket is detached while the store is away. */
const DETACH_ATTEMPTS = 300;

type Claimed = Awaited<ReturnType<Store["claimNext"]>>;

/** A live connection that messages are pushed to (an adapter over a WebSocket). */
export interface Sink {
  /** The connection is attached: called once, with the agent's record, before any message. */
  open(agent: AgentRecord): void;
  /** Like Bun's `ws.send`: >0 sent, -1 accepted but the socket is backed up, 0 dropped. */
  push(msg: Message): number;
  /** Several at once (a batch frame); returns how many it took, and whether the socket is now backed up. */
  pushMany?(msgs: readonly Message[]): { taken: number; full: boolean };
  close(code: number, reason: string): void;
}

interface Local {
  readonly agent: string;
  readonly conn: string;
  readonly sink: Sink;
  readonly want: Want | null;
  /** Attached in the store: only then may it claim. */
  ready: boolean;
  paused: boolean;
  closed: boolean;
  /** Messages claimed at once for it. */
  batch: number;
  /** Messages the store put in flight on it as they were queued, held while a claim for it runs so they go out after what that claim returns. */
  carried: Message[];
}

/** An agent's connections here, and whether a pump is running for it (events during it ask for another round). */
interface Pump {
  readonly agent: string;
  locals: Local[];
  running: boolean;
  again: boolean;
  turn: number;
}

/** A connection attached through `Delivery.connect`. */
export interface Connection {
  readonly id: string;
  /** The socket drained: pushing resumes. */
  drained(): void;
  /** The socket closed: what went out on it unacknowledged is queued again. */
  close(): Promise<void>;
}

export interface DeliveryOptions {
  /** This relay process; connection ids carry it. */
  instance: string;
  ackWindowMs: number;
  /** An agent not seen for this long is stale (as a task's holder shows it). */
  staleAfterMs: number;
  /** Where the status messages a delivery tells fit. */
  room: Room;
  /** Messages claimed at once for one socket, at most. */
  batch?: number;
  onError?: (err: unknown) => void;
}

export class Delivery {
  private pumps = new Map<string, Pump>();
  /** Pumps kicked and agents' long polls to wake in this turn of the event loop, started at its end. */
  private due: { pumps: Set<Pump>; wake: Set<string> } | undefined;
  private polls: Polls;
  private watches: TaskWatches;
  private batch: number;
  private instance: string;
  private conns = 0;

  constructor(
    private store: Store,
    private bus: Bus,
    private clock: Clock,
    private opts: DeliveryOptions,
  ) {
    this.batch = opts.batch ?? 128;
    this.instance = opts.instance;
    this.polls = new Polls(store, clock, opts, (effects) => this.tell(effects));
    this.watches = new TaskWatches(store, clock, opts.staleAfterMs);
    bus.subscribe((e) => this.on(e));
  }

  private on(e: BusEvent) {
    switch (e.type) {
      case "queued": {
        if (e.conn && e.message) return this.carry(e.agent, e.conn, e.message);
        const pump = this.pumps.get(e.agent);
        if (pump) this.kick(pump);
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

  // ---------------------------------------------------------------- sockets

  /**
   * Attaches a connection of `agent`: once the store has it, the sink is opened and pushed to.
   * Its id names this relay instance, so no other relay mistakes it for a dead one.
   */
  connect(agent: string, sink: Sink, want: Want | null): Connection {
    const conn = `${this.instance}.${++this.conns}`;
    const local: Local = { agent, conn, sink, want, ready: false, paused: false, closed: false, batch: 16, carried: [] };
    let pump = this.pumps.get(agent);
    if (!pump) this.pumps.set(agent, (pump = { agent, locals: [], running: false, again: false, turn: 0 }));
    pump.locals.push(local);
    const attached = this.store.attachConnection(agent, conn, this.clock(), this.eager(want)).then((rec) => {
      if (!rec) {
        // Unregistered while the socket opened.
        local.closed = true;
        sink.close(4001, "unregistered");
        return;
      }
      this.bus.publish({ type: "connected", agent, conn });
      if (local.closed) return;
      sink.open(rec);
      local.ready = true;
      const p = this.pumps.get(agent);
      if (p) this.kick(p);
    });
    attached.catch(this.fail);
    return {
      id: conn,
      drained: () => this.resume(local),
      close: async () => {
        this.remove(local);
        await attached.catch(() => {});
        await this.detach(agent, conn);
        this.bus.publish({ type: "disconnected", agent, conn });
      },
    };
  }

  /** A connection that takes every message may be handed one as it is queued (`Store.attachConnection`). */
  private eager(want: Want | null) {
    return want ? undefined : this.opts.ackWindowMs;
  }

  /**
   * A message the store put in flight on a connection as it queued it: the relay holding that
   * connection pushes it, after what a claim running for it returns (queued before it). One that cannot
   * go out now (the socket is backed up, not yet open, or closing) goes back to the queue at its place;
   * a connection already gone had it queued again when it was detached.
   */
  private carry(agent: string, conn: string, msg: Message) {
    if (!conn.startsWith(`${this.instance}.`)) return;
    const pump = this.pumps.get(agent);
    const l = pump?.locals.find((x) => x.conn === conn);
    if (!pump || !l) return;
    if (pump.running) {
      l.carried.push(msg);
      pump.again = true;
      return;
    }
    this.handCarried(l, [msg]);
  }

  private handCarried(l: Local, msgs: Message[]) {
    const left = this.open(l) ? this.hand(l, { messages: msgs, effects: NO_EFFECTS }) : msgs.map((m) => m.id);
    if (left) void this.store.requeue(l.agent, left).then((fx) => this.tell(fx), this.fail);
  }

  /** Tells the store a socket closed; while the store is away it is asked again every second for a while, or the agent would look connected. */
  private async detach(agent: string, conn: string) {
    for (let attempt = 1; ; attempt++) {
      try {
        this.tell(await this.store.detachConnection(agent, conn, this.clock()));
        return;
      } catch (err) {
        if (attempt >= DETACH_ATTEMPTS || !(err instanceof ClawlinkError && err.code === "store_unavailable")) return this.fail(err);
        await new Promise((resolve) => setTimeout(resolve, 1000).unref());
      }
    }
  }

  private remove(local: Local) {
    local.closed = true;
    const pump = this.pumps.get(local.agent);
    if (!pump) return;
    pump.locals = pump.locals.filter((l) => l !== local);
    if (pump.locals.length === 0 && !pump.running) this.pumps.delete(local.agent);
  }

  private resume(local: Local) {
    local.paused = false;
    const pump = this.pumps.get(local.agent);
    if (pump) this.kick(pump);
  }

  /**
   * A pump starts once the event loop has read what else arrived in this turn, so the messages of
   * many frames are claimed together and go out in one frame (or one write) instead of one each.
   */
  private kick(pump: Pump) {
    if (pump.running) {
      pump.again = true;
      return;
    }
    this.schedule().pumps.add(pump);
  }

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
    for (const pump of due.pumps) {
      if (pump.running) pump.again = true;
      else void this.pump(pump);
    }
    for (const agent of due.wake) this.polls.wake(agent);
  };

  /**
   * Hands queued messages to the agent's sockets until the queue is empty or every socket is backed
   * up. A socket that takes only some messages (`file-watch`, `listen --type`) gets those before any
   * other; the others take turns, a batch each (usually there is only one). A claim short of a full
   * batch means the queue is empty: a message queued meanwhile kicks the pump again, so stopping
   * there loses nothing.
   */
  private async pump(pump: Pump) {
    pump.running = true;
    try {
      do {
        pump.again = false;
        this.flushAll(pump);
        for (const l of pump.locals) {
          while (l.want && this.open(l)) {
            const max = l.batch;
            const claimed = await this.store.claimNext(l.agent, l.conn, this.clock(), { max, want: l.want, ackWindowMs: this.opts.ackWindowMs, room: this.opts.room });
            const left = this.hand(l, claimed);
            this.flushAll(pump);
            if (left) this.tell(await this.store.requeue(l.agent, left));
            if (claimed.messages.length < max) break;
          }
        }
        for (;;) {
          const l = this.next(pump);
          if (!l) break;
          const max = l.batch;
          const claimed = await this.store.claimNext(l.agent, l.conn, this.clock(), { max, ackWindowMs: this.opts.ackWindowMs, room: this.opts.room });
          const left = this.hand(l, claimed);
          this.flushAll(pump);
          if (left) this.tell(await this.store.requeue(l.agent, left));
          if (claimed.messages.length < max) break;
        }
      } while (pump.again);
    } catch (err) {
      this.fail(err);
    } finally {
      pump.running = false;
      this.flushAll(pump);
      if (pump.locals.length === 0 && this.pumps.get(pump.agent) === pump) this.pumps.delete(pump.agent);
    }
  }

  /** Pushes what was carried to the pump's sockets while it claimed: after what the claim returned, before what the next one will. */
  private flushAll(pump: Pump) {
    for (const l of pump.locals) {
      if (l.carried.length === 0) continue;
      const msgs = l.carried;
      l.carried = [];
      this.handCarried(l, msgs);
    }
  }

  private open(l: Local) {
    return l.ready && !l.paused && !l.closed;
  }

  /** The next socket that takes anything and can take more, in turn; undefined when none can. */
  private next(pump: Pump): Local | undefined {
    const n = pump.locals.length;
    for (let i = 0; i < n; i++) {
      const l = pump.locals[pump.turn++ % n]!;
      if (!l.want && this.open(l)) return l;
    }
    return undefined;
  }

  /**
   * Pushes what was claimed for one socket; returns the ids it could not take, which go back to the
   * queue at their place. A batch grows while the socket takes it all, and shrinks to what it took
   * when it backs up, so a slow socket does not make the relay claim and put back what it cannot send.
   */
  private hand(l: Local, { messages, effects }: Claimed): string[] | undefined {
    this.tell(effects);
    if (messages.length === 0) return undefined;
    let pushed = 0;
    if (!l.closed && l.sink.pushMany) {
      const { taken, full } = l.sink.pushMany(messages);
      pushed = taken;
      if (full || taken < messages.length) l.paused = true;
    } else if (!l.closed) {
      for (const m of messages) {
        const sent = l.sink.push(m);
        if (sent !== 0) pushed++;
        if (sent <= 0) {
          l.paused = true;
          break;
        }
      }
    }
    l.batch = l.paused ? Math.max(1, pushed) : Math.min(this.batch, l.batch * 2);
    return pushed < messages.length ? messages.slice(pushed).map((m) => m.id) : undefined;
  }

  /** Closes every connection and watch of an agent that is gone. */
  private closeAgent(agent: string, code = 4001, reason = "unregistered") {
    const pump = this.pumps.get(agent);
    if (pump) {
      this.pumps.delete(agent);
      for (const l of pump.locals) {
        l.closed = true;
        l.sink.close(code, reason);
      }
    }
    this.watches.close(agent, code, reason);
  }

  /** Closes every socket and task watch (the store they stood on was emptied); long polls wake and find nothing. */
  closeAll(code: number, reason: string) {
    for (const agent of new Set([...this.pumps.keys(), ...this.watches.agents()])) this.closeAgent(agent, code, reason);
    this.polls.wakeAll();
  }

  /** After the other relays took this one for gone: its open sockets are attached again, and look again. */
  reattach() {
    for (const pump of this.pumps.values()) {
      for (const l of pump.locals) {
        if (l.closed || !l.ready) continue;
        this.store
          .attachConnection(l.agent, l.conn, undefined, this.eager(l.want))
          .then(() => this.kick(pump))
          .catch(this.fail);
      }
    }
  }

  /** After the store undid a failed commit: every socket and poll looks again, and a watch shown what was undone is shown its task as it now is. */
  recover() {
    for (const pump of this.pumps.values()) this.kick(pump);
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
