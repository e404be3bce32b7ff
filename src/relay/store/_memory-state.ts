/**
 * The memory store's state and its message bookkeeping, which every operation shares: the records, each
 * agent's inbox, the byte budgets' counts, and queueing a message within them. The operations are in
 * `_memory-tasks.ts`, `_memory-messages.ts` and `memory.ts`, each layer extending the one before; nothing
 * in any of them awaits, which is what makes each operation atomic.
 */
import { AGENT_ID_RE, type Message } from "../../protocol/schemas";
import { FileBook, type FileJournal } from "./_files";
import { Inbox, type Slot } from "./_inbox";
import { TaskBook } from "./_tasks";
import { NO_EFFECTS, type AgentRecord, type Effects, type NewEntry, type QueuedMessage, type Refusal, type Room } from "./port";
import { aboutOf, coalesces, messageBytes, RELAY, shareOf } from "./rules";

const NONE: readonly string[] = Object.freeze([]);
const NO_MESSAGES: readonly QueuedMessage[] = Object.freeze([]);

/** What a durable store keeps of this process's live state while it reads its records again. */
export interface Live {
  agents: Map<string, Pick<AgentRecord, "conns" | "lastSeen">>;
  flights: { to: string; id: string; conn: string; until: number }[];
}

/** Collects what an operation changed, for its Effects. */
export class Changes {
  private q: string[] | undefined;
  private m: QueuedMessage[] | undefined;
  private t: string[] | undefined;
  /** Messages that were out went back to the agent's queue. */
  queued(agent: string) {
    if (this.q?.[this.q.length - 1] !== agent) (this.q ??= []).push(agent);
  }
  message(to: string, msg: Message, priority: QueuedMessage["priority"]) {
    (this.m ??= []).push({ to, msg, priority });
  }
  task(id: string) {
    (this.t ??= []).push(id);
  }
  get effects(): Effects {
    return this.q || this.m || this.t ? { queued: this.q ?? NONE, messages: this.m ?? NO_MESSAGES, tasks: this.t ?? NONE } : NO_EFFECTS;
  }
}

export abstract class MemoryState {
  protected agents!: Map<string, AgentRecord>;
  protected names!: Map<string, string>;
  protected inboxes!: Map<string, Inbox>;
  /** Agents with something in flight: the lease sweep visits only them. */
  protected flyingAgents!: Set<string>;
  protected tasks!: TaskBook;
  /**
   * What each kept task weighs (kept with it in `tasks`): an unfinished one its message (counted toward the
   * relay-wide budget and its sender's from creation until it finishes; its copy in a queue counts only toward
   * its recipient's), a finished one also its result (counted toward `finishedTotal` until it is forgotten).
   */
  protected finishedTotal!: number;
  /** The next message sequence number: queues serve equal priorities in this order. */
  protected seq!: number;
  protected queuedBytes!: number;
  private senderBytes!: Map<string, number>;
  protected files!: FileBook;
  /** Messages numbered up to this are durable, and only they are handed out (all of them in memory). */
  protected committedSeq = Infinity;

  constructor() {
    this.reset();
  }

  /** Forgets every record (a durable store then reads them back from disk). */
  protected reset() {
    this.agents = new Map();
    this.names = new Map();
    this.inboxes = new Map();
    this.flyingAgents = new Set();
    this.tasks = new TaskBook();
    this.finishedTotal = 0;
    this.seq = 0;
    this.queuedBytes = 0;
    this.senderBytes = new Map();
    this.files = new FileBook(this.fileJournal(), (id) => this.agents.has(id));
  }

  // Where a durable store writes down what changed; nothing to do in memory.
  protected agentChanged(_id: string, _keep: boolean) {}
  protected taskCreated(_id: string) {}
  /** A new task's message was queued; `text` is its JSON, made to weigh it. */
  protected taskQueued(_msg: Message, _text: string) {}
  protected taskChanged(_id: string) {}
  protected slotChanged(_slot: Slot) {}
  protected fileJournal(): FileJournal {
    const none = () => {};
    return { head: none, version: none, dropped: none, lock: none };
  }

  /** A value shaped like an id resolves by id only, anything else by name only: a name never stands for another agent's id. */
  protected resolve(idOrName: string): AgentRecord | undefined {
    return AGENT_ID_RE.test(idOrName) ? this.agents.get(idOrName) : this.agents.get(this.names.get(idOrName) ?? "");
  }

  /**
   * Queues one message, within `room` when given; null when its recipient is not registered. An unread
   * message it coalesces with is replaced, and gives back its place and (if from the same sender) its bytes.
   */
  protected queue(entry: NewEntry, room: Room | null, fx: Changes, size?: number): Slot | Refusal | null {
    const agent = this.agents.get(entry.to);
    if (!agent) return null;
    let inbox = this.inboxes.get(entry.to);
    const msg = entry.msg;
    const bytes = size ?? messageBytes(msg);
    // Indexed only when it names a task: a reply to a broadcast needs no index (and many may name one).
    const named = aboutOf(msg);
    const about = named !== null && (msg.type !== "response" || this.tasks.get(named) !== undefined) ? named : null;
    const merges = coalesces(msg);
    if (room) {
      const replaced = merges && inbox ? inbox.unread(about!, msg.type) : undefined;
      const refusal = this.roomFor(agent.name, inbox, msg, bytes, replaced, room);
      if (refusal) return refusal;
    }
    if (!inbox) this.inboxes.set(entry.to, (inbox = new Inbox()));
    inbox.bytes += bytes;
    const slot: Slot = { seq: this.seq++, to: entry.to, priority: entry.priority, msg, bytes, about, coalesces: merges, where: "queued", until: 0, conn: null };
    const replaced = inbox.add(slot);
    if (replaced) this.settle(replaced);
    // A task's own message is weighed by its record (createTask), for as long as the task is unfinished.
    if (msg.type !== "task") this.count(msg.from, bytes);
    this.slotChanged(slot);
    fx.message(entry.to, msg, entry.priority);
    return slot;
  }

  /**
   * Why `msg` (`bytes`) does not fit `agent`'s queue or the byte budgets, or null when it does. A new
   * task or broadcast fits only short of the share kept for replies (rules.ts, REPLY_RESERVE).
   */
  protected roomFor(name: string, inbox: Inbox | undefined, msg: Message, bytes: number, replaced: Slot | undefined, room: Room): Refusal | null {
    if (!replaced && room.maxQueue !== undefined) {
      const waiting = (inbox?.size ?? 0) + (inbox?.flying.size ?? 0);
      if (waiting >= room.maxQueue) return { ok: false, refused: "queue_full", waiting, name };
    }
    const from = msg.from;
    const held = inbox?.bytes ?? 0;
    if (room.maxRecipientBytes !== undefined && bytes > (replaced?.bytes ?? 0) && held - (replaced?.bytes ?? 0) + bytes > shareOf(msg, room.maxRecipientBytes)) {
      return { ok: false, refused: "recipient_full", bytes: held, size: bytes, name };
    }
    const grow = bytes - (replaced && replaced.msg.from === from ? replaced.bytes : 0);
    if (grow <= 0) return null;
    if (room.maxQueuedBytes !== undefined && this.queuedBytes + grow > shareOf(msg, room.maxQueuedBytes)) return { ok: false, refused: "relay_full", bytes: this.queuedBytes, size: bytes };
    const mine = this.senderBytes.get(from) ?? 0;
    // What the relay itself says counts toward the relay-wide budget only.
    if (from !== RELAY && room.maxSenderBytes !== undefined && mine + grow > room.maxSenderBytes) return { ok: false, refused: "sender_full", bytes: mine, size: bytes };
    return null;
  }

  protected count(from: string, bytes: number) {
    this.queuedBytes += bytes;
    const left = (this.senderBytes.get(from) ?? 0) + bytes;
    if (left > 0) this.senderBytes.set(from, left);
    else this.senderBytes.delete(from);
  }

  /** A slot leaves for good (settled, dropped or replaced): its bytes stop counting. */
  protected settle(slot: Slot) {
    const inbox = this.inboxes.get(slot.to);
    if (inbox) inbox.bytes -= slot.bytes;
    if (slot.msg.type !== "task") this.count(slot.msg.from, -slot.bytes);
    this.slotChanged(slot);
  }

  protected requeueSlots(agentId: string, inbox: Inbox, ids: readonly string[], fx: Changes) {
    let any = false;
    // Newest first, so each goes back just before the ones after it (the cheap end of a lane).
    const order = ids.length > 1 ? [...ids].sort((x, y) => (inbox.flying.get(y)?.seq ?? 0) - (inbox.flying.get(x)?.seq ?? 0)) : ids;
    for (const id of order) {
      const r = inbox.requeue(id);
      if (!r) continue;
      if (r.fresh) {
        this.slotChanged(r.fresh);
        any = true;
      } else this.settle(r.old);
    }
    if (inbox.flying.size === 0) this.flyingAgents.delete(agentId);
    if (any) fx.queued(agentId);
  }
}
