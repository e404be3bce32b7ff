/**
 * The task lifecycle: queued → delivered → working → completed | failed, or canceled / expired;
 * routing by capability, ttls, leases running out, and watchers of one task. No I/O: the hub
 * hands it a store, a clock, and a way to queue messages.
 */
import { badRequest, conflict, forbidden, notFound } from "../errors";
import { FINAL_STATES, type Message, type Priority, type ResponseMessage, type SendMessage, type Sent, type Task, type TaskState } from "../protocol/schemas";
import type { Delivery } from "./delivery";
import { newSortableId } from "./ids";
import type { Entry } from "./queue";
import { CapabilityRouter } from "./router";
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
  enqueue(msg: Message, to: string, priority: Priority): void;
  resolveAgent(idOrName: string): AgentRecord;
  /** Throws 429 when the agent's queue is full. */
  checkRoom(to: AgentRecord): void;
  isOnline(rec: AgentRecord, now: number): boolean;
}

const RELAY = "relay";

export class Tasks {
  private router = new CapabilityRouter();
  /** Tasks routed by capability that wait for an agent with it (`--queue`). */
  private unassigned: string[] = [];
  /** Unfinished tasks with a ttl. */
  private ttlTasks = new Set<string>();
  private watchers = new Map<string, Set<TaskWatcher>>();
  /** Watchers that have been shown their task at least once. */
  private shown = new WeakSet<TaskWatcher>();

  constructor(private host: TaskHost) {
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
    this.unassigned = [];
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
    for (const task of this.store.listAllTasks()) {
      if (FINAL_STATES.has(task.state)) continue;
      if (task.to) this.router.started(task.to);
      else if (task.state === "queued") this.unassigned.push(task.id);
      // A delivered task may be queued again by its lease, and then its ttl applies.
      if (task.ttlS !== null) this.ttlTasks.add(task.id);
    }
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
    if (to) this.host.checkRoom(to);
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
    this.store.putTask(task);
    if (task.ttlS !== null) this.ttlTasks.add(task.id);
    if (to) this.assign(task, to);
    else this.unassigned.push(task.id);
    return { id: task.id, to: task.to };
  }

  private pickByCap(cap: string, queue: boolean): AgentRecord | undefined {
    const now = this.clock();
    const picked = this.router.pick(cap, (a) => this.host.isOnline(a, now), this.store.listAgents());
    if (picked || queue) return picked;
    throw notFound("no_capable_agent", `no online agent has the capability "${cap}"`, "run `clawlink discover` to see capabilities, or pass --queue to hold the task until such an agent registers");
  }

  private assign(task: TaskRecord, to: AgentRecord) {
    task.to = to.id;
    this.store.putTask(task);
    this.router.started(to.id);
    this.host.enqueue(taskMessage(task), to.id, task.priority);
  }

  /** A new or returning agent picks up the tasks that waited for one of its capabilities. */
  agentRegistered(agent: AgentRecord) {
    if (this.unassigned.length === 0) return;
    this.unassigned = this.unassigned.filter((id) => {
      const task = this.store.getTask(id);
      if (!task || task.state !== "queued") return false;
      if (!task.cap || !agent.caps.includes(task.cap)) return true;
      this.assign(task, agent);
      return false;
    });
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
    task.result = msg.result;
    task.responseId = id;
    this.withdraw(task);
    this.host.enqueue(responseMessage(task, id, msg.status, now), task.from, task.priority);
    this.transition(task, msg.status, msg.status === "failed" ? "the assignee reported failure" : "", now);
    return { id, to: task.from };
  }

  /** The holder reports progress: the task is working, its lease is settled, and the sender hears of it. */
  progress(sender: AgentRecord, taskId: string, note: string): Sent {
    const task = this.store.getTask(taskId);
    if (!task) throw notFound("unknown_task", `no task has the id ${taskId}`, "run `clawlink tasks` to see the tasks you hold");
    this.checkHolder(sender, task, "report progress on");
    this.withdraw(task);
    const id = newSortableId("m");
    this.host.enqueue({ type: "progress", id, from: sender.id, to: task.from, created_at: iso(this.clock()), in_reply_to: task.id, note }, task.from, task.priority);
    if (task.state !== "working") this.transition(task, "working", note);
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

  /** Removes from the sender's inbox every message about a task it watched to the end (`delegate --wait`). */
  clearInboxOf(agent: AgentRecord, taskId: string): number {
    const task = this.store.getTask(taskId);
    if (!task || task.from !== agent.id) return 0;
    let n = 0;
    const about = (m: Message) => ("in_reply_to" in m && m.in_reply_to === taskId) || (m.type === "status" && m.task_id === taskId);
    for (const e of this.store.queued(agent.id)) if (about(e.msg) && this.store.removeQueued(agent.id, e.msg.id)) n++;
    for (const f of this.store.listInflight(agent.id)) if (about(f.entry.msg) && this.host.delivery.ack(agent.id, f.entry.msg.id)) n++;
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
    if (FINAL_STATES.has(task.state)) throw conflict("task_finished", `task ${task.id} is already ${task.state}`, "there is nothing to cancel");
    this.withdraw(task);
    this.transition(task, "canceled", note || "canceled by its sender");
    return taskView(task);
  }

  /** Takes an unfinished task out of its holder's queue or flight (a copy may be queued again after its socket dropped). */
  private withdraw(task: TaskRecord) {
    if (!task.to) {
      this.unassigned = this.unassigned.filter((id) => id !== task.id);
      return;
    }
    this.store.removeQueued(task.to, task.id) ?? this.host.delivery.ack(task.to, task.id);
  }

  get(agent: AgentRecord, taskId: string): Task {
    return taskView(this.requireTask(agent, taskId));
  }

  private requireTask(agent: AgentRecord, taskId: string): TaskRecord {
    const task = this.store.getTask(taskId);
    if (!task) throw notFound("unknown_task", `no task has the id ${taskId}`, "run `clawlink tasks` to list your tasks");
    if (task.from !== agent.id && task.to !== agent.id) throw forbidden(`task ${taskId} is neither sent nor held by you`, "an agent can see only its own tasks");
    return task;
  }

  list(agent: AgentRecord, filter: { state?: TaskState; role?: "sent" | "held" } = {}): Task[] {
    const out: Task[] = [];
    for (const task of this.store.listTasks(agent.id)) {
      if (filter.state && task.state !== filter.state) continue;
      if (filter.role === "sent" && task.from !== agent.id) continue;
      if (filter.role === "held" && task.to !== agent.id) continue;
      out.push(taskView(task));
    }
    return out.sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
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
    this.store.putTask(task);
    if (FINAL_STATES.has(state) && !wasFinal) {
      this.ttlTasks.delete(task.id);
      if (task.to) this.router.finished(task.to);
    }
    const status: Message = { type: "status", id: newSortableId("m"), from: RELAY, to: task.from, created_at: iso(now), task_id: task.id, state, note };
    this.host.enqueue(status, task.from, task.priority);
    // The holder learns that a task it may be working on was called off.
    if ((state === "canceled" || state === "expired") && task.to && task.attempts > 0) {
      this.host.enqueue({ ...status, id: newSortableId("m"), to: task.to }, task.to, task.priority);
    }
    const watching = this.watchers.get(task.id);
    if (watching) {
      const view = taskView(task);
      const response = this.finalResponse(task);
      // The watchers of this moment, told once it is committed.
      const watchers = [...watching];
      this.store.afterCommit(() => watchers.forEach((w) => this.show(w, view, response)));
    }
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
