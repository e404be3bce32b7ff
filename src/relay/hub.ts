/**
 * The relay's core: registry, messages and tasks. No I/O: transports call it, and it
 * reaches connections only through the Sink interface. Time comes from an injected clock.
 */
import { ClawlinkError, badRequest, conflict, forbidden, notFound } from "../errors";
import {
  FINAL_STATES,
  type Agent,
  type Message,
  type Priority,
  type RegisterRequest,
  type Registration,
  type ResponseMessage,
  type SendMessage,
  type Sent,
  type Task,
  type TaskState,
} from "../protocol/schemas";
import { Delivery, type Sink } from "./delivery";
import { newId, newSecret, newSortableId, safeEqual, sha256Hex } from "./ids";
import type { Entry } from "./queue";
import { CapabilityRouter } from "./router";
import { iso, responseMessage, taskMessage, taskView } from "./views";
import { MemoryStore, type AgentRecord, type Store, type TaskRecord } from "./store";

export interface HubOptions {
  version?: string;
  store?: Store;
  clock?: () => number;
  /** An agent not seen for this long is listed as stale. */
  staleAfterMs?: number;
  /** How long a non-task message may stay unacknowledged before it is handed out again. */
  ackWindowMs?: number;
  /** Messages waiting per agent before senders get 429. */
  maxQueue?: number;
  maxAgents?: number;
}

/** Pushes task snapshots to a `delegate --wait`. */
export interface TaskWatcher {
  readonly agentId: string;
  push(task: Task, response: ResponseMessage | null): void;
  close(code: number, reason: string): void;
}

const RELAY = "relay";

export class Hub {
  readonly version: string;
  readonly store: Store;
  readonly clock: () => number;
  readonly delivery: Delivery;
  private staleAfterMs: number;
  private ackWindowMs: number;
  private maxQueue: number;
  private maxAgents: number;
  private seq = 0;
  private router = new CapabilityRouter();
  /** Tasks routed by capability that wait for an agent with it (`--queue`). */
  private unassigned: string[] = [];
  /** Unfinished tasks with a ttl. */
  private ttlTasks = new Set<string>();
  private watchers = new Map<string, Set<TaskWatcher>>();

  constructor(opts: HubOptions = {}) {
    this.version = opts.version ?? "0.0.0";
    this.store = opts.store ?? new MemoryStore();
    this.clock = opts.clock ?? Date.now;
    this.staleAfterMs = opts.staleAfterMs ?? 120_000;
    this.ackWindowMs = opts.ackWindowMs ?? 60_000;
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.maxAgents = opts.maxAgents ?? 10_000;
    this.delivery = new Delivery(this.store, this.clock, {
      leaseMs: (e) => (e.msg.type === "task" ? e.msg.lease_s * 1000 : this.ackWindowMs),
      onHandOut: (e, now) => this.handOut(e, now),
    });
    this.restore();
  }

  /** Rebuilds what the hub derives from its records (a durable store comes back with them). */
  private restore() {
    this.seq = this.store.lastSeq + 1;
    for (const task of this.store.listAllTasks()) {
      if (FINAL_STATES.has(task.state)) continue;
      if (task.to) this.router.started(task.to);
      else if (task.state === "queued") this.unassigned.push(task.id);
      // A delivered task may be queued again by its lease, and then its ttl applies.
      if (task.ttlS !== null) this.ttlTasks.add(task.id);
    }
  }

  // ------------------------------------------------------------ agents

  /** Resolves a bearer secret to its agent, or undefined. */
  authenticate(secret: string): AgentRecord | undefined {
    const dot = secret.indexOf(".");
    if (dot <= 0) return undefined;
    const agent = this.store.getAgent(secret.slice(0, dot));
    if (!agent || !safeEqual(agent.secretHash, sha256Hex(secret))) return undefined;
    agent.lastSeen = this.clock();
    return agent;
  }

  register(req: RegisterRequest): Registration {
    const now = this.clock();
    let id = req.id;
    let secret: string;
    let registeredAt = now;
    if (id !== undefined) {
      // Re-registering an identity: the caller must hold its secret, whether or not the relay still knows it.
      if (!req.secret || !req.secret.startsWith(`${id}.`)) {
        throw forbidden(`re-registering agent ${id} needs its secret`, "register without --id to get a new identity");
      }
      const known = this.store.getAgent(id);
      if (known && !safeEqual(known.secretHash, sha256Hex(req.secret))) {
        throw forbidden(`the secret does not match agent ${id}`, "register under a new name, or use the identity file that registered it");
      }
      if (known) registeredAt = known.registeredAt;
      secret = req.secret;
    } else {
      id = newId("a");
      secret = newSecret(id);
    }
    const holder = this.store.getAgentByName(req.name);
    if (holder && holder.id !== id) {
      if (this.isOnline(holder, now)) {
        throw conflict(
          "name_taken",
          `the name "${req.name}" belongs to agent ${holder.id} on ${holder.machine || "another machine"}, seen ${Math.round((now - holder.lastSeen) / 1000)}s ago`,
          "choose another --name, or unregister that agent first",
        );
      }
      this.unregister(holder.id, "its name was taken over after it went stale");
    }
    if (!this.store.getAgent(id) && this.store.agentCount() >= this.maxAgents) {
      throw new ClawlinkError("too_many_agents", 429, `the relay holds its maximum of ${this.maxAgents} agents`, "unregister agents that are gone, or start the relay with a higher --max-agents");
    }
    const record: AgentRecord = {
      id,
      name: req.name,
      caps: [...new Set(req.caps)],
      description: req.description,
      machine: req.machine,
      secretHash: sha256Hex(secret),
      registeredAt,
      lastSeen: now,
    };
    this.store.putAgent(record);
    this.assignWaitingTasks(record);
    return { ...this.view(record), secret };
  }

  heartbeat(agent: AgentRecord): Agent {
    agent.lastSeen = this.clock();
    // Other requests only touch lastSeen in memory; a heartbeat is kept, so a restarted relay still counts it.
    this.store.putAgent(agent);
    return this.view(agent);
  }

  unregister(agentId: string, why = "its agent unregistered") {
    const agent = this.store.getAgent(agentId);
    if (!agent) return;
    this.delivery.closeAll(agentId, 4001, "unregistered");
    const watching = [...this.watchers.values()].flatMap((set) => [...set].filter((w) => w.agentId === agentId));
    for (const w of watching) w.close(4001, "unregistered");
    for (const task of [...this.store.listTasks(agentId)]) {
      if (task.to === agentId && !FINAL_STATES.has(task.state)) this.transition(task, "failed", `assignee left: ${why}`);
    }
    this.store.deleteAgent(agentId);
    this.router.forget(agentId);
  }

  listAgents(filter: { cap?: string; all?: boolean } = {}): Agent[] {
    const now = this.clock();
    const out: Agent[] = [];
    for (const rec of this.store.listAgents()) {
      if (filter.cap && !rec.caps.includes(filter.cap)) continue;
      if (!filter.all && !this.isOnline(rec, now)) continue;
      out.push(this.view(rec, now));
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  agentCount() {
    return this.store.agentCount();
  }

  /** Finds an agent by id, then by name. */
  resolveAgent(idOrName: string): AgentRecord {
    const agent = this.store.getAgent(idOrName) ?? this.store.getAgentByName(idOrName);
    if (!agent) {
      throw notFound("unknown_agent", `no agent is registered as "${idOrName}"`, "run `clawlink discover --all` to see the registered agents' ids and names");
    }
    return agent;
  }

  view(rec: AgentRecord, now = this.clock()): Agent {
    return {
      id: rec.id,
      name: rec.name,
      caps: rec.caps,
      description: rec.description,
      machine: rec.machine,
      status: this.isOnline(rec, now) ? "online" : "stale",
      connected: this.delivery.isConnected(rec.id),
      registered_at: iso(rec.registeredAt),
      last_seen: iso(this.delivery.isConnected(rec.id) ? now : rec.lastSeen),
    };
  }

  private isOnline(rec: AgentRecord, now: number) {
    return this.delivery.isConnected(rec.id) || now - rec.lastSeen < this.staleAfterMs;
  }

  pendingCount(agentId: string) {
    return this.store.queueLength(agentId);
  }

  // ------------------------------------------------------------ messages

  send(sender: AgentRecord, msg: SendMessage): Sent {
    if (msg.from !== undefined && msg.from !== sender.id && msg.from !== sender.name) {
      throw forbidden(`an agent can send only as itself: you are ${sender.id}, the message says from ${msg.from}`, "leave out `from`; the relay fills it in");
    }
    switch (msg.type) {
      case "task":
        return this.sendTask(sender, msg);
      case "response":
        return this.respond(sender, msg);
      case "progress":
        return this.progress(sender, msg.in_reply_to, msg.note);
      case "broadcast": {
        const id = newSortableId("m");
        const now = this.clock();
        let recipients = 0;
        for (const rec of this.store.listAgents()) {
          if (rec.id === sender.id || this.store.queueLength(rec.id) >= this.maxQueue) continue;
          this.enqueue(
            { type: "broadcast", id, from: sender.id, to: null, created_at: iso(now), content: msg.content, topic: msg.topic, tags: msg.tags },
            rec.id,
            "normal",
          );
          recipients++;
        }
        return { id, recipients };
      }
    }
  }

  /** Queues a relay notice (a file change) for every agent but `except`; an agent whose queue is full misses it. */
  notify(msg: Message, except: string | null = null): number {
    let recipients = 0;
    for (const rec of this.store.listAgents()) {
      if (rec.id === except || this.store.queueLength(rec.id) >= this.maxQueue) continue;
      this.enqueue(msg, rec.id, "normal");
      recipients++;
    }
    return recipients;
  }

  private sendTask(sender: AgentRecord, msg: Extract<SendMessage, { type: "task" }>): Sent {
    if (msg.idempotency_key) {
      const first = this.store.getTaskByIdempotencyKey(sender.id, msg.idempotency_key);
      if (first) return { id: first.id, to: first.to, duplicate: true };
    }
    if ((msg.to === undefined) === (msg.cap === undefined)) {
      throw badRequest("a task needs exactly one of `to` (an agent id or name) and `cap` (a capability)", "pass --to NAME or --cap CAPABILITY");
    }
    const to = msg.to !== undefined ? this.resolveAgent(msg.to) : this.pickByCap(msg.cap!, msg.queue);
    if (to) this.checkRoom(to);
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

  private checkRoom(to: AgentRecord) {
    const waiting = this.store.queueLength(to.id);
    if (waiting >= this.maxQueue) {
      throw new ClawlinkError(
        "queue_full",
        429,
        `${to.name}'s queue is full (${waiting} messages waiting)`,
        `retry later, or send to another agent; ${to.name} must poll or listen to drain it`,
        { "Retry-After": "1" },
      );
    }
  }

  private pickByCap(cap: string, queue: boolean): AgentRecord | undefined {
    const now = this.clock();
    const picked = this.router.pick(cap, (a) => this.isOnline(a, now), this.store.listAgents());
    if (picked || queue) return picked;
    throw notFound("no_capable_agent", `no online agent has the capability "${cap}"`, "run `clawlink discover` to see capabilities, or pass --queue to hold the task until such an agent registers");
  }

  private assign(task: TaskRecord, to: AgentRecord) {
    task.to = to.id;
    this.store.putTask(task);
    this.router.started(to.id);
    this.enqueue(taskMessage(task), to.id, task.priority);
  }

  private assignWaitingTasks(agent: AgentRecord) {
    if (this.unassigned.length === 0) return;
    this.unassigned = this.unassigned.filter((id) => {
      const task = this.store.getTask(id);
      if (!task || task.state !== "queued") return false;
      if (!task.cap || !agent.caps.includes(task.cap)) return true;
      this.assign(task, agent);
      return false;
    });
  }

  private enqueue(msg: Message, to: string, priority: Priority) {
    // An agent that unregistered has no queue: what is still addressed to it would wait there forever.
    if (!this.store.getAgent(to)) return;
    this.delivery.route({ msg, to, priority, seq: this.seq++ });
  }

  /** A message leaves the queue: a task becomes delivered, with its attempt counted; a finished one is dropped. */
  private handOut(entry: Entry, now: number): Message | null {
    if (entry.msg.type !== "task") return entry.msg;
    const task = this.store.getTask(entry.msg.id);
    if (!task) return entry.msg;
    if (FINAL_STATES.has(task.state)) return null;
    task.attempts++;
    this.transition(task, "delivered", `attempt ${task.attempts}`, now);
    return { ...entry.msg, attempt: task.attempts };
  }

  private respond(sender: AgentRecord, msg: Extract<SendMessage, { type: "response" }>): Sent {
    const task = this.store.getTask(msg.in_reply_to);
    if (!task) {
      // A reply to a broadcast or any other message: a plain response to a named agent.
      if (msg.to === undefined) {
        throw notFound("unknown_task", `no task has the id ${msg.in_reply_to}`, "check the id in your inbox; to reply to a broadcast, also pass --to AGENT");
      }
      const to = this.resolveAgent(msg.to);
      this.checkRoom(to);
      const id = newSortableId("m");
      this.enqueue(
        { type: "response", id, from: sender.id, to: to.id, created_at: iso(this.clock()), in_reply_to: msg.in_reply_to, status: msg.status, result: msg.result },
        to.id,
        "normal",
      );
      return { id, to: to.id };
    }
    this.checkHolder(sender, task, "respond to");
    if (msg.to !== undefined && msg.to !== task.from && this.store.getAgentByName(msg.to)?.id !== task.from) {
      throw badRequest(`task ${task.id} came from ${task.from}, not ${msg.to}`, "leave out --to; the response goes to whoever sent the task");
    }
    const id = newSortableId("m");
    const now = this.clock();
    task.result = msg.result;
    task.responseId = id;
    this.withdraw(task);
    this.enqueue(responseMessage(task, id, msg.status, now), task.from, task.priority);
    this.transition(task, msg.status, msg.status === "failed" ? "the assignee reported failure" : "", now);
    return { id, to: task.from };
  }

  private progress(sender: AgentRecord, taskId: string, note: string): Sent {
    const task = this.store.getTask(taskId);
    if (!task) throw notFound("unknown_task", `no task has the id ${taskId}`, "run `clawlink tasks` to see the tasks you hold");
    this.checkHolder(sender, task, "report progress on");
    this.withdraw(task);
    const id = newSortableId("m");
    this.enqueue({ type: "progress", id, from: sender.id, to: task.from, created_at: iso(this.clock()), in_reply_to: task.id, note }, task.from, task.priority);
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

  /** Acknowledge messages; settles the lease of tasks among them. */
  ack(agent: AgentRecord, ids: string[], taskIds: string[] = []): number {
    let n = 0;
    for (const id of ids) if (this.delivery.ack(agent.id, id)) n++;
    // `delegate --wait` saw its task end: clear the inbox of what concerned it.
    for (const taskId of taskIds) {
      const task = this.store.getTask(taskId);
      if (!task || task.from !== agent.id) continue;
      const about = (m: Message) => ("in_reply_to" in m && m.in_reply_to === taskId) || (m.type === "status" && m.task_id === taskId);
      for (const e of this.store.queued(agent.id)) if (about(e.msg) && this.store.removeQueued(agent.id, e.msg.id)) n++;
      for (const f of this.store.listInflight(agent.id)) if (about(f.entry.msg) && this.delivery.ack(agent.id, f.entry.msg.id)) n++;
    }
    return n;
  }

  take(agent: AgentRecord, max: number): Message[] {
    return this.delivery.take(agent.id, max);
  }

  // ------------------------------------------------------------ tasks

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
    this.store.removeQueued(task.to, task.id) ?? this.delivery.ack(task.to, task.id);
  }

  getTask(agent: AgentRecord, taskId: string): Task {
    return taskView(this.requireTask(agent, taskId));
  }

  private requireTask(agent: AgentRecord, taskId: string): TaskRecord {
    const task = this.store.getTask(taskId);
    if (!task) throw notFound("unknown_task", `no task has the id ${taskId}`, "run `clawlink tasks` to list your tasks");
    if (task.from !== agent.id && task.to !== agent.id) throw forbidden(`task ${taskId} is neither sent nor held by you`, "an agent can see only its own tasks");
    return task;
  }

  listTasks(agent: AgentRecord, filter: { state?: TaskState; role?: "sent" | "held" } = {}): Task[] {
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
    watcher.push(taskView(task), this.finalResponse(task));
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
    this.enqueue(status, task.from, task.priority);
    // The holder learns that a task it may be working on was called off.
    if ((state === "canceled" || state === "expired") && task.to && task.attempts > 0) {
      this.enqueue({ ...status, id: newSortableId("m"), to: task.to }, task.to, task.priority);
    }
    const watching = this.watchers.get(task.id);
    if (watching) {
      const view = taskView(task);
      const response = this.finalResponse(task);
      for (const w of watching) w.push(view, response);
    }
  }

  // ------------------------------------------------------------ time

  /** Runs leases and ttls forward to `now`; the server calls it a few times a second. */
  tick(now = this.clock()) {
    for (const item of this.delivery.expired(now)) {
      const msg = item.entry.msg;
      if (msg.type === "task") {
        const task = this.store.getTask(msg.id);
        if (!task || task.state !== "delivered") continue;
        this.transition(task, "queued", `lease of ${task.leaseS}s ran out before an ack; queued again`, now);
      }
      this.delivery.route(item.entry);
    }
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
