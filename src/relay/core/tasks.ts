/**
 * The task lifecycle: queued → delivered → working → completed | failed, or canceled / expired;
 * routing by capability, replies, and the ttl and retention sweeps. Each change is one store
 * operation (a compare-and-set on the task's state); the bus hears what it changed.
 */
import { ClawlinkError, badRequest, conflict, forbidden, notFound } from "../../errors";
import { LIMIT } from "../../protocol/constants";
import { type Message, type SendMessage, type Sent, type Task, type TaskState } from "../../protocol/schemas";
import type { Bus } from "../bus/port";
import { iso, type Clock } from "../clock";
import { newSortableId } from "../ids";
import { formatDuration } from "../../duration";
import type { AgentRecord, FinishedKept, NewEntry, QueuedOne, Refusal, Room, Store, TaskChanged, TaskRecord } from "../store/port";
import { REPLY_RESERVE } from "../store/rules";
import { Forgetting, type RetentionOptions } from "./retention";
import { Cursors } from "./cursor";
import { announce } from "./announce";
import { unknownAgent } from "./registry";
import { canReceive, isFinal, receivedBy } from "../store/rules";
import { holderView, REACHABLE_MS, responseMessage, taskView } from "./views";

type SendTask = Extract<SendMessage, { type: "task" }>;
type SendResponse = Extract<SendMessage, { type: "response" }>;

/** What became of one message of a batch. */
export type Outcome = { readonly ok: true; readonly sent: Sent } | { readonly ok: false; readonly error: unknown };

function unknownAgentError(idOrName: string): ClawlinkError {
  return notFound("unknown_agent", `no agent is registered as "${idOrName}"`, "run `clawlink discover --all` to see the registered agents' ids and names");
}

function replyMessage(sender: AgentRecord, to: AgentRecord, msg: SendResponse, createdAt: string): Message {
  return { type: "response", id: newSortableId("m"), from: sender.id, to: to.id, created_at: createdAt, in_reply_to: msg.in_reply_to, status: msg.status, result: msg.result };
}

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

export interface TaskFilter {
  state?: TaskState;
  role?: "sent" | "held";
}

export interface TaskPage {
  tasks: Task[];
  next_cursor: string | null;
}

/** How often, at most, queues are looked through for what waited unread past --message-ttl. */
const UNREAD_SWEEP_MS = 5_000;

const UNFINISHED: readonly TaskState[] = ["queued", "delivered", "working"];
/** How often the holders of unfinished tasks are checked for having gone offline. */
const RECLAIM_SWEEP_MS = 1000;
/** What its holder may answer: a task queued again for it (it went offline meanwhile) was handed to it before, and its work counts. */
const ANSWERABLE: readonly TaskState[] = ["queued", "delivered", "working"];

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

/** Only the holder may answer or report on a task, only while it holds it, and only once it was handed to it. */
function checkHolder(task: TaskRecord, sender: AgentRecord, verb: string) {
  if (task.to !== sender.id) throw takenFrom(task, sender, verb) ?? forbidden(`only the agent holding task ${task.id} can ${verb} it`, "`clawlink tasks --held` lists the tasks you hold");
  if (isFinal(task.state)) throw conflict("task_finished", `task ${task.id} is already ${task.state}`, "nothing more can be sent about it");
  if (receivedBy(task) !== sender.id) throw conflict("task_not_delivered", `task ${task.id} has not been delivered to you yet`, "poll or listen to receive it first");
}

/** The refusal for an agent a task was taken from when it went offline (its history says so, or it was the last handed the task). */
function takenFrom(task: TaskRecord, sender: AgentRecord, verb: string): ClawlinkError | undefined {
  // The note's prefix is part of the protocol (docs/protocol.md, Holders that go offline).
  const entry = task.history.findLast((h) => h.note.startsWith(`holder ${sender.name} went offline; `));
  if (!entry && receivedBy(task) !== sender.id) return undefined;
  return conflict(
    "task_reassigned",
    `task ${task.id} was reassigned (${entry?.note ?? "its holder went offline"}), so ${sender.name} can no longer ${verb} it`,
    "nothing you send about it is kept: its sender gets the answer of the agent holding it now; `clawlink tasks --held` lists the tasks you hold",
  );
}

/** A response whose id names no task and no recipient: most often a mistyped task id, less often a reply without `--to`. */
const NOT_A_TASK_HINT = "answer a task id from your own `clawlink poll` or `listen` (`clawlink tasks --held` lists the tasks you hold); to reply to a broadcast or another message, also pass --to AGENT";

export class Tasks {
  /** An agent seen over HTTP this recently can receive a task now (never one already stale). */
  private get reachableMs() {
    return Math.min(REACHABLE_MS, this.opts.staleAfterMs);
  }
  private nextReclaim = 0;
  /** Whose turn it is among equally loaded agents with a capability. */
  private turns = new Map<string, number>();
  private forgetting: Forgetting;
  private nextUnreadSweep = 0;
  readonly cursors = new Cursors();

  constructor(
    private store: Store,
    private bus: Bus,
    private clock: Clock,
    private opts: TaskOptions,
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

  /** The holder answers: the task ends completed or failed, and the sender gets the response. A reply to any other message goes to `to`. */
  respond(sender: AgentRecord, msg: SendResponse): Promise<Sent> {
    // Ids name their kind: only a `t_` id can be a task's, so a plain reply need not look for one.
    return msg.in_reply_to.startsWith("t_") ? this.answer(sender, msg) : this.reply(sender, msg);
  }

  /**
   * The holder's answer in one store step: the task is not read first, the store addresses the response
   * to its sender, and a refusal says why with the task as it is. An answer naming its recipient (`to`)
   * has it checked against the task first.
   */
  private async answer(sender: AgentRecord, msg: SendResponse): Promise<Sent> {
    if (msg.to !== undefined) return this.answerNamed(sender, msg);
    const id = newSortableId("m");
    const now = this.clock();
    const r = await this.store.transitionTask(msg.in_reply_to, ANSWERABLE, {
      ...this.answered(sender, msg, id, now),
      handedOut: true,
      reply: { type: "response", id, from: sender.id, to: "", created_at: iso(now), in_reply_to: msg.in_reply_to, status: msg.status, result: msg.result },
    });
    // Not a task's id: a plain reply, which without a recipient says what became of the task.
    if (!r.ok && r.refused === "unknown_task") return this.reply(sender, msg);
    this.settled(r, sender, "respond to");
    await this.forgetPastCount(r.finished);
    return { id, to: r.task.from };
  }

  private async answerNamed(sender: AgentRecord, msg: SendResponse): Promise<Sent> {
    const task = await this.store.getTask(msg.in_reply_to);
    if (!task) return this.reply(sender, msg);
    checkHolder(task, sender, "respond to");
    if (msg.to !== undefined && msg.to !== task.from && (await this.store.getAgentByName(msg.to))?.id !== task.from) {
      throw badRequest(`task ${task.id} came from ${task.from}, not ${msg.to}`, "leave out --to; the response goes to whoever sent the task");
    }
    const id = newSortableId("m");
    const now = this.clock();
    const r = await this.store.transitionTask(task.id, ANSWERABLE, {
      ...this.answered(sender, msg, id, now),
      handedOut: true,
      messages: [{ to: task.from, priority: task.priority, msg: responseMessage(task, id, msg.status, msg.result, now) }],
    });
    this.settled(r, sender, "respond to");
    await this.forgetPastCount(r.finished);
    return { id, to: task.from };
  }

  /** What an answer changes on its task, whichever way its response is addressed. */
  private answered(sender: AgentRecord, msg: SendResponse, responseId: string, at: number) {
    return {
      state: msg.status,
      note: msg.status === "failed" ? "the assignee reported failure" : "",
      at,
      holder: sender.id,
      result: msg.result,
      responseId,
      withdraw: true,
      room: this.opts.room,
    } as const;
  }

  /** A reply to a broadcast or any other message: a plain response to a named agent. */
  private async reply(sender: AgentRecord, msg: SendResponse): Promise<Sent> {
    if (msg.to === undefined) throw this.forgetting.missing(sender.id, msg.in_reply_to, NOT_A_TASK_HINT);
    const to = (await this.store.findAgent(msg.to)) ?? unknownAgent(msg.to);
    const message = replyMessage(sender, to, msg, iso(this.clock()));
    const r = await this.store.enqueueIfRoom({ to: to.id, priority: "normal", msg: message }, this.opts.room);
    if (!r.ok) throw this.refusedReply(r, msg);
    announce(this.bus, r.effects);
    return { id: message.id, to: to.id };
  }

  /** Whether `msg` is a plain reply, which `replyMany` can queue with others. */
  static isPlainReply(msg: SendMessage): msg is SendResponse {
    return msg.type === "response" && !msg.in_reply_to.startsWith("t_");
  }

  /** The recipients plain replies name, looked up once each; for `replyMany`. */
  async recipients(msgs: readonly SendMessage[]): Promise<Map<string, AgentRecord | undefined>> {
    const found = new Map<string, AgentRecord | undefined>();
    for (const msg of msgs) {
      if (Tasks.isPlainReply(msg) && msg.to !== undefined && !found.has(msg.to)) found.set(msg.to, await this.store.findAgent(msg.to));
    }
    return found;
  }

  /**
   * Plain replies of one sender (see isPlainReply) to the recipients `found` looked up, queued in one
   * store step, which starts before this returns (so calls keep their order); each outcome is what
   * `respond` would give the message alone.
   */
  async replyMany(sender: AgentRecord, msgs: readonly SendResponse[], found: ReadonlyMap<string, AgentRecord | undefined>): Promise<Outcome[]> {
    const out: Outcome[] = new Array(msgs.length);
    const entries: NewEntry[] = [];
    const at: number[] = [];
    const now = iso(this.clock());
    for (let i = 0; i < msgs.length; i++) {
      const msg = msgs[i]!;
      if (msg.to === undefined) {
        out[i] = { ok: false, error: this.forgetting.missing(sender.id, msg.in_reply_to, NOT_A_TASK_HINT) };
        continue;
      }
      const to = found.get(msg.to);
      if (!to) {
        out[i] = { ok: false, error: unknownAgentError(msg.to) };
        continue;
      }
      entries.push({ to: to.id, priority: "normal", msg: replyMessage(sender, to, msg, now) });
      at.push(i);
    }
    const { results, effects } = await this.store.enqueueMany(entries, this.opts.room);
    announce(this.bus, effects);
    for (let k = 0; k < at.length; k++) {
      const r = results[k]!;
      const i = at[k]!;
      out[i] = r.ok ? { ok: true, sent: { id: r.id, to: entries[k]!.to } } : { ok: false, error: this.refusedReply(r, msgs[i]!) };
    }
    return out;
  }

  private refusedReply(r: Exclude<QueuedOne, { ok: true }>, msg: SendResponse): ClawlinkError {
    return r.refused === "unknown_agent" ? unknownAgentError(msg.to!) : noRoom(r, this.opts.room);
  }

  /** The holder reports progress: the task is working, its lease is settled, and the sender hears of it. */
  async progress(sender: AgentRecord, taskId: string, note: string): Promise<Sent> {
    const task = await this.store.getTask(taskId);
    if (!task) throw this.forgetting.missing(sender.id, taskId, "run `clawlink tasks --held` to see the tasks you hold");
    checkHolder(task, sender, "report progress on");
    const id = newSortableId("m");
    const now = this.clock();
    const r = await this.store.transitionTask(task.id, ANSWERABLE, {
      state: task.state === "working" ? undefined : "working",
      note,
      progress: note,
      at: now,
      holder: sender.id,
      handedOut: true,
      withdraw: true,
      messages: [{ to: task.from, priority: task.priority, msg: { type: "progress", id, from: sender.id, to: task.from, created_at: iso(now), in_reply_to: task.id, note } }],
      room: this.opts.room,
    });
    this.settled(r, sender, "report progress on");
    return { id, to: task.from };
  }

  /** Tells the bus what a change by the holder did, or throws the error that explains its refusal. */
  private settled(r: TaskChanged, sender: AgentRecord, verb: string): asserts r is Extract<TaskChanged, { ok: true }> {
    if (r.ok) return announce(this.bus, r.effects);
    if (r.refused === "unknown_task") throw notFound("unknown_task", "the task is gone", "run `clawlink tasks` to see the tasks you hold");
    if (r.refused === "no_room") throw noRoom(r.room, this.opts.room);
    checkHolder(r.task, sender, verb);
    // checkHolder explains every refusal of the holder or the state; this only if the store and it disagreed.
    throw conflict("task_finished", `task ${r.task.id} is already ${r.task.state}`, "nothing more can be sent about it");
  }

  async cancel(agent: AgentRecord, taskId: string, note = ""): Promise<Task> {
    const task = await this.require(agent, taskId);
    if (task.from !== agent.id) throw forbidden(`only the agent that sent task ${task.id} can cancel it`, "ask its sender to cancel it, or respond with --status failed");
    return this.callOff(task, note || "canceled by its sender");
  }

  /** The relay's operator cancels a task, whoever sent it (from the dashboard). */
  async cancelAny(taskId: string, note: string): Promise<Task> {
    const task = await this.store.getTask(taskId);
    if (!task) throw notFound("unknown_task", `no task has the id ${taskId}`, "it may have been removed; reload the task list");
    return this.callOff(task, note);
  }

  private async callOff(task: TaskRecord, note: string): Promise<Task> {
    const r = await this.store.transitionTask(task.id, UNFINISHED, { state: "canceled", note, at: this.clock(), withdraw: true, room: this.opts.room });
    if (!r.ok) throw conflict("task_finished", `task ${task.id} is already ${"task" in r ? r.task.state : "gone"}`, "there is nothing to cancel");
    announce(this.bus, r.effects);
    await this.forgetPastCount(r.finished);
    return taskView(r.task);
  }

  async get(agent: AgentRecord, taskId: string): Promise<Task> {
    const task = await this.require(agent, taskId);
    return taskView(task, await this.holder(task));
  }

  /** Who holds the task, reachable or not, and since when; null while it waits for a capable agent. */
  async holder(task: TaskRecord) {
    const rec = task.to === null ? undefined : await this.store.getAgent(task.to);
    return rec ? holderView(rec, this.clock(), this.opts.staleAfterMs) : null;
  }

  /** The task, if `agent` sent or holds it. */
  async require(agent: AgentRecord, taskId: string): Promise<TaskRecord> {
    const task = await this.store.getTask(taskId);
    if (!task) throw this.forgetting.missing(agent.id, taskId);
    if (task.from !== agent.id && task.to !== agent.id) throw forbidden(`task ${taskId} is neither sent nor held by you`, "an agent can see only its own tasks");
    return task;
  }

  /** Every task the agent sent or holds that passes the filter, oldest first. */
  async list(agent: AgentRecord, filter: TaskFilter = {}): Promise<Task[]> {
    return (await this.store.listTasks(agent.id, filter)).map((t) => taskView(t));
  }

  /** One page of them: at most `limit`, cut short past LIMIT.taskPageBytes (never empty while any are left), after a cursor this relay signed. */
  async page(agent: AgentRecord, filter: TaskFilter, page: { limit: number; cursor?: string }): Promise<TaskPage> {
    const after = page.cursor === undefined ? undefined : this.cursors.read(agent.id, filter, page.cursor);
    const picked = await this.store.listTasks(agent.id, { ...filter, after, limit: page.limit + 1 });
    const tasks: Task[] = [];
    let bytes = 0;
    for (const t of picked) {
      if (tasks.length === page.limit) break;
      const view = taskView(t);
      bytes += Buffer.byteLength(JSON.stringify(view));
      if (tasks.length > 0 && bytes > LIMIT.taskPageBytes) break;
      tasks.push(view);
    }
    const more = picked.length > tasks.length;
    return { tasks, next_cursor: more ? this.cursors.sign(agent.id, filter, tasks[tasks.length - 1]!.id) : null };
  }

  /** Tasks still queued past their ttl expire; so does what waited unread past --message-ttl; finished ones past their retention are forgotten; those of holders gone offline are taken back. */
  async sweep(now: number) {
    // Holders are looked at once a second: a grace counts in seconds, and the sweep visits every agent holding a task.
    if (now >= this.nextReclaim) {
      this.nextReclaim = now + RECLAIM_SWEEP_MS;
      const reclaimed = await this.store.reclaimTasks(now, 10_000, { graceMs: this.opts.holderGraceMs, reachableMs: this.reachableMs, room: this.opts.room });
      announce(this.bus, reclaimed.effects);
    }
    const { effects } = await this.store.expireTasks(now, 10_000, this.opts.room);
    announce(this.bus, effects);
    if (now >= this.nextUnreadSweep) {
      this.nextUnreadSweep = now + Math.min(UNREAD_SWEEP_MS, this.opts.messageTtlMs / 4);
      const ttl = this.opts.messageTtlMs;
      const r = await this.store.expireUnread(now - ttl, 10_000, now, `not taken within the relay's --message-ttl of ${formatDuration(ttl)}`, this.opts.room);
      announce(this.bus, r.effects);
    }
    const { retentionMs, maxFinished, maxFinishedBytes } = this.opts.retention;
    this.forgot(await this.store.pruneTasks(now - retentionMs, maxFinished, maxFinishedBytes));
  }

  /** Past the count or the bytes, the oldest finished task gives way as soon as another finishes (the change says what is kept). */
  private async forgetPastCount(kept: FinishedKept) {
    const { maxFinished, maxFinishedBytes } = this.opts.retention;
    if (kept.count <= maxFinished && kept.bytes <= maxFinishedBytes) return;
    this.forgot(await this.store.pruneTasks(-Infinity, maxFinished, maxFinishedBytes));
  }

  private forgot(tasks: readonly TaskRecord[]) {
    this.forgetting.forgot(tasks);
    for (const t of tasks) this.bus.publish({ type: "task", id: t.id });
  }
}
