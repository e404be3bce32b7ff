/**
 * The task lifecycle: queued → delivered → working → completed | failed, or canceled / expired;
 * routing by capability, replies, and the ttl and retention sweeps. Each change is one store
 * operation (a compare-and-set on the task's state); the bus hears what it changed.
 *
 * Tasks is built in layers, each extending the one before: _tasks-sending.ts (what they share, the 429
 * for no room, making a task and routing it by capability), _tasks-replies.ts (plain replies, alone or
 * many at once), _tasks-changes.ts (answers, progress and cancels), and here reading tasks and the sweeps.
 */
import { LIMIT } from "../../protocol/constants";
import type { Task, TaskState } from "../../protocol/schemas";
import { formatDuration } from "../../duration";
import type { AgentRecord, TaskRecord } from "../store/port";
import { Cursors } from "./cursor";
import { announce } from "./announce";
import { holderView, taskView } from "./views";
import { TaskChanges } from "./_tasks-changes";

export type { Outcome } from "./_tasks-replies";
export { noRoom, type TaskOptions } from "./_tasks-sending";

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
/** How often the holders of unfinished tasks are checked for having gone offline. */
const RECLAIM_SWEEP_MS = 1000;

export class Tasks extends TaskChanges {
  private nextReclaim = 0;
  private nextUnreadSweep = 0;
  readonly cursors = new Cursors();

  async get(agent: AgentRecord, taskId: string): Promise<Task> {
    const task = await this.require(agent, taskId);
    return taskView(task, await this.holder(task));
  }

  /** Who holds the task, reachable or not, and since when; null while it waits for a capable agent. */
  async holder(task: TaskRecord) {
    const rec = task.to === null ? undefined : await this.store.getAgent(task.to);
    return rec ? holderView(rec, this.clock(), this.opts.staleAfterMs) : null;
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
}
