/**
 * Moving messages: queue → connection or poll → in flight → acknowledged.
 * Every message handed out stays in flight until its recipient acknowledges it; an unacknowledged
 * one goes back to the queue when its lease runs out or when the connection it went out on drops.
 * A new message is pushed, and long polls woken, only once the store has committed it.
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
  /** Messages routed since the last commit, by recipient: delivered once it holds them. */
  private due = new Map<string, Entry[]>();

  constructor(
    private store: Store,
    private clock: () => number,
    private hooks: DeliveryHooks,
  ) {}

  /** Queue a message for its recipient; it is pushed (or a waiting poll woken) once the store has committed it. */
  route(entry: Entry) {
    this.store.enqueue(entry);
    const fresh = this.due.get(entry.to);
    if (fresh) {
      fresh.push(entry);
      return;
    }
    const first = this.due.size === 0;
    this.due.set(entry.to, [entry]);
    if (first) this.store.afterCommit(() => this.deliverDue());
  }

  private deliverDue() {
    const due = this.due;
    this.due = new Map();
    for (const [agentId, fresh] of due) this.deliver(agentId, fresh);
  }

  /** A picky connection that wants one of the new messages takes it first; the rest is pumped, and polls woken. */
  private deliver(agentId: string, fresh: Entry[]) {
    const states = this.sinks.get(agentId);
    if (states?.some((s) => s.sink.accepts)) {
      for (const entry of fresh) {
        const picky = states.find((s) => !s.paused && s.sink.accepts?.(entry.msg));
        if (picky && entry.seq <= this.store.committedSeq && this.store.removeQueued(agentId, entry.msg.id)) this.send(picky, entry);
      }
    }
    this.pump(agentId);
    this.wake(agentId);
  }

  private wake(agentId: string) {
    const waiting = this.waiters.get(agentId);
    if (!waiting || this.store.queueLength(agentId) === 0) return;
    this.waiters.delete(agentId);
    for (const wake of waiting) wake();
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
      // Only what the store has committed goes out; a newer message follows once its commit is done.
      const head = this.store.peek(agentId);
      if (!head || head.seq > this.store.committedSeq) return;
      this.send(state, this.store.dequeue(agentId)!);
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
    if (sent === 0 && this.store.takeInflight(entry.to, msg.id)) this.store.enqueue(entry);
    if (sent <= 0) state.paused = true;
  }

  /** A picky connection takes what waits in the queue for it. */
  private feed(state: SinkState) {
    for (const entry of this.store.queued(state.sink.agentId)) {
      if (state.paused) return;
      if (entry.seq > this.store.committedSeq || !state.sink.accepts!(entry.msg)) continue;
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

  /**
   * After a failed commit put the store back to what is on disk: what was out on connections that
   * are gone goes back to the queue, and everything waiting is handed out again.
   */
  recover() {
    this.due.clear();
    for (const [agentId, states] of this.sinks) {
      this.requeueStrays(agentId);
      for (const state of states) if (state.sink.accepts && !state.paused) this.feed(state);
      this.pump(agentId);
    }
    for (const agentId of [...this.waiters.keys()]) this.wake(agentId);
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
