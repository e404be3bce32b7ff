/**
 * This process's task watches (`delegate --wait`, A2A streams): each is pushed its task's snapshot
 * at once and again whenever a bus event says the task changed and the change shows.
 */
import type { ResponseMessage, Task } from "../../protocol/schemas";
import type { Clock } from "../clock";
import type { AgentRecord, Store, TaskRecord } from "../store/port";
import { finalResponse, holderView, taskView } from "./views";

/** Pushes task snapshots to a `delegate --wait`. */
export interface TaskWatcher {
  push(task: Task, response: ResponseMessage | null): void;
  close(code: number, reason: string): void;
}

interface Watch {
  readonly agent: string;
  readonly watcher: TaskWatcher;
  /** The last snapshot pushed, so an event that changed nothing it shows pushes nothing. */
  shown: string;
  /** Stops hearing the task's topic for this watch. */
  unfollow?: () => void;
}

export class TaskWatches {
  private byTask = new Map<string, Set<Watch>>();
  /** Each watched task's holder as last read. */
  private holders = new Map<string, string>();

  constructor(
    private store: Store,
    private clock: Clock,
    /** An agent not seen for this long is stale (as a task's holder shows it). */
    private staleAfterMs: number,
    /** Hears the task's topic from other relays until the returned unfollow (`Bus.follow`); absent in one process. */
    private follow?: (taskId: string) => Promise<() => void>,
  ) {}

  /** Follows a task: its snapshot now and on every change; returns the unwatch. */
  async watch(agent: string, taskId: string, watcher: TaskWatcher): Promise<() => void> {
    const w: Watch = { agent, watcher, shown: "" };
    let set = this.byTask.get(taskId);
    if (!set) this.byTask.set(taskId, (set = new Set()));
    set.add(w);
    // The task's topic is heard before it is read: a change after the read is always told here.
    if (this.follow) {
      const unfollow = await this.follow(taskId);
      if (this.byTask.get(taskId)?.has(w)) w.unfollow = unfollow;
      else unfollow();
    }
    const unwatch = () => {
      w.unfollow?.();
      w.unfollow = undefined;
      const s = this.byTask.get(taskId);
      if (s?.delete(w) && s.size === 0) this.forget(taskId);
    };
    // A watch whose first read failed gets no unwatch: it is dropped here, or it and its topic would stay for good.
    await this.refresh(taskId).catch((err) => {
      unwatch();
      throw err;
    });
    return unwatch;
  }

  /** Whether anyone here follows the task. */
  has(taskId: string): boolean {
    return this.byTask.has(taskId);
  }

  /** The agents following a task here. */
  agents(): Set<string> {
    const out = new Set<string>();
    for (const set of this.byTask.values()) for (const w of set) out.add(w.agent);
    return out;
  }

  /**
   * Reads the task again and pushes it to whoever has not been shown it as it is. Its holder is read beside
   * it, guessed from the last read: on a store across the network, one round trip instead of two in turn.
   */
  async refresh(taskId: string) {
    const guess = this.holders.get(taskId);
    const [task, guessed] = await Promise.all([this.store.getTask(taskId), guess ? this.store.getAgent(guess) : undefined]);
    const set = this.byTask.get(taskId);
    if (!task || !set) return;
    if (task.to === null) this.holders.delete(taskId);
    else this.holders.set(taskId, task.to);
    // A new note changes neither the state nor the history, and may land in the same millisecond.
    const shown = `${task.history.length}:${task.historyDropped ?? 0}:${task.updatedAt}:${task.state}:${task.note ?? ""}`;
    let view: Task | undefined;
    for (const w of set) {
      if (w.shown === shown) continue;
      w.shown = shown;
      view ??= taskView(task, task.to !== null && task.to === guess ? this.holderOf(guessed) : await this.holder(task));
      w.watcher.push(view, finalResponse(task));
    }
  }

  /** Every watched task, read again (after the store undid a failed commit). */
  refreshAll(onError: (err: unknown) => void) {
    for (const taskId of this.byTask.keys()) void this.refresh(taskId).catch(onError);
  }

  /** Closes every watch of an agent that is gone. */
  close(agent: string, code: number, reason: string) {
    for (const [taskId, set] of this.byTask) {
      for (const w of set) {
        if (w.agent !== agent) continue;
        set.delete(w);
        w.unfollow?.();
        w.watcher.close(code, reason);
      }
      if (set.size === 0) this.forget(taskId);
    }
  }

  private forget(taskId: string) {
    this.byTask.delete(taskId);
    this.holders.delete(taskId);
  }

  private async holder(task: TaskRecord) {
    return this.holderOf(task.to === null ? undefined : await this.store.getAgent(task.to));
  }

  private holderOf(rec: AgentRecord | undefined) {
    return rec ? holderView(rec, this.clock(), this.staleAfterMs) : null;
  }
}
