/**
 * The bottom layer of Tasks: what every layer shares (the store, the bus, the clock, the options, the
 * memory of forgotten tasks), the 429 for a queue or budget with no room, and making a task: to a named
 * agent, or routed by capability to the least busy one that can receive it.
 */
import { ClawlinkError, badRequest, notFound } from "../../errors";
import type { SendMessage, Sent } from "../../protocol/schemas";
import type { Bus } from "../bus/port";
import type { Clock } from "../clock";
import { newSortableId } from "../ids";
import type { AgentRecord, Refusal, Room, Store } from "../store/port";
import { canReceive, REPLY_RESERVE } from "../store/rules";
import { Forgetting, type RetentionOptions } from "./retention";
import { announce } from "./announce";
import { unknownAgent } from "./registry";
import { REACHABLE_MS } from "./views";

export type SendTask = Extract<SendMessage, { type: "task" }>;
export type SendResponse = Extract<SendMessage, { type: "response" }>;

export interface TaskOptions {
  staleAfterMs: number;
  /** A holder whose socket closed this long ago, with no sign of life since, loses its unfinished tasks. */
  holderGraceMs: number;
  /** Bounds on queueing a task, a reply, and the status messages a change tells. */
  room: Room;
  retention: RetentionOptions;
  /** A message left unread this long is dropped; a task expires. */
  messageTtlMs: number;
}

const reserveNote = `${Math.round((1 - REPLY_RESERVE) * 100)}%, keeping the rest for responses, progress and status`;

/** The 429 for a queue or budget that has no room, naming the limit. */
export function noRoom(r: Refusal, room: Room): ClawlinkError {
  const retry = { "Retry-After": "1" };
  switch (r.refused) {
    case "queue_full":
      return new ClawlinkError("queue_full", `${r.name}'s queue is full (${r.waiting} messages waiting)`, `retry later, or send to another agent; ${r.name} must poll or listen to drain it`, { headers: retry });
    case "relay_full":
      return new ClawlinkError(
        "relay_full",
        `the relay is full: messages waiting or unacknowledged and unfinished tasks hold ${r.bytes} bytes, and ${r.size} more would pass its limit of ${room.maxQueuedBytes} bytes (--max-queued-bytes; new tasks and broadcasts stop at ${reserveNote})`,
        "retry later, once recipients have taken and acknowledged their messages; or start the relay with a higher --max-queued-bytes",
        { headers: retry },
      );
    case "sender_full":
      return new ClawlinkError(
        "sender_full",
        `your messages waiting or unacknowledged and your unfinished tasks hold ${r.bytes} bytes, and ${r.size} more would pass the relay's limit of ${room.maxSenderBytes} bytes per sender (--max-sender-bytes)`,
        "retry once your recipients have taken and acknowledged what you sent, and your tasks have finished; or start the relay with a higher --max-sender-bytes",
        { headers: retry },
      );
    case "recipient_full":
      return new ClawlinkError(
        "recipient_full",
        `${r.name}'s messages waiting or unacknowledged hold ${r.bytes} bytes, and ${r.size} more would pass the relay's limit of ${room.maxRecipientBytes} bytes per recipient (--max-recipient-bytes; new tasks and broadcasts stop at ${reserveNote})`,
        `retry later, or send to another agent; ${r.name} must poll or listen to drain it, and what it leaves unread expires after --message-ttl`,
        { headers: retry },
      );
  }
}

export abstract class TaskSending {
  /** An agent seen over HTTP this recently can receive a task now (never one already stale). */
  protected get reachableMs() {
    return Math.min(REACHABLE_MS, this.opts.staleAfterMs);
  }
  /** Whose turn it is among equally loaded agents with a capability. */
  private turns = new Map<string, number>();
  protected forgetting: Forgetting;

  constructor(
    protected store: Store,
    protected bus: Bus,
    protected clock: Clock,
    protected opts: TaskOptions,
  ) {
    this.forgetting = new Forgetting(opts.retention);
  }

  /** A new task, to a named agent or to the least busy one with a capability. */
  send(sender: AgentRecord, msg: SendTask): Promise<Sent> {
    // The bulk (a named agent, no idempotency key) goes to the store at once, without a turn through an async step.
    if (msg.to !== undefined && msg.cap === undefined && !msg.idempotency_key) return this.create(sender, msg, msg.to);
    return this.sendChecked(sender, msg);
  }

  private async sendChecked(sender: AgentRecord, msg: SendTask): Promise<Sent> {
    if (msg.idempotency_key) {
      const first = await this.store.getTaskByKey(sender.id, msg.idempotency_key);
      if (first) return { id: first.id, to: first.to, duplicate: true };
    }
    if ((msg.to === undefined) === (msg.cap === undefined)) {
      throw badRequest("a task needs exactly one of `to` (an agent id or name) and `cap` (a capability)", "pass --to NAME or --cap CAPABILITY");
    }
    const to = msg.to ?? (await this.pickByCap(sender, msg.cap!, msg.queue))?.id ?? null;
    return this.create(sender, msg, to);
  }

  private create(sender: AgentRecord, msg: SendTask, to: string | null): Promise<Sent> {
    const made = this.store.createTask(
      {
        id: newSortableId("t"),
        from: sender.id,
        to,
        cap: msg.cap ?? null,
        task: msg.task,
        context: msg.context,
        priority: msg.priority,
        leaseS: msg.lease_s,
        ttlS: msg.ttl_s ?? null,
        createdAt: this.clock(),
        idempotencyKey: msg.idempotency_key ?? null,
      },
      this.opts.room,
    );
    return made.then((r) => {
      if (!r.ok) throw r.refused === "unknown_agent" ? unknownAgent(to!) : noRoom(r, this.opts.room);
      announce(this.bus, r.effects);
      return r.duplicate ? { id: r.task.id, to: r.task.to, duplicate: true } : { id: r.task.id, to: r.task.to };
    });
  }

  /** The least busy agent with `cap` that can receive now (listening, or seen in the last 30 s); its sender only when no other can. */
  private async pickByCap(sender: AgentRecord, cap: string, queue: boolean): Promise<AgentRecord | undefined> {
    const now = this.clock();
    const able = (await this.store.listAgents()).filter((a) => a.caps.includes(cap) && canReceive(a, now, this.reachableMs)).sort((a, b) => (a.id < b.id ? -1 : 1));
    const others = able.filter((a) => a.id !== sender.id);
    const candidates = others.length > 0 ? others : able;
    if (candidates.length === 0) {
      if (queue) return undefined;
      throw notFound(
        "no_capable_agent",
        `no agent with the capability "${cap}" can receive a task now (one must be listening, or seen in the last ${Math.round(this.reachableMs / 1000)}s)`,
        "run `clawlink discover --all` to see capabilities and statuses, or pass --queue to hold the task until such an agent registers",
      );
    }
    const held = await this.store.countHeld(candidates.map((a) => a.id));
    const least = Math.min(...held);
    const ties = candidates.filter((_, i) => held[i] === least);
    const turn = this.turns.get(cap) ?? 0;
    this.turns.set(cap, turn + 1);
    return ties[turn % ties.length];
  }

  /** A new or returning agent picks up the tasks that waited for one of its capabilities. */
  async assignWaiting(agentId: string) {
    const { effects } = await this.store.assignWaiting(agentId, this.clock());
    announce(this.bus, effects);
  }
}
