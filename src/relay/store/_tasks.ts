/**
 * Task records in the memory store, with what is derived from them: each agent's tasks, idempotency
 * keys, the unfinished tasks each agent holds, those waiting for a capability or under a ttl, and
 * the finished ones in the order they finished. Bookkeeping only; the store's operations decide.
 */
import { TASK_STATES, type TaskState } from "../../protocol/schemas";
import type { TaskQuery, TaskRecord } from "./port";
import { isFinal } from "./rules";

const keyOf = (from: string, key: string) => `${from}\0${key}`;

/**
 * One agent's task ids in id order (ids sort by creation), so a page starts where the last ended
 * without sorting: appended at the end as tasks are made (a task assigned later goes to its place),
 * removed lazily and compacted once half are gone. Whether an id is still kept is the book's to say
 * (`live`): ids are never reused, so one array and a count serve, with no set per agent to keep in step.
 */
export class OrderedIds {
  private ids: string[] = [];
  private count = 0;

  constructor(private live: (id: string) => boolean) {}

  get size() {
    return this.count;
  }

  add(id: string) {
    const ids = this.ids;
    if (ids.length === 0 || ids[ids.length - 1]! < id) {
      ids.push(id);
      this.count++;
      return;
    }
    const at = this.seek(id);
    if (ids[at] === id) return;
    ids.splice(at, 0, id);
    this.count++;
  }

  /** Removes an id this index holds (the book's records no longer have it). */
  delete(_id: string) {
    this.count--;
    if (this.ids.length > 64 && this.count * 2 < this.ids.length) this.ids = this.ids.filter(this.live);
    return true;
  }

  /** The ids after `after` (all of them without it), in order. */
  *after(after?: string): Iterable<string> {
    const ids = this.ids;
    for (let i = after === undefined ? 0 : this.seek(after); i < ids.length; i++) {
      const id = ids[i]!;
      if (id === after || !this.live(id)) continue;
      yield id;
    }
  }

  *[Symbol.iterator](): Iterator<string> {
    for (const id of this.ids) if (this.live(id)) yield id;
  }

  /** The first index whose id is not before `id`. */
  private seek(id: string) {
    let lo = 0;
    let hi = this.ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ids[mid]! < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** A kept task and what it weighs against the byte budgets (`_memory-tasks.ts`): one entry per task, not one in each of two maps. */
export class Kept {
  constructor(
    public task: TaskRecord,
    public weight: number | undefined,
  ) {}
}

export class TaskBook {
  private records = new Map<string, Kept>();
  private byAgent = new Map<string, OrderedIds>();
  private keys = new Map<string, string>();
  /**
   * How many unfinished tasks each agent holds. Which ones is read off its index (`heldIds`) by the sweep that
   * needs them, so a new task costs no insert into a set per holder, which grows as long as its queue.
   */
  private held = new Map<string, number>();
  /**
   * Of those, how many could be taken from an agent gone offline (`movable`): a sweep passes over a holder
   * with none, however many tasks wait for it, instead of looking at each of them every second.
   */
  private movable = new Map<string, number>();
  private readonly isLive = (id: string) => this.records.has(id);
  /** Queued tasks waiting for an agent with their capability, oldest first. */
  readonly unassigned = new Set<string>();
  /** Unfinished tasks with a ttl. */
  readonly ttl = new Set<string>();
  /** Finished tasks in the order they finished, with when. */
  private finished = new Map<string, number>();

  /** How many finished tasks are kept. */
  get finishedCount() {
    return this.finished.size;
  }

  get(id: string): TaskRecord | undefined {
    return this.records.get(id)?.task;
  }

  /** What the task weighs, once the store has weighed it. */
  weightOf(id: string): number | undefined {
    return this.records.get(id)?.weight;
  }

  setWeight(id: string, weight: number) {
    const kept = this.records.get(id);
    if (kept) kept.weight = weight;
  }

  byKey(from: string, key: string) {
    const id = this.keys.get(keyOf(from, key));
    return id === undefined ? undefined : this.records.get(id)?.task;
  }

  /** Unfinished tasks the agent holds. */
  heldBy(agentId: string) {
    return this.held.get(agentId) ?? 0;
  }

  /** Every agent holding unfinished tasks. */
  holders(): Iterable<string> {
    return this.held.keys();
  }

  /** The unfinished tasks the agent holds, oldest first. */
  *heldIds(agentId: string): Iterable<string> {
    for (const id of this.byAgent.get(agentId) ?? []) {
      const t = this.records.get(id)!.task;
      if (t.to === agentId && !isFinal(t.state)) yield id;
    }
  }

  /** Whether the agent holds a task that could be taken from it once it is gone: any delivered or working, or one queued by capability. */
  holdsMovable(agentId: string) {
    return (this.movable.get(agentId) ?? 0) > 0;
  }

  /** The agent's tasks, sent or held, that pass the query; oldest first (ids sort by creation), read in order from where the page starts. */
  list(agentId: string, query: TaskQuery): TaskRecord[] {
    const out: TaskRecord[] = [];
    const ids = this.byAgent.get(agentId);
    if (!ids) return out;
    const limit = query.limit ?? Infinity;
    for (const id of ids.after(query.after)) {
      if (out.length >= limit) break;
      const t = this.records.get(id)!.task;
      if (query.state && t.state !== query.state) continue;
      if (query.role === "sent" && t.from !== agentId) continue;
      if (query.role === "held" && t.to !== agentId) continue;
      out.push(t);
    }
    return out;
  }

  /** The `limit` most recently changed tasks, newest first. */
  recent(limit: number): TaskRecord[] {
    return Array.from(this.records.values(), (k) => k.task).sort((a, b) => b.updatedAt - a.updatedAt).slice(0, limit);
  }

  countByState(): Record<TaskState, number> {
    const counts = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
    for (const k of this.records.values()) counts[k.task.state]++;
    return counts;
  }

  /** The agent's task ids, sent or held. */
  of(agentId: string): Iterable<string> {
    return this.byAgent.get(agentId) ?? [];
  }

  /** A new task, or one a durable store kept, with its indexes; its entry, to weigh it unless it already was. */
  add(task: TaskRecord): Kept {
    let kept = this.records.get(task.id);
    if (kept) kept.task = task;
    else this.records.set(task.id, (kept = new Kept(task, undefined)));
    this.index(task.from, task.id);
    if (task.idempotencyKey !== null) this.keys.set(keyOf(task.from, task.idempotencyKey), task.id);
    if (task.to) this.index(task.to, task.id);
    if (isFinal(task.state)) {
      this.finished.set(task.id, task.updatedAt);
      return kept;
    }
    if (task.to) this.hold(task.to);
    else if (task.state === "queued") this.unassigned.add(task.id);
    if (task.ttlS !== null) this.ttl.add(task.id);
    this.countMovable(task, 1);
    return kept;
  }

  /** A task's record replaced by its next: a holder assigned or taken away, or the task finished. */
  update(prev: TaskRecord, next: TaskRecord) {
    const kept = this.records.get(next.id);
    if (kept) kept.task = next;
    else this.records.set(next.id, new Kept(next, undefined));
    this.countMovable(prev, -1);
    this.countMovable(next, 1);
    if (prev.to !== next.to && !isFinal(prev.state)) {
      if (prev.to !== null) this.unhold(prev.to);
      if (next.to !== null) {
        this.unassigned.delete(next.id);
        this.index(next.to, next.id);
        this.hold(next.to);
      } else if (next.state === "queued") this.unassigned.add(next.id);
    }
    if (!isFinal(prev.state) && isFinal(next.state)) {
      this.ttl.delete(next.id);
      this.unassigned.delete(next.id);
      if (next.to) this.unhold(next.to);
      this.finished.set(next.id, next.updatedAt);
    }
  }

  /** A task held (unfinished, with a holder) that `lost` could find gone counts toward its holder's `movable`. */
  private countMovable(task: TaskRecord, by: 1 | -1) {
    if (task.to === null || isFinal(task.state) || (task.state === "queued" && task.cap === null)) return;
    const n = (this.movable.get(task.to) ?? 0) + by;
    if (n > 0) this.movable.set(task.to, n);
    else this.movable.delete(task.to);
  }

  private hold(agentId: string) {
    this.held.set(agentId, (this.held.get(agentId) ?? 0) + 1);
  }

  private unhold(agentId: string) {
    const n = (this.held.get(agentId) ?? 0) - 1;
    if (n > 0) this.held.set(agentId, n);
    else this.held.delete(agentId);
  }

  /** An agent left: the tasks it held have all been failed. */
  forgetHolder(agentId: string) {
    this.held.delete(agentId);
    this.movable.delete(agentId);
  }

  /** Drops the finished tasks that finished before `before`, and the oldest finished while past `keep` or `over()`; `gone` hears of each, with its weight; returns them. */
  prune(before: number, keep: number, over: () => boolean = () => false, gone: (t: TaskRecord, weight: number | undefined) => void = () => {}): TaskRecord[] {
    const pruned: TaskRecord[] = [];
    for (const [id, at] of this.finished) {
      if (at >= before && this.finished.size <= keep && !over()) break;
      this.finished.delete(id);
      const kept = this.records.get(id);
      if (!kept) continue;
      const task = kept.task;
      this.records.delete(id);
      this.unindex(task.from, id);
      // A task an agent sent itself is in its index once.
      if (task.to && task.to !== task.from) this.unindex(task.to, id);
      if (task.idempotencyKey !== null) this.keys.delete(keyOf(task.from, task.idempotencyKey));
      gone(task, kept.weight);
      pruned.push(task);
    }
    return pruned;
  }

  private index(agentId: string, taskId: string) {
    addTo(this.byAgent, agentId, taskId, () => new OrderedIds(this.isLive));
  }

  private unindex(agentId: string, taskId: string) {
    removeFrom(this.byAgent, agentId, taskId);
  }
}

interface IdSet {
  add(id: string): unknown;
  delete(id: string): boolean;
  readonly size: number;
}

/** Adds `id` to the agent's set in `map`, making the set on first use. */
function addTo<S extends IdSet>(map: Map<string, S>, agentId: string, id: string, make: () => S) {
  let set = map.get(agentId);
  if (!set) map.set(agentId, (set = make()));
  set.add(id);
}

/** Removes `id` from the agent's set in `map`, and the set once it is empty. */
function removeFrom(map: Map<string, IdSet>, agentId: string, id: string) {
  const set = map.get(agentId);
  if (set?.delete(id) && set.size === 0) map.delete(agentId);
}
