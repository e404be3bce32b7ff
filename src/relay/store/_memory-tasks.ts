/** The memory store's task operations: making a task, its changes of state (compare-and-set), and the sweeps that expire, reclaim and forget tasks. */
import type { Message, TaskState } from "../../protocol/schemas";
import type { Slot } from "./_inbox";
import { Changes, MemoryState } from "./_memory-state";
import type { Kept } from "./_tasks";
import { NO_EFFECTS, type AgentRecord, type Created, type LivenessRules, type NewTask, type Reclaimed, type Room, type TaskChange, type TaskChanged, type TaskQuery, type TaskRecord } from "./port";
import { aboutOf, applyChange, canReceive, coalesces, finishedBytes, frozenTask, isFinal, lost, messageBytes, messageText, notes, notices, queuedHistory, receivedBy, taskMessage } from "./rules";

export abstract class MemoryTasks extends MemoryState {
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
  protected change(task: TaskRecord, change: Pick<TaskChange, "state" | "note" | "at" | "result" | "responseId" | "progress">, room: Room, fx: Changes, patch?: Partial<TaskRecord>): TaskRecord {
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

  /** Adds a task with its indexes (also when a durable store loads it). */
  protected addTask(task: TaskRecord, bytes?: number) {
    const entry = this.tasks.add(task);
    // A task a durable store read back counts its bytes again.
    if (entry.weight === undefined) this.weigh(entry, bytes ?? messageBytes(taskMessage(task)));
    this.taskCreated(task.id);
  }
}
