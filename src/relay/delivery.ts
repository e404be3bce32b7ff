/**
 * Moving messages: queue → connection or poll → in flight → acknowledged.
 * Every message handed out stays in flight until its recipient acknowledges it; an unacknowledged
 * one goes back to the queue when its lease runs out or when the connection it went out on drops.
 */
import type { Message } from "../protocol/schemas";
import type { Entry } from "./queue";
import type { Inflight, Store } from "./store";

/** A live connection of an agent that messages are pushed to (an adapter over a WebSocket). */
export interface Sink {
  readonly id: number;
  readonly agentId: string;
  /** Like Bun's `ws.send`: >0 sent, -1 accepted but the socket is backed up, 0 dropped. */
  push(msg: Message): number;
  close(code: number, reason: string): void;
  /** Set on a connection that takes only some messages (`file-watch`): it gets those before any other does, and nothing else. */
  accepts?(msg: Message): boolean;
}

interface SinkState {
  sink: Sink;
  paused: boolean;
}

export interface DeliveryHooks {
  /** How long a message may stay unacknowledged before it is handed out again. */
  leaseMs(entry: Entry): number;
  /** Called as a message leaves the queue; may return the message to send instead (e.g. with a new attempt count), or null to drop it. */
  onHandOut(entry: Entry, now: number): Message | null;
}

let nextSinkId = 1;
export const newSinkId = () => nextSinkId++;

export class Delivery {
  private sinks = new Map<string, SinkState[]>();
  private waiters = new Map<string, Set<() => void>>();

  constructor(
    private store: Store,
    private clock: () => number,
    private hooks: DeliveryHooks,
  ) {}

  /** Queue a message for its recipient and push it at once if the recipient is connected. */
  route(entry: Entry) {
    const picky = this.sinks.get(entry.to)?.find((s) => !s.paused && s.sink.accepts?.(entry.msg));
    if (picky) {
      this.send(picky, entry);
      return;
    }
    this.store.enqueue(entry);
    if (this.sinks.has(entry.to)) this.pump(entry.to);
    const waiting = this.waiters.get(entry.to);
    if (waiting) {
      this.waiters.delete(entry.to);
      for (const wake of waiting) wake();
    }
  }

  /** Hand queued messages to the agent's connections until the queue is empty or every socket is backed up. */
  pump(agentId: string) {
    const states = this.sinks.get(agentId);
    if (!states) return;
    let turn = 0;
    for (;;) {
      // The next socket that is not backed up and takes every message, taking turns (usually there is only one).
      let state: SinkState | undefined;
      for (let i = 0; i < states.length && !state; i++) {
        const candidate = states[(turn + i) % states.length]!;
        if (!candidate.paused && !candidate.sink.accepts) state = candidate;
      }
      if (!state) return;
      turn++;
      const entry = this.store.dequeue(agentId);
      if (!entry) return;
      this.send(state, entry);
    }
  }

  /** Hands one message to one connection, where it stays in flight until acknowledged (unless the hub drops it). */
  private send(state: SinkState, entry: Entry) {
    const now = this.clock();
    const msg = this.hooks.onHandOut(entry, now);
    if (!msg) return;
    entry.msg = msg;
    this.store.putInflight(entry.to, { entry, until: now + this.hooks.leaseMs(entry), conn: state.sink.id });
    const sent = state.sink.push(msg);
    if (sent === 0) {
      this.store.takeInflight(entry.to, msg.id);
      this.store.enqueue(entry);
    }
    if (sent <= 0) state.paused = true;
  }

  /** A picky connection takes what waits in the queue for it. */
  private feed(state: SinkState) {
    for (const entry of this.store.queued(state.sink.agentId)) {
      if (state.paused) return;
      if (!state.sink.accepts!(entry.msg)) continue;
      this.store.removeQueued(entry.to, entry.msg.id);
      this.send(state, entry);
    }
  }

  /** Take up to `max` queued messages for a poll; they stay in flight until acknowledged. */
  take(agentId: string, max: number): Message[] {
    const out: Message[] = [];
    const now = this.clock();
    while (out.length < max) {
      const entry = this.store.dequeue(agentId);
      if (!entry) break;
      const msg = this.hooks.onHandOut(entry, now);
      if (!msg) continue;
      entry.msg = msg;
      this.store.putInflight(agentId, { entry, until: now + this.hooks.leaseMs(entry), conn: null });
      out.push(entry.msg);
    }
    return out;
  }

  /** Resolves when a message is queued for the agent, or after `ms`. */
  wait(agentId: string, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.store.queueLength(agentId) > 0 || ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.waiters.get(agentId);
      if (!set) this.waiters.set(agentId, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        set!.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      signal?.addEventListener("abort", done);
    });
  }

  /** Acknowledge one message: it leaves flight (or the queue) for good. Returns what was settled. */
  ack(agentId: string, msgId: string): Inflight | undefined {
    return this.store.takeInflight(agentId, msgId);
  }

  connect(sink: Sink) {
    const states = this.sinks.get(sink.agentId) ?? [];
    const state = { sink, paused: false };
    states.push(state);
    this.sinks.set(sink.agentId, states);
    this.requeueStrays(sink.agentId);
    if (sink.accepts) this.feed(state);
    this.pump(sink.agentId);
  }

  /** The socket drained: resume pushing to it. */
  resume(sink: Sink) {
    const state = this.sinks.get(sink.agentId)?.find((s) => s.sink === sink);
    if (state) state.paused = false;
    if (state && sink.accepts) this.feed(state);
    this.pump(sink.agentId);
  }

  disconnect(sink: Sink) {
    const states = this.sinks.get(sink.agentId);
    if (!states) return;
    const rest = states.filter((s) => s.sink !== sink);
    if (rest.length) this.sinks.set(sink.agentId, rest);
    else this.sinks.delete(sink.agentId);
    // What went out on this socket and was not acknowledged is handed out again now.
    for (const item of this.store.listInflight(sink.agentId)) {
      if (item.conn !== sink.id) continue;
      this.store.takeInflight(sink.agentId, item.entry.msg.id);
      this.store.enqueue(item.entry);
    }
    this.pump(sink.agentId);
  }

  /** In-flight messages sent on sockets that no longer exist (e.g. before a restart) go back at once. */
  private requeueStrays(agentId: string) {
    const live = new Set((this.sinks.get(agentId) ?? []).map((s) => s.sink.id));
    for (const item of this.store.listInflight(agentId)) {
      if (item.conn === null || live.has(item.conn)) continue;
      this.store.takeInflight(agentId, item.entry.msg.id);
      this.store.enqueue(item.entry);
    }
  }

  isConnected(agentId: string) {
    return this.sinks.has(agentId);
  }

  /** For an agent that is leaving: what its sockets had in flight stays there for the caller to drop. */
  closeAll(agentId: string, code: number, reason: string) {
    const states = this.sinks.get(agentId) ?? [];
    // Forgotten first: Bun runs each close handler inside close(), which would hand this socket's messages to the next.
    this.sinks.delete(agentId);
    for (const s of states) s.sink.close(code, reason);
  }

  /** In-flight messages whose lease ran out, taken out of flight; the caller decides their fate. */
  expired(now: number): Inflight[] {
    const out: Inflight[] = [];
    for (const agentId of this.store.inflightAgents()) {
      for (const item of this.store.listInflight(agentId)) {
        if (item.until > now) continue;
        this.store.takeInflight(agentId, item.entry.msg.id);
        out.push(item);
      }
    }
    return out;
  }
}
