/**
 * The task lifecycle: queued → delivered → working → completed | failed, or canceled / expired;
 * routing by capability, ttls, leases running out, and watchers of one task. No I/O: the hub
 * hands it a store, a clock, and a way to queue messages.
 */
import { badRequest, conflict, forbidden, notFound, type ClawlinkError } from "../errors";
import { FINAL_STATES, type Message, type Priority, type ResponseMessage, type SendMessage, type Sent, type Task, type TaskState } from "../protocol/schemas";
import { RELAY_SENDER, sizeOf, type Budgets } from "./budget";
import type { Delivery } from "./delivery";
import type { CoreEvents } from "./events";
import { newSortableId } from "./ids";
import type { Entry } from "./queue";
import { FinishedTasks } from "./retention";
import { CapabilityRouter } from "./router";
import { matching, pageOf, type PageRequest, type TaskFilter, type TaskPage } from "./task-list";
import type { AgentRecord, Store, TaskRecord } from "./store";
import { iso, responseMessage, taskMessage, taskView } from "./views";

/** Pushes task snapshots to a `delegate --wait`. */
export interface TaskWatcher {
  readonly agentId: string;
  push(task: Task, response: ResponseMessage | null): void;
  close(code: number, reason: string): void;
}

/** What the task book needs from the hub around it. */
export interface TaskHost {
  readonly store: Store;
  readonly clock: () => number;
  readonly delivery: Delivery;
  readonly budgets: Budgets;
  enqueue(msg: Message, to: string, priority: Priority, size?: number): void;
  resolveAgent(idOrName: string): AgentRecord;
  /** Throws 429 unless a message of `size` bytes from `from` fits `to`'s queue and the byte budgets (`replacing` makes room). */
  admit(to: AgentRecord, from: string, size: number, replacing?: Entry): void;
  /** The same question, answered instead of thrown, for messages that are skipped when they do not fit. */
  fits(to: string, from: string, size: number, replacing?: Entry): boolean;
  isOnline(rec: AgentRecord, now: number): boolean;
  /** How long finished tasks are kept, and how many at most. */
  retentionMs: number;
  maxFinished: number;
  readonly events: CoreEvents;
}


export class Tasks {
  private router = new CapabilityRouter();
  /** Tasks routed by capability that wait for an agent with it (`--queue`), with the bytes their message holds. */
  private unassigned = new Map<string, number>();
  private finished: FinishedTasks;
  /** Unfinished tasks with a ttl. */
  private ttlTasks = new Set<string>();
  private watchers = new Map<string, Set<TaskWatcher>>();
  /** Watchers that have been shown their task at least once. */
  private shown = new WeakSet<TaskWatcher>();

  constructor(private host: TaskHost) {
    this.finished = new FinishedTasks(host.store, {
      retentionMs: host.retentionMs,
      maxFinished: host.maxFinished,
      forgot: (id) => host.events.watched && host.events.emit({ type: "task", id }),
    });
    this.restore();
  }

  private get store() {
    return this.host.store;
  }

  private get clock() {
    return this.host.clock;
  }

  /** After a failed commit put the records back: derive everything again; a new watcher whose first view was dropped gets it now. */
  reload() {
    this.router = new CapabilityRouter();
    // The store counted its messages again as it reloaded them; the tasks held for a capability are counted by restore.
    this.unassigned = new Map();
    this.ttlTasks.clear();
    this.restore();
    for (const [taskId, watching] of this.watchers) {
      const task = this.store.getTask(taskId);
      for (const w of watching) {
        if (!task) w.close(4004, "unknown task");
        else if (!this.shown.has(w)) this.show(w, taskView(task), this.finalResponse(task));
      }
    }
  }

  private show(watcher: TaskWatcher, view: Task, response: ResponseMessage | null) {
    this.shown.add(watcher);
    watcher.push(view, response);
  }

  /** Rebuilds what is derived from the task records (a durable store comes back with them). */
  private restore() {
    const finished: TaskRecord[] = [];
    for (const task of this.store.listAllTasks()) {
      if (FINAL_STATES.has(task.state)) {
        finished.push(task);
        continue;
      }
      if (task.to) this.router.started(task.to);
      else if (task.state === "queued") this.hold(task, sizeOf(taskMessage(task)));
      // A delivered task may be queued again by its lease, and then its ttl applies.
      if (task.ttlS !== null) this.ttlTasks.add(task.id);
    }
    this.finished.restore(finished);
  }

  /** A new task, to a named agent or to the least busy one with a capability. */
  send(sender: AgentRecord, msg: Extract<SendMessage, { type: "task" }>): Sent {
    if (msg.idempotency_key) {
      const first = this.store.getTaskByIdempotencyKey(sender.id, msg.idempotency_key);
      if (first) return { id: first.id, to: first.to, duplicate: true };
    }
    if ((msg.to === undefined) === (msg.cap === undefined)) {
      throw badRequest("a task needs exactly one of `to` (an agent id or name) and `cap` (a capability)", "pass --to NAME or --cap CAPABILITY");
    }
    const to = msg.to !== undefined ? this.host.resolveAgent(msg.to) : this.pickByCap(msg.cap!, msg.queue);
    const now = this.clock();
    const task: TaskRecord = {
      id: newSortableId("t"),
      from: sender.id,
      to: to?.id ?? null,
      cap: msg.cap ?? null,
      task: msg.task,
      context: msg.context,
      priority: msg.priority,
      state: "queued",
      attempts: 0,
      leaseS: msg.lease_s,
      ttlS: msg.ttl_s ?? null,
      createdAt: now,
      updatedAt: now,
      history: [{ state: "queued", at: now, note: to ? `for ${to.name}` : `waiting for an agent with ${msg.cap}` }],
      result: null,
      responseId: null,
      idempotencyKey: msg.idempotency_key ?? null,
    };
    const size = sizeOf(taskMessage(task));
    if (to) this.host.admit(to, sender.id, size);
    else this.host.budgets.check(sender.id, size);
    this.put(task);
    if (task.ttlS !== null) this.ttlTasks.add(task.id);
    if (to) this.assign(task, to, size);
    else this.hold(task, size);
    return { id: task.id, to: task.to };
  }

  /** A task waits for an agent with its capability; its bytes count toward its sender's budget meanwhile. */
  private hold(task: TaskRecord, size: number) {
    this.unassigned.set(task.id, size);
    this.store.ledger.add(task.from, size);
  }

  private unhold(taskId: string, from: string) {
    const size = this.unassigned.get(taskId);
    if (size === undefined) return;
    this.unassigned.delete(taskId);
    this.store.ledger.sub(from, size);
  }

  private pickByCap(cap: string, queue: boolean): AgentRecord | undefined {
    const now = this.clock();
    const picked = this.router.pick(cap, (a) => this.host.isOnline(a, now), this.store.listAgents());
    if (picked || queue) return picked;
    throw notFound("no_capable_agent", `no online agent has the capability "${cap}"`, "run `clawlink discover` to see capabilities, or pass --queue to hold the task until such an agent registers");
  }

  private assign(task: TaskRecord, to: AgentRecord, size?: number) {
    task.to = to.id;
    this.put(task);
    this.router.started(to.id);
    this.host.enqueue(taskMessage(task), to.id, task.priority, size);
  }

  /** A new or returning agent picks up the tasks that waited for one of its capabilities. */
  agentRegistered(agent: AgentRecord) {
    for (const [id, size] of this.unassigned) {
      const task = this.store.getTask(id);
      if (task && task.state === "queued" && (!task.cap || !agent.caps.includes(task.cap))) continue;
      this.unassigned.delete(id);
      if (!task) continue;
      this.store.ledger.sub(task.from, size);
      if (task.state === "queued") this.assign(task, agent, size);
    }
  }

  /** A task leaves the queue: it becomes delivered, with its attempt counted; a finished one is dropped. */
  handOut(entry: Entry, now: number): Message | null {
    if (entry.msg.type !== "task") return entry.msg;
    const task = this.store.getTask(entry.msg.id);
    if (!task) return entry.msg;
    if (FINAL_STATES.has(task.state)) return null;
    task.attempts++;
    this.transition(task, "delivered", `attempt ${task.attempts}`, now);
    return { ...entry.msg, attempt: task.attempts };
  }

  /** The holder answers: the task ends completed or failed, and the sender gets the response. */
  respond(sender: AgentRecord, task: TaskRecord, msg: Extract<SendMessage, { type: "response" }>): Sent {
    this.checkHolder(sender, task, "respond to");
    if (msg.to !== undefined && msg.to !== task.from && this.store.getAgentByName(msg.to)?.id !== task.from) {
      throw badRequest(`task ${task.id} came from ${task.from}, not ${msg.to}`, "leave out --to; the response goes to whoever sent the task");
    }
    const id = newSortableId("m");
    const now = this.clock();
    const response = responseMessage({ ...task, result: msg.result }, id, msg.status, now);
    const size = sizeOf(response);
    const requester = this.store.getAgent(task.from);
    if (requester) this.host.admit(requester, sender.id, size);
    task.result = msg.result;
    task.responseId = id;
    this.withdraw(task);
    this.host.enqueue(response, task.from, task.priority, size);
    this.transition(task, msg.status, msg.status === "failed" ? "the assignee reported failure" : "", now);
    return { id, to: task.from };
  }

  /** The holder reports progress: the task is working, its lease is settled, and the sender hears of it. */
  /** The holder reports progress: the task is working, its lease is settled, and the sender hears of it. An unread note it sent before is replaced. */
  progress(sender: AgentRecord, taskId: string, note: string): Sent {
    const task = this.store.getTask(taskId);
    if (!task) throw this.missing(sender, taskId, "run `clawlink tasks --held` to see the tasks you hold");
    this.checkHolder(sender, task, "report progress on");
    const id = newSortableId("m");
    const msg: Message = { type: "progress", id, from: sender.id, to: task.from, created_at: iso(this.clock()), in_reply_to: task.id, note };
    const size = sizeOf(msg);
    const unread = this.store.unreadAbout(task.from, task.id, "progress");
    const requester = this.store.getAgent(task.from);
    if (requester) this.host.admit(requester, sender.id, size, unread);
    this.withdraw(task);
    if (unread) this.store.removeQueued(task.from, unread.msg.id);
    this.host.enqueue(msg, task.from, task.priority, size);
    task.note = note;
    if (task.state !== "working") this.transition(task, "working", note);
    else {
      // A later note is kept on the task and shown to its watchers; the history records state changes only.
      task.updatedAt = this.clock();
      this.put(task);
      this.showChange(task);
    }
    return { id, to: task.from };
  }

  private checkHolder(sender: AgentRecord, task: TaskRecord, verb: string) {
    if (task.to !== sender.id) {
      throw forbidden(`only the agent holding task ${task.id} can ${verb} it`, "`clawlink tasks --held` lists the tasks you hold");
    }
    if (FINAL_STATES.has(task.state)) {
      throw conflict("task_finished", `task ${task.id} is already ${task.state}`, "nothing more can be sent about it");
    }
    if (task.state === "queued") {
      throw conflict("task_not_delivered", `task ${task.id} has not been delivered to you yet`, "poll or listen to receive it first");
    }
  }

  /** Removes from the sender's inbox every message about a task it watched to the end (`delegate --wait`); costs what it removes, not the inbox. */
  clearInboxOf(agent: AgentRecord, taskId: string): number {
    const task = this.store.getTask(taskId);
    if (!task || task.from !== agent.id) return 0;
    let n = 0;
    for (const id of this.store.aboutTask(agent.id, taskId)) if (this.store.removeQueued(agent.id, id) ?? this.host.delivery.ack(agent.id, id)) n++;
    return n;
  }

  /** An agent left: its watches close, the tasks it held fail, and routing forgets it. */
  /** Whether the agent holds a task that has not ended. */
  holdsUnfinished(agentId: string): boolean {
    for (const task of this.store.listTasks(agentId)) if (task.to === agentId && !FINAL_STATES.has(task.state)) return true;
    return false;
  }

  agentLeft(agentId: string, why: string) {
    const watching = [...this.watchers.values()].flatMap((set) => [...set].filter((w) => w.agentId === agentId));
    if (watching.length) this.store.afterCommit(() => watching.forEach((w) => w.close(4001, "unregistered")));
    for (const task of [...this.store.listTasks(agentId)]) {
      if (task.to === agentId && !FINAL_STATES.has(task.state)) this.transition(task, "failed", `assignee left: ${why}`);
    }
    this.router.forget(agentId);
  }

  cancel(agent: AgentRecord, taskId: string, note = ""): Task {
    const task = this.requireTask(agent, taskId);
    if (task.from !== agent.id) throw forbidden(`only the agent that sent task ${task.id} can cancel it`, "ask its sender to cancel it, or respond with --status failed");
    return this.callOff(task, note || "canceled by its sender");
  }

  /** The relay's operator cancels a task, whoever sent it (from the dashboard). */
  cancelAny(taskId: string, note: string): Task {
    const task = this.store.getTask(taskId);
    if (!task) throw notFound("unknown_task", `no task has the id ${taskId}`, "it may have been removed; reload the task list");
    return this.callOff(task, note);
  }

  private callOff(task: TaskRecord, note: string): Task {
    if (FINAL_STATES.has(task.state)) throw conflict("task_finished", `task ${task.id} is already ${task.state}`, "there is nothing to cancel");
    this.withdraw(task);
    this.transition(task, "canceled", note);
    return taskView(task);
  }

  /** Unfinished tasks assigned to the agent. */
  held(agentId: string): number {
    return this.router.held(agentId);
  }

  /** Takes an unfinished task out of its holder's queue or flight (a copy may be queued again after its socket dropped). */
  private withdraw(task: TaskRecord) {
    if (!task.to) {
      this.unhold(task.id, task.from);
      return;
    }
    this.store.removeQueued(task.to, task.id) ?? this.host.delivery.ack(task.to, task.id);
  }

  get(agent: AgentRecord, taskId: string): Task {
    return taskView(this.requireTask(agent, taskId));
  }

  /** The 404 for a task id without a record, saying when it was forgotten after finishing. */
  missing(agent: AgentRecord, taskId: string, hint?: string): ClawlinkError {
    return this.finished.missing(agent.id, taskId, hint);
  }

  private requireTask(agent: AgentRecord, taskId: string): TaskRecord {
    const task = this.store.getTask(taskId);
    if (!task) throw this.missing(agent, taskId);
    if (task.from !== agent.id && task.to !== agent.id) throw forbidden(`task ${taskId} is neither sent nor held by you`, "an agent can see only its own tasks");
    return task;
  }

  /** Every task the agent sent or holds that passes the filter, oldest first. */
  list(agent: AgentRecord, filter: TaskFilter = {}): Task[] {
    return matching(this.store.listTasks(agent.id), agent.id, filter).map(taskView);
  }

  /** One page of them (`GET /v1/tasks`). */
  page(agent: AgentRecord, filter: TaskFilter, page: PageRequest): TaskPage {
    return pageOf(this.store.listTasks(agent.id), agent.id, filter, page);
  }

  /** Subscribes to a task's changes; the current state is pushed at once. */
  watch(agent: AgentRecord, taskId: string, watcher: TaskWatcher): () => void {
    const task = this.requireTask(agent, taskId);
    let set = this.watchers.get(taskId);
    if (!set) this.watchers.set(taskId, (set = new Set()));
    set.add(watcher);
    const view = taskView(task);
    const response = this.finalResponse(task);
    this.store.afterCommit(() => this.show(watcher, view, response));
    return () => {
      set!.delete(watcher);
      if (set!.size === 0 && this.watchers.get(taskId) === set) this.watchers.delete(taskId);
    };
  }

  private finalResponse(task: TaskRecord): ResponseMessage | null {
    if (!task.responseId || (task.state !== "completed" && task.state !== "failed")) return null;
    return responseMessage(task, task.responseId, task.state, task.updatedAt);
  }

  private transition(task: TaskRecord, state: TaskState, note: string, now = this.clock()) {
    const wasFinal = FINAL_STATES.has(task.state);
    task.state = state;
    task.updatedAt = now;
    task.history.push({ state, at: now, note });
    this.put(task);
    if (FINAL_STATES.has(state) && !wasFinal) {
      this.ttlTasks.delete(task.id);
      if (task.to) this.router.finished(task.to);
      this.finished.finished(task, now);
    }
    const status: Message = { type: "status", id: newSortableId("m"), from: RELAY_SENDER, to: task.from, created_at: iso(now), task_id: task.id, state, note };
    this.tell(task.from, status, task.priority);
    // The holder learns that a task it may be working on was called off.
    if ((state === "canceled" || state === "expired") && task.to && task.attempts > 0) {
      this.tell(task.to, { ...status, id: newSortableId("m"), to: task.to }, task.priority);
    }
    this.showChange(task);
  }

  private showChange(task: TaskRecord) {
    const watching = this.watchers.get(task.id);
    if (!watching) return;
    const view = taskView(task);
    const response = this.finalResponse(task);
    // The watchers of this moment, told once it is committed.
    const watchers = [...watching];
    this.store.afterCommit(() => watchers.forEach((w) => this.show(w, view, response)));
  }

  /**
   * Queues a status message, replacing the unread one about the same task; with none to replace and
   * no room, it is skipped: the task's record always has its state.
   */
  private tell(to: string, status: Extract<Message, { type: "status" }>, priority: Priority) {
    const size = sizeOf(status);
    const unread = this.store.unreadAbout(to, status.task_id, "status");
    if (!this.host.fits(to, RELAY_SENDER, size, unread)) return;
    if (unread) this.store.removeQueued(to, unread.msg.id);
    this.host.enqueue(status, to, priority, size);
  }

  /** Forgets finished tasks past their retention; the hub calls it with every tick. */
  forgetFinished(now: number) {
    this.finished.forgetDue(now);
  }

  private put(task: TaskRecord) {
    this.store.putTask(task);
    if (this.host.events.watched) this.host.events.emit({ type: "task", id: task.id });
  }

  /** A delivered task's lease ran out before an ack: it is queued again. False when the task no longer wants it. */
  leaseRanOut(taskId: string, now: number): boolean {
    const task = this.store.getTask(taskId);
    if (!task || task.state !== "delivered") return false;
    this.transition(task, "queued", `lease of ${task.leaseS}s ran out before an ack; queued again`, now);
    return true;
  }

  /** Tasks still queued past their ttl expire, and their senders are told. */
  expireQueued(now: number) {
    for (const id of this.ttlTasks) {
      const task = this.store.getTask(id);
      if (!task || task.state !== "queued" || task.ttlS === null) {
        if (!task || FINAL_STATES.has(task.state)) this.ttlTasks.delete(id);
        continue;
      }
      if (now - task.createdAt < task.ttlS * 1000) continue;
      this.withdraw(task);
      this.transition(task, "expired", `not delivered within its ttl of ${task.ttlS}s`, now);
    }
  }
}
