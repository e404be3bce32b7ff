/**
 * This process's sockets: each agent's connections here, and its pump, which claims what waits for the agent
 * from the store (putting it in flight) and pushes it to them. Delivery kicks the pumps as bus events say
 * messages wait, and starts them at the end of that turn of the event loop.
 */
import type { Message } from "../../protocol/schemas";
import { agentTopic, type Bus } from "../bus/port";
import type { Clock } from "../clock";
import { NO_EFFECTS, OutcomeUnknown, refused, storeUnavailable, type Effects, type Store, type Want } from "../store/port";
import { announce } from "./announce";
import { BACK_REFUSED, DETACH_RETRY_MS, RETRY_MAX_MS, RETRY_MS, STORE_LOST, type Claimed, type Connection, type Local, type Pump, type Sink, type SocketOptions } from "./_socket-shapes";

export type { Connection, Pump, Sink, SocketOptions } from "./_socket-shapes";

export class Sockets {
  private pumps = new Map<string, Pump>();
  /** Pumps with messages carried to their sockets in this turn, not pushed yet. */
  private carrying: Set<Pump> | undefined;
  private batch: number;
  private instance: string;
  private conns = 0;
  private stopped = false;

  constructor(
    private store: Store,
    private bus: Bus,
    private clock: Clock,
    private opts: SocketOptions,
    /** Starts `pump` at the end of this turn of the event loop (`Delivery`). */
    private later: (pump: Pump) => void,
  ) {
    this.batch = opts.batch ?? 128;
    this.instance = opts.instance;
  }

  private fail = (err: unknown) => this.opts.onError?.(err);

  /**
   * Attaches a connection of `agent`: once the store has it, the sink is opened and pushed to.
   * Its id names this relay instance, so no other relay mistakes it for a dead one.
   */
  connect(agent: string, sink: Sink, want: Want | null): Connection {
    const conn = `${this.instance}.${++this.conns}`;
    const local: Local = { agent, conn, sink, want, ready: false, paused: false, closed: false, batch: 16, carried: [], stranded: false };
    let pump = this.pumps.get(agent);
    if (!pump) this.pumps.set(agent, (pump = { agent, locals: [], running: false, again: false, turn: 0, retryMs: 0 }));
    pump.locals.push(local);
    let unfollow: (() => void) | undefined;
    // Whether the store has, or may have, attached it: only then does its close owe the store a detach.
    let inStore = false;
    const attach = () => {
      inStore = true;
      return this.store.attachConnection(agent, conn, this.clock(), this.eager(want)).then((rec) => {
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
      }, (err) => {
        if (refused(err)) inStore = false;
        throw err;
      });
    };
    // The agent's topic is heard before the store attaches the socket (or the pump claims): a message
    // queued (or put in flight on it) once the connection is attached is always told here.
    const attached = this.bus.follow ? this.bus.follow(agentTopic(agent)).then((u) => ((unfollow = u), attach())) : attach();
    attached.catch((err) => {
      // Never attached (or not known to be): the client is told to connect again, rather than left waiting for its hello.
      if (storeUnavailable(err) && !local.closed) {
        local.closed = true;
        sink.close(1011, "the relay cannot reach its store; reconnect in a few seconds");
        return;
      }
      this.fail(err);
    });
    return {
      id: conn,
      drained: () => this.resume(local),
      close: async () => {
        this.remove(local);
        await attached.catch(() => {});
        if (inStore) await this.detach(agent, conn);
        unfollow?.();
        if (inStore) this.bus.publish({ type: "disconnected", agent, conn });
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
  carry(agent: string, conn: string, msg: Message) {
    if (!conn.startsWith(`${this.instance}.`)) return;
    const pump = this.pumps.get(agent);
    const l = pump?.locals.find((x) => x.conn === conn);
    if (!pump || !l) return;
    l.carried.push(msg);
    if (pump.running) {
      pump.again = true;
      return;
    }
    // Pushed once the operation's events have all been heard: a response and its status go out in one write, not one each.
    if (!this.carrying) {
      this.carrying = new Set();
      queueMicrotask(this.pushCarried);
    }
    this.carrying.add(pump);
  }

  private pushCarried = () => {
    const pumps = this.carrying!;
    this.carrying = undefined;
    // A pump that started meanwhile pushes them itself, after what its claim returns.
    for (const pump of pumps) if (!pump.running) this.flushAll(pump);
  };

  private handCarried(l: Local, msgs: Message[]) {
    const left = this.open(l) ? this.hand(l, { messages: msgs, effects: NO_EFFECTS }) : msgs.map((m) => m.id);
    if (left) void this.handBack(l, left).then((fx) => this.tell(fx), this.fail);
  }

  /** Puts back what a claim got and the socket could not take; when that fails, they stay in flight on it. */
  private handBack(l: Local, ids: string[]) {
    return this.store.requeue(l.agent, ids).catch((err) => {
      // Refused, they surely sit on it, and no reconnect may follow (Redis out of memory, read-only): closed now, its client is told to come back, and its detach, retried while refused, queues them.
      if (refused(err)) this.closeLocal(l, BACK_REFUSED);
      else l.stranded = true;
      throw err;
    });
  }

  /**
   * Once the store is back: each socket it may hold messages in flight on that it never got is closed.
   * Those would wait as long as it stays open (a task's lease is renewed while its connection is
   * attached); its detach queues them again, and the client connects again and drops the copies it
   * already handled. A socket stays open while the store is away, for what it can still do (a socket
   * whose hand-back was refused is closed at once instead: see `handBack`).
   */
  closeStranded() {
    this.closeWhere((l) => l.stranded, STORE_LOST);
  }

  /**
   * Once the bus is back after it was away: another relay may have put messages in flight on a socket
   * that takes every message as it queued them, with events this relay never heard, and they would wait
   * as long as it stays open. Each such socket is closed, as a stranded one is.
   */
  closeEager() {
    this.closeWhere((l) => l.ready && l.want === null, "the relay missed events while its bus reconnected; reconnect to get what they carried");
  }

  private closeWhere(picked: (l: Local) => boolean, reason: string) {
    for (const pump of this.pumps.values()) for (const l of pump.locals) if (!l.closed && picked(l)) this.closeLocal(l, reason);
  }

  private closeLocal(l: Local, reason: string) {
    if (l.closed) return;
    l.closed = true;
    l.sink.close(1011, reason);
  }

  /** Tells the store a socket closed; while the store is away or refuses, it is asked again every second until it takes it or the relay stops. */
  private async detach(agent: string, conn: string) {
    for (;;) {
      try {
        this.tell(await this.store.detachConnection(agent, conn, this.clock()));
        return;
      } catch (err) {
        if (!storeUnavailable(err)) return this.fail(err);
        if (this.stopped) return;
        await new Promise((resolve) => setTimeout(resolve, DETACH_RETRY_MS).unref());
      }
    }
  }

  /** The relay is closing: a detach the store refuses is not asked again, nor a claim it refused. */
  stop() {
    this.stopped = true;
    for (const pump of this.pumps.values()) clearTimeout(pump.retry);
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

  /** Kicks the pump of `agent`, when it has sockets here. */
  kickAgent(agent: string) {
    const pump = this.pumps.get(agent);
    if (pump) this.kick(pump);
  }

  /** Every pump looks again. */
  kickAll() {
    for (const pump of this.pumps.values()) this.kick(pump);
  }

  private kick(pump: Pump) {
    if (pump.running) {
      pump.again = true;
      return;
    }
    this.later(pump);
  }

  /** Starts a pump kicked in this turn, or has the one running go another round. */
  start(pump: Pump) {
    if (pump.running) pump.again = true;
    else void this.pump(pump);
  }

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
          while (l.want && this.open(l)) if (!(await this.claimFor(pump, l))) break;
        }
        for (;;) {
          const l = this.next(pump);
          if (!l || !(await this.claimFor(pump, l))) break;
        }
      } while (pump.again);
      pump.retryMs = 0;
    } catch (err) {
      if (refused(err)) this.retryLater(pump);
      this.fail(err);
    } finally {
      pump.running = false;
      this.flushAll(pump);
      if (pump.locals.length === 0 && this.pumps.get(pump.agent) === pump) this.pumps.delete(pump.agent);
    }
  }

  /**
   * A pump whose claim the store refused looks again later: a store that refuses while reachable (Redis
   * out of memory, read-only, busy) never reconnects, so no `storeBack` would have it look, and what
   * waits for its sockets would wait for the next message. A refused claim changed nothing: the socket stays open.
   */
  private retryLater(pump: Pump) {
    if (pump.retry || this.stopped) return;
    pump.retryMs = Math.min(RETRY_MAX_MS, pump.retryMs * 2 || RETRY_MS);
    pump.retry = setTimeout(() => {
      pump.retry = undefined;
      if (this.pumps.get(pump.agent) === pump) this.kick(pump);
    }, pump.retryMs);
    pump.retry.unref?.();
  }

  /** Claims a batch for one socket and pushes it; true when the batch was full, so more may wait. */
  private async claimFor(pump: Pump, l: Local): Promise<boolean> {
    const max = l.batch;
    let claimed: Claimed;
    try {
      claimed = await this.store.claimNext(l.agent, l.conn, this.clock(), { max, want: l.want, ackWindowMs: this.opts.ackWindowMs, room: this.opts.room });
    } catch (err) {
      // A claim refused up front changed nothing; one the store sent and never heard back about may have run.
      if (err instanceof OutcomeUnknown) l.stranded = true;
      throw err;
    }
    const left = this.hand(l, claimed);
    this.flushAll(pump);
    if (left) this.tell(await this.handBack(l, left));
    return claimed.messages.length === max;
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

  /** Agents with sockets here. */
  agents() {
    return this.pumps.keys();
  }

  /** Closes every socket of an agent that is gone. */
  close(agent: string, code: number, reason: string) {
    const pump = this.pumps.get(agent);
    if (pump) {
      this.pumps.delete(agent);
      for (const l of pump.locals) {
        l.closed = true;
        l.sink.close(code, reason);
      }
    }
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

  private tell(effects: Effects) {
    announce(this.bus, effects);
  }
}
