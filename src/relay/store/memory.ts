/**
 * The memory store: the Store port over plain maps. Every operation runs to its end before it
 * returns (nothing in it awaits), which is what makes it atomic; its promise is already settled.
 * The durable store (sqlite.ts) is this store plus a journal of the rows each operation changed.
 */
import { AGENT_ID_RE, type Message, type TaskState } from "../../protocol/schemas";
import { safeEqual } from "../ids";
import { FileBook, metaOf, type FileJournal } from "./_files";
import { Counters } from "./_limits";
import { Inbox, type Slot } from "./_inbox";
import { TaskBook, type Kept } from "./_tasks";
import {
  NO_EFFECTS,
  type AgentRecord,
  type ClaimedName,
  type ClaimOptions,
  type Created,
  type Effects,
  type Enqueued,
  type FileRules,
  type LivenessRules,
  type NameRules,
  type NewAgent,
  type NewEntry,
  type NewTask,
  type QueuedMessage,
  type QueuedOne,
  type NewFileVersion,
  type Reclaimed,
  type Refusal,
  type Room,
  type Store,
  type TaskChange,
  type TaskChanged,
  type TaskQuery,
  type TaskRecord,
} from "./port";
import { aboutOf, applyChange, canReceive, coalesces, finishedBytes, frozen, frozenTask, isFinal, lost, messageBytes, messageText, notes, notices, queuedHistory, receivedBy, RELAY, shareOf, taskMessage } from "./rules";

const EMPTY_CLAIM = Object.freeze({ messages: Object.freeze([]) as readonly Message[], effects: NO_EFFECTS });
const UNKNOWN_AGENT = Object.freeze({ ok: false, refused: "unknown_agent" } as const);
const DELIVERABLE: readonly TaskState[] = ["queued", "delivered", "working"];

const NONE: readonly string[] = Object.freeze([]);
const NO_MESSAGES: readonly QueuedMessage[] = Object.freeze([]);

/** What a durable store keeps of this process's live state while it reads its records again. */
export interface Live {
  agents: Map<string, Pick<AgentRecord, "conns" | "lastSeen">>;
  flights: { to: string; id: string; conn: string; until: number }[];
}

/** Collects what an operation changed, for its Effects. */
class Changes {
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

export class MemoryStore implements Store {
  protected agents!: Map<string, AgentRecord>;
  private names!: Map<string, string>;
  protected inboxes!: Map<string, Inbox>;
  /** Agents with something in flight: the lease sweep visits only them. */
  private flyingAgents!: Set<string>;
  protected tasks!: TaskBook;
  /**
   * What each kept task weighs (kept with it in `tasks`): an unfinished one its message (counted toward the
   * relay-wide budget and its sender's from creation until it finishes; its copy in a queue counts only toward
   * its recipient's), a finished one also its result (counted toward `finishedTotal` until it is forgotten).
   */
  private finishedTotal!: number;
  /** The next message sequence number: queues serve equal priorities in this order. */
  protected seq!: number;
  private queuedBytes!: number;
  private senderBytes!: Map<string, number>;
  protected files!: FileBook;
  private relayKeyValue: Uint8Array | undefined;
  /** Limits' counters: live state of this process, which a durable store neither writes nor reads back. */
  private counters = new Counters();
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

  // ---------------------------------------------------------------- agents

  async getAgent(id: string) {
    return this.agents.get(id);
  }
  async getAgentByName(name: string) {
    const id = this.names.get(name);
    return id === undefined ? undefined : this.agents.get(id);
  }
  async findAgent(idOrName: string) {
    return this.resolve(idOrName);
  }

  /** A value shaped like an id resolves by id only, anything else by name only: a name never stands for another agent's id. */
  private resolve(idOrName: string): AgentRecord | undefined {
    return AGENT_ID_RE.test(idOrName) ? this.agents.get(idOrName) : this.agents.get(this.names.get(idOrName) ?? "");
  }
  async listAgents() {
    return [...this.agents.values()];
  }
  async countAgents() {
    return this.agents.size;
  }

  async claimName(agent: NewAgent, now: number, rules: NameRules): Promise<ClaimedName> {
    const known = this.agents.get(agent.id);
    if (known && !safeEqual(known.secretHash, agent.secretHash)) return { ok: false, refused: "wrong_secret" };
    if (!known && !rules.allowNew) return { ok: false, refused: "unknown_id" };
    const holderId = this.names.get(agent.name);
    const holder = holderId !== undefined && holderId !== agent.id ? this.agents.get(holderId) : undefined;
    const reclaimed = holder !== undefined && rules.reclaim !== undefined && (holder.claimSince ?? -Infinity) < rules.reclaim.since;
    if (holder && !reclaimed) {
      const stale = holder.conns.length === 0 && holder.lastSeen < rules.staleBefore;
      if (!stale || !rules.takeOver) return { ok: false, refused: "name_taken", holder, stale };
    }
    const count = this.agents.size - (holder ? 1 : 0);
    if (!known && count >= rules.maxAgents) return { ok: false, refused: "too_many_agents", count };
    const fx = new Changes();
    if (holder) this.drop(holder.id, now, reclaimed ? rules.reclaim!.note : rules.note, rules.room, fx);
    // A taken-over name keeps the standing its stale holder had; a renamed agent starts without one.
    const claimSince = rules.reclaim?.since ?? (holder ? holder.claimSince : known?.name === agent.name ? known.claimSince : null) ?? null;
    const record: AgentRecord = frozen({
      ...agent,
      claimSince,
      caps: frozen([...agent.caps]),
      registeredAt: known?.registeredAt ?? now,
      lastSeen: now,
      conns: known?.conns ?? frozen([]),
    });
    if (known && known.name !== agent.name && this.names.get(known.name) === known.id) this.names.delete(known.name);
    this.agents.set(agent.id, record);
    this.names.set(agent.name, agent.id);
    this.agentChanged(agent.id, true);
    return { ok: true, agent: record, created: !known, replaced: holder ?? null, reclaimed, effects: fx.effects };
  }

  async touchAgent(id: string, now: number, keep = false) {
    const rec = this.agents.get(id);
    if (!rec) return undefined;
    const next = frozen({ ...rec, lastSeen: Math.max(rec.lastSeen, now) });
    this.agents.set(id, next);
    this.agentChanged(id, keep);
    return next;
  }

  async unregisterAgent(id: string, now: number, note: string, room: Room) {
    const fx = new Changes();
    const agent = this.drop(id, now, note, room, fx);
    return agent ? { agent, effects: fx.effects } : undefined;
  }

  async forgetAgents(staleBefore: number, limit: number, now: number, note: string, room: Room) {
    const out: AgentRecord[] = [];
    const fx = new Changes();
    for (const rec of this.agents.values()) {
      if (out.length >= limit) break;
      if (rec.conns.length > 0 || rec.lastSeen >= staleBefore) continue;
      // Unread broadcasts go with it: they were for whoever listened then.
      const inbox = this.inboxes.get(rec.id);
      if ((inbox && !inbox.idle) || this.tasks.heldBy(rec.id) > 0) continue;
      this.drop(rec.id, now, note, room, fx);
      out.push(rec);
    }
    return { agents: out, effects: fx.effects };
  }

  /** Removes an agent and what waits for it; the unfinished tasks it held fail. */
  private drop(id: string, now: number, note: string, room: Room, fx: Changes): AgentRecord | undefined {
    const agent = this.agents.get(id);
    if (!agent) return undefined;
    this.agents.delete(id);
    if (this.names.get(agent.name) === id) this.names.delete(agent.name);
    const inbox = this.inboxes.get(id);
    if (inbox) {
      for (const s of [...inbox.queued()]) this.settle(inbox.take(s));
      for (const msgId of [...inbox.flying.keys()]) this.settle(inbox.land(msgId)!);
      this.inboxes.delete(id);
      this.flyingAgents.delete(id);
    }
    this.agentChanged(id, true);
    for (const taskId of [...this.tasks.of(id)]) {
      const task = this.tasks.get(taskId)!;
      if (task.to === id && !isFinal(task.state)) this.change(task, { state: "failed", note: `assignee left: ${note}`, at: now }, room, fx);
    }
    this.tasks.forgetHolder(id);
    return agent;
  }

  async attachConnection(agentId: string, conn: string, now?: number) {
    const rec = this.agents.get(agentId);
    if (!rec) return undefined;
    const since = rec.conns.length === 0 && now !== undefined ? { connectedAt: now, disconnectedAt: null, lastSeen: Math.max(rec.lastSeen, now) } : {};
    const agent = frozen({ ...rec, ...since, conns: frozen([...rec.conns, conn]) });
    this.agents.set(agentId, agent);
    this.agentChanged(agentId, false);
    return agent;
  }

  async detachConnection(agentId: string, conn: string, now?: number) {
    const rec = this.agents.get(agentId);
    if (!rec) return NO_EFFECTS;
    const conns = frozen(rec.conns.filter((c) => c !== conn));
    // Seen until its last socket closed; from then on the holder's grace runs.
    const since = conns.length === 0 && rec.conns.length > 0 && now !== undefined ? { connectedAt: null, disconnectedAt: now, lastSeen: Math.max(rec.lastSeen, now) } : {};
    this.agents.set(agentId, frozen({ ...rec, ...since, conns }));
    this.agentChanged(agentId, false);
    const fx = new Changes();
    const inbox = this.inboxes.get(agentId);
    if (inbox) {
      const ids: string[] = [];
      for (const s of inbox.flying.values()) if (s.conn === conn) ids.push(s.msg.id);
      this.requeueSlots(agentId, inbox, ids, fx);
    }
    return fx.effects;
  }

  // ---------------------------------------------------------------- messages

  /**
   * Queues one message, within `room` when given; null when its recipient is not registered. An unread
   * message it coalesces with is replaced, and gives back its place and (if from the same sender) its bytes.
   */
  private queue(entry: NewEntry, room: Room | null, fx: Changes, size?: number): Slot | Refusal | null {
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
  private roomFor(name: string, inbox: Inbox | undefined, msg: Message, bytes: number, replaced: Slot | undefined, room: Room): Refusal | null {
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

  private count(from: string, bytes: number) {
    this.queuedBytes += bytes;
    const left = (this.senderBytes.get(from) ?? 0) + bytes;
    if (left > 0) this.senderBytes.set(from, left);
    else this.senderBytes.delete(from);
  }

  /** A slot leaves for good (settled, dropped or replaced): its bytes stop counting. */
  private settle(slot: Slot) {
    const inbox = this.inboxes.get(slot.to);
    if (inbox) inbox.bytes -= slot.bytes;
    if (slot.msg.type !== "task") this.count(slot.msg.from, -slot.bytes);
    this.slotChanged(slot);
  }

  private requeueSlots(agentId: string, inbox: Inbox, ids: readonly string[], fx: Changes) {
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

  async enqueueIfRoom(entry: NewEntry, room: Room): Promise<Enqueued> {
    const fx = new Changes();
    const slot = this.queue(entry, room, fx);
    if (slot === null) return { ok: false, refused: "unknown_agent" };
    if ("ok" in slot) return slot;
    return { ok: true, id: entry.msg.id, effects: fx.effects };
  }

  async enqueueMany(entries: readonly NewEntry[], room: Room) {
    const fx = new Changes();
    const results: QueuedOne[] = [];
    for (const entry of entries) {
      const slot = this.queue(entry, room, fx);
      results.push(slot === null ? UNKNOWN_AGENT : "ok" in slot ? slot : { ok: true, id: entry.msg.id });
    }
    return { results, effects: fx.effects };
  }

  async broadcast(msg: Message, except: string | null, room: Room) {
    const fx = new Changes();
    let recipients = 0;
    for (const id of this.agents.keys()) {
      if (id === except) continue;
      const slot = this.queue({ to: id, priority: "normal", msg }, room, fx);
      if (slot && !("ok" in slot)) recipients++;
    }
    return { recipients, effects: fx.effects };
  }

  async claimNext(agentId: string, conn: string | null, now: number, opts: ClaimOptions) {
    const inbox = this.inboxes.get(agentId);
    if (!inbox || inbox.size === 0) return EMPTY_CLAIM;
    // A connection that is gone takes nothing: what it took would sit in flight until its lease ran out.
    if (conn !== null && !this.agents.get(agentId)?.conns.includes(conn)) return EMPTY_CLAIM;
    const messages: Message[] = [];
    const fx = new Changes();
    while (messages.length < opts.max) {
      const s = inbox.shift(opts.want, this.committedSeq);
      if (!s) break;
      let until = now + opts.ackWindowMs;
      if (s.msg.type === "task") {
        const task = this.tasks.get(s.msg.id);
        if (!task || !DELIVERABLE.includes(task.state)) {
          this.settle(s);
          continue;
        }
        const attempts = task.attempts + 1;
        this.change(task, { state: "delivered", note: notes.attempt(attempts), at: now }, opts.room, fx, { attempts, handedTo: agentId });
        // A copy after the first says so, so a handler can skip work it already did.
        s.msg = attempts > 1 ? { ...s.msg, attempt: attempts, redelivered: true } : { ...s.msg, attempt: attempts };
        until = now + task.leaseS * 1000;
      }
      inbox.fly(s, until, conn);
      this.slotChanged(s);
      messages.push(s.msg);
    }
    if (inbox.flying.size > 0) this.flyingAgents.add(agentId);
    return { messages, effects: fx.effects };
  }

  async ack(agentId: string, ids: readonly string[]) {
    const inbox = this.inboxes.get(agentId);
    if (!inbox) return 0;
    let n = 0;
    for (const id of ids) {
      const s = inbox.land(id);
      if (!s) continue;
      this.settle(s);
      n++;
    }
    if (inbox.flying.size === 0) this.flyingAgents.delete(agentId);
    return n;
  }

  async clearTaskMessages(agentId: string, taskIds: readonly string[]) {
    const inbox = this.inboxes.get(agentId);
    if (!inbox) return 0;
    let n = 0;
    for (const taskId of taskIds) {
      for (const s of inbox.about(taskId)) {
        const gone = s.where === "queued" ? inbox.take(s) : inbox.land(s.msg.id);
        if (!gone) continue;
        this.settle(gone);
        n++;
      }
    }
    if (inbox.flying.size === 0) this.flyingAgents.delete(agentId);
    return n;
  }

  async requeue(agentId: string, ids: readonly string[]) {
    const inbox = this.inboxes.get(agentId);
    if (!inbox) return NO_EFFECTS;
    const fx = new Changes();
    this.requeueSlots(agentId, inbox, ids, fx);
    return fx.effects;
  }

  async requeueExpired(now: number, limit: number, room: Room) {
    const fx = new Changes();
    let requeued = 0;
    for (const agentId of [...this.flyingAgents]) {
      const inbox = this.inboxes.get(agentId)!;
      const due: string[] = [];
      for (const s of inbox.flying.values()) {
        if (requeued >= limit) break;
        if (s.until > now) continue;
        requeued++;
        if (s.msg.type !== "task") {
          due.push(s.msg.id);
          continue;
        }
        // A task out on a socket that is still attached is being worked on: its lease renews by itself.
        if (s.conn !== null && this.agents.get(agentId)?.conns.includes(s.conn)) {
          const held = this.tasks.get(s.msg.id);
          if (held && !isFinal(held.state)) {
            requeued--;
            s.until = now + held.leaseS * 1000;
            continue;
          }
        }
        // A task goes back only if still merely delivered; past that (working, finished) its copy is dropped.
        const task = this.tasks.get(s.msg.id);
        if (task?.state !== "delivered") {
          this.settle(inbox.land(s.msg.id)!);
          continue;
        }
        this.change(task, { state: "queued", note: notes.leaseRanOut(task.leaseS), at: now }, room, fx);
        due.push(s.msg.id);
      }
      this.requeueSlots(agentId, inbox, due, fx);
      if (requeued >= limit) break;
    }
    return { requeued, effects: fx.effects };
  }

  async countWaiting(agentId: string) {
    return this.inboxes.get(agentId)?.size ?? 0;
  }

  async countInFlight(agentId: string) {
    return this.inboxes.get(agentId)?.flying.size ?? 0;
  }

  // ---------------------------------------------------------------- tasks

  async getTask(id: string) {
    return this.tasks.get(id);
  }

  async getTaskByKey(from: string, idempotencyKey: string) {
    return this.tasks.byKey(from, idempotencyKey);
  }

  async listTasks(agentId: string, query: TaskQuery) {
    return this.tasks.list(agentId, query);
  }

  async countHeld(agentIds: readonly string[]) {
    return agentIds.map((id) => this.tasks.heldBy(id));
  }

  async recentTasks(limit: number) {
    return this.tasks.recent(limit);
  }

  async countTasks() {
    return this.tasks.countByState();
  }

  async createTask(task: NewTask, room: Room): Promise<Created> {
    if (task.idempotencyKey !== null) {
      const first = this.tasks.byKey(task.from, task.idempotencyKey);
      if (first) return { ok: true, task: first, duplicate: true, effects: NO_EFFECTS };
    }
    const to = task.to === null ? undefined : this.resolve(task.to);
    if (task.to !== null && !to) return { ok: false, refused: "unknown_agent" };
    const at = task.createdAt;
    // Every field spelled out: one object of one shape per task, which a spread of `task` would not give.
    const record: TaskRecord = frozenTask({
      id: task.id,
      from: task.from,
      to: to?.id ?? null,
      cap: task.cap,
      task: task.task,
      context: task.context,
      priority: task.priority,
      state: "queued",
      attempts: 0,
      handedTo: null,
      leaseS: task.leaseS,
      ttlS: task.ttlS,
      createdAt: at,
      updatedAt: at,
      history: queuedHistory(at, to ? notes.queuedFor(to.name) : notes.waitingFor(task.cap ?? "")),
      note: null,
      result: null,
      responseId: null,
      idempotencyKey: task.idempotencyKey,
    });
    const fx = new Changes();
    const msg = taskMessage(record);
    const text = messageText(msg);
    const bytes = Buffer.byteLength(text);
    if (to) {
      const slot = this.queue({ to: to.id, priority: record.priority, msg }, room, fx, bytes);
      if (slot && "ok" in slot) return slot;
      this.taskQueued(msg, text);
    } else {
      // Waiting for an agent with its capability, it holds its bytes all the same.
      const refusal = this.roomFor("", undefined, msg, bytes, undefined, { ...room, maxQueue: undefined, maxRecipientBytes: undefined });
      if (refusal) return refusal;
    }
    // No one can be watching a task that did not exist: only its recipient hears of it.
    this.addTask(record, bytes);
    return { ok: true, task: record, duplicate: false, effects: fx.effects };
  }

  /** A task's text and context count toward the budgets, and its sender's, until it finishes. */
  private weigh(entry: Kept, bytes: number) {
    const task = entry.task;
    if (isFinal(task.state)) {
      const kept = finishedBytes(bytes, task);
      entry.weight = kept;
      this.finishedTotal += kept;
      return;
    }
    entry.weight = bytes;
    this.count(task.from, bytes);
  }

  /** A task finished: its bytes stop counting toward its sender, and count toward the finished tasks kept. */
  private finish(task: TaskRecord) {
    const bytes = this.tasks.weightOf(task.id);
    if (bytes === undefined) return;
    this.count(task.from, -bytes);
    const kept = finishedBytes(bytes, task);
    this.tasks.setWeight(task.id, kept);
    this.finishedTotal += kept;
  }

  async assignWaiting(agentId: string, _now: number) {
    const agent = this.agents.get(agentId);
    const tasks: TaskRecord[] = [];
    const fx = new Changes();
    if (!agent || this.tasks.unassigned.size === 0) return { tasks, effects: NO_EFFECTS };
    for (const id of [...this.tasks.unassigned]) {
      const task = this.tasks.get(id)!;
      if (task.state !== "queued" || !task.cap || !agent.caps.includes(task.cap)) continue;
      const next = frozenTask({ ...task, to: agentId });
      this.tasks.update(task, next);
      this.taskChanged(id);
      this.queue({ to: agentId, priority: next.priority, msg: taskMessage(next) }, null, fx);
      fx.task(id);
      tasks.push(next);
    }
    return { tasks, effects: fx.effects };
  }

  async transitionTask(id: string, from: readonly TaskState[], change: TaskChange): Promise<TaskChanged> {
    const task = this.tasks.get(id);
    if (!task) return { ok: false, refused: "unknown_task" };
    if (change.holder !== undefined && task.to !== change.holder) return { ok: false, refused: "not_holder", task };
    if (!from.includes(task.state)) return { ok: false, refused: "state", task };
    if (change.handedOut && receivedBy(task) !== task.to) return { ok: false, refused: "state", task };
    const messages = change.reply ? [...(change.messages ?? []), { to: task.from, priority: task.priority, msg: { ...change.reply, to: task.from } as Message }] : (change.messages ?? []);
    // What goes with the change must fit, or nothing changes.
    for (const m of messages) {
      const agent = this.agents.get(m.to);
      if (!agent) continue;
      const inbox = this.inboxes.get(m.to);
      const replaced = coalesces(m.msg) && inbox ? inbox.unread(aboutOf(m.msg)!, m.msg.type) : undefined;
      const refusal = this.roomFor(agent.name, inbox, m.msg, messageBytes(m.msg), replaced, change.room);
      if (refusal) return { ok: false, refused: "no_room", room: refusal };
    }
    const fx = new Changes();
    if (change.withdraw) this.withdraw(task);
    for (const m of messages) this.queue(m, null, fx);
    const changed = this.change(task, change, change.room, fx);
    return { ok: true, task: changed, effects: fx.effects, finished: { count: this.tasks.finishedCount, bytes: this.finishedTotal } };
  }

  async expireTasks(now: number, limit: number, room: Room) {
    const tasks: TaskRecord[] = [];
    const fx = new Changes();
    for (const id of this.tasks.ttl) {
      if (tasks.length >= limit) break;
      const task = this.tasks.get(id)!;
      if (task.state !== "queued" || now - task.createdAt < task.ttlS! * 1000) continue;
      this.withdraw(task);
      tasks.push(this.change(task, { state: "expired", note: notes.ttl(task.ttlS!), at: now }, room, fx));
    }
    return { tasks, effects: fx.effects };
  }

  async reclaimTasks(now: number, limit: number, rules: LivenessRules) {
    const out: Reclaimed[] = [];
    const fx = new Changes();
    for (const agentId of [...this.tasks.holders()]) {
      if (out.length >= limit) break;
      const holder = this.agents.get(agentId);
      // Tasks queued for an agent by name wait for it however long it is away: only the others are looked at.
      if (!holder || holder.conns.length > 0 || !this.tasks.holdsMovable(agentId)) continue;
      for (const id of [...this.tasks.heldIds(agentId)]) {
        if (out.length >= limit) break;
        const task = this.tasks.get(id)!;
        if (!lost(task, holder, now, rules)) continue;
        const moved = this.reclaim(task, holder, now, rules, fx);
        if (moved) out.push({ task: moved, holder: agentId });
      }
    }
    return { tasks: out, effects: fx.effects };
  }

  /** Takes a task from a holder that is gone: to another capable agent, back to the pool, or queued again for its own agent. */
  private reclaim(task: TaskRecord, holder: AgentRecord, now: number, rules: LivenessRules, fx: Changes): TaskRecord | undefined {
    if (task.cap === null) {
      if (task.state === "queued") return undefined; // already waiting for its agent to come back
      this.withdraw(task);
      const next = this.change(task, { state: "queued", note: notes.holderLost(holder.name, null, null), at: now }, rules.room, fx);
      this.queue({ to: holder.id, priority: next.priority, msg: taskMessage(next) }, null, fx);
      return next;
    }
    const other = this.pickReachable(task.cap, holder.id, task.from, now, rules.reachableMs);
    if (!other && task.state === "queued") return undefined; // nowhere better to wait
    this.withdraw(task);
    const next = this.change(task, { state: "queued", note: notes.holderLost(holder.name, other?.name ?? null, task.cap), at: now }, rules.room, fx, { to: other?.id ?? null });
    if (other) this.queue({ to: other.id, priority: next.priority, msg: taskMessage(next) }, null, fx);
    return next;
  }

  /** The least busy agent with `cap` that can receive now, other than `except`; the sender only if no other can. */
  private pickReachable(cap: string, except: string, sender: string, now: number, reachableMs: number): AgentRecord | undefined {
    let best: AgentRecord | undefined;
    let bestKey = Infinity;
    for (const a of this.agents.values()) {
      if (a.id === except || !a.caps.includes(cap) || !canReceive(a, now, reachableMs)) continue;
      // Held tasks decide; the sender comes after everyone else.
      const key = this.tasks.heldBy(a.id) + (a.id === sender ? 1e9 : 0);
      if (key < bestKey || (key === bestKey && best !== undefined && a.id < best.id)) {
        best = a;
        bestKey = key;
      }
    }
    return best;
  }

  async expireUnread(before: number, limit: number, now: number, note: string, room: Room) {
    const fx = new Changes();
    const tasks: TaskRecord[] = [];
    let dropped = 0;
    const due = (s: Slot) => Date.parse(s.msg.created_at) < before;
    for (const [agentId, inbox] of this.inboxes) {
      if (dropped >= limit) break;
      if (inbox.size === 0) continue;
      for (const s of inbox.oldest(due)) {
        if (dropped >= limit) break;
        dropped++;
        this.settle(inbox.take(s));
        const task = s.msg.type === "task" ? this.tasks.get(s.msg.id) : undefined;
        if (task?.state === "queued") tasks.push(this.change(task, { state: "expired", note, at: now }, room, fx));
      }
      if (inbox.empty) this.inboxes.delete(agentId);
    }
    for (const id of this.tasks.unassigned) {
      if (dropped >= limit) break;
      const task = this.tasks.get(id)!;
      if (task.createdAt >= before) break;
      dropped++;
      this.withdraw(task);
      tasks.push(this.change(task, { state: "expired", note, at: now }, room, fx));
    }
    return { dropped, tasks, effects: fx.effects };
  }

  async pruneTasks(before: number, keep: number, keepBytes = Infinity) {
    const pruned = this.tasks.prune(
      before,
      keep,
      () => this.finishedTotal > keepBytes,
      (_, weight) => {
        this.finishedTotal -= weight ?? 0;
      },
    );
    for (const t of pruned) this.taskChanged(t.id);
    return pruned;
  }

  async heldBytes() {
    return { queued: this.queuedBytes, finished: this.finishedTotal };
  }

  /** Applies a change to a task with its bookkeeping, and queues the status messages it tells where they fit `room` (skipped where not: the record keeps the state). */
  private change(task: TaskRecord, change: Pick<TaskChange, "state" | "note" | "at" | "result" | "responseId" | "progress">, room: Room, fx: Changes, patch?: Partial<TaskRecord>): TaskRecord {
    const next = applyChange(task, change, patch);
    this.tasks.update(task, next);
    this.taskChanged(task.id);
    fx.task(task.id);
    if (!isFinal(task.state) && isFinal(next.state)) this.finish(next);
    if (change.state !== undefined) for (const n of notices(next, change.state, change.note, change.at)) this.queue(n, room, fx);
    return next;
  }

  /** Takes an unfinished task's own message out of its holder's queue or flight. */
  private withdraw(task: TaskRecord) {
    if (!task.to) {
      this.tasks.unassigned.delete(task.id);
      return;
    }
    const inbox = this.inboxes.get(task.to);
    const s = inbox?.land(task.id) ?? inbox?.remove(task.id);
    if (s) this.settle(s);
  }

  /** What lives only in this process and is never written down: connections, last seen, messages out on sockets. */
  protected liveState(): Live {
    const agents = new Map<string, Pick<AgentRecord, "conns" | "lastSeen">>();
    for (const a of this.agents.values()) agents.set(a.id, { conns: a.conns, lastSeen: a.lastSeen });
    const flights: Live["flights"] = [];
    for (const inbox of this.inboxes.values()) for (const s of inbox.flying.values()) if (s.conn !== null) flights.push({ to: s.to, id: s.msg.id, conn: s.conn, until: s.until });
    return { agents, flights };
  }

  /** Puts live state back over records read again from disk: sockets keep what they were handed. */
  protected revive(live: Live) {
    for (const [id, l] of live.agents) {
      const rec = this.agents.get(id);
      if (rec) this.agents.set(id, frozen({ ...rec, conns: l.conns, lastSeen: Math.max(rec.lastSeen, l.lastSeen) }));
    }
    const byAgent = Map.groupBy(live.flights, (f) => f.to);
    for (const [to, flights] of byAgent) {
      const inbox = this.inboxes.get(to);
      if (!inbox) continue;
      const wanted = new Map(flights.map((f) => [f.id, f]));
      for (const s of [...inbox.queued()]) {
        const f = wanted.get(s.msg.id);
        if (f) inbox.fly(inbox.take(s), f.until, f.conn);
      }
      if (inbox.flying.size > 0) this.flyingAgents.add(to);
    }
  }

  // ---------------------------------------------------------------- limits

  async hit(key: string, windowMs: number, max: number, now: number) {
    return this.counters.hit(key, windowMs, max, now);
  }
  async holdConnection(identity: string, conn: string, max: number) {
    return this.counters.holdConnection(identity, conn, max);
  }
  async releaseConnection(identity: string, conn: string) {
    this.counters.releaseConnection(identity, conn);
  }

  describe(): { kind: "memory" | "sqlite" | "redis"; path?: string } {
    return { kind: "memory" };
  }

  async relayKey(fresh: Uint8Array) {
    return (this.relayKeyValue ??= fresh);
  }

  /** Puts back an agent a durable store kept; its connections were on a relay that is gone. */
  protected restoreAgent(agent: AgentRecord) {
    // When its sockets opened and closed was about a relay that is gone: until it connects again, its leases alone speak for it.
    this.agents.set(agent.id, frozen({ ...agent, caps: frozen([...agent.caps]), conns: frozen([]), connectedAt: null, disconnectedAt: null }));
    this.names.set(agent.name, agent.id);
  }

  /** Puts back a message a durable store kept: queued, or in flight from a poll until `until`. */
  protected restoreMessage(seq: number, to: string, priority: Slot["priority"], msg: Message, until: number | null, bytes?: number) {
    if (!this.agents.has(to)) {
      this.seq = Math.max(this.seq, seq + 1);
      return;
    }
    // It keeps the sequence number it was given, and so its place among the others (they come in order).
    this.seq = seq;
    const slot = this.queue({ to, priority, msg }, null, new Changes(), bytes) as Slot;
    if (until === null) return;
    const inbox = this.inboxes.get(to)!;
    inbox.fly(inbox.take(slot), until, null);
    this.flyingAgents.add(to);
  }

  /** Adds a task with its indexes (also when a durable store loads it). */
  protected addTask(task: TaskRecord, bytes?: number) {
    const entry = this.tasks.add(task);
    // A task a durable store read back counts its bytes again.
    if (entry.weight === undefined) this.weigh(entry, bytes ?? messageBytes(taskMessage(task)));
    this.taskCreated(task.id);
  }

  // ---------------------------------------------------------------- files

  async getFileHead(key: string) {
    return this.files.heads.get(key);
  }
  async getFileVersion(key: string, version: number) {
    return this.files.version(key, version);
  }
  async listFileVersions(key: string) {
    return (this.files.versions.get(key) ?? []).map(metaOf);
  }
  async listFiles(prefix: string, now: number) {
    return this.files.list(prefix, now);
  }
  async pinnedBytes(key: string) {
    return this.files.pinnedExcept(key);
  }
  async putFileVersionIf(key: string, expected: number, file: NewFileVersion, rules: FileRules) {
    return this.files.putIf(key, expected, file, rules);
  }
  async deleteFileIf(key: string, actorId: string, actorName: string, now: number) {
    return this.files.deleteIf(key, actorId, actorName, now);
  }
  async getLease(key: string, now: number) {
    return this.files.liveLock(key, now);
  }
  async takeLease(key: string, holderId: string, holderName: string, now: number, until: number) {
    return this.files.take(key, holderId, holderName, now, until);
  }
  async releaseLease(key: string, holderId: string | null, now: number) {
    return this.files.release(key, holderId, now);
  }
  async expireLeases(now: number) {
    return this.files.expire(now);
  }

  async close() {}
}
