/**
 * Finished tasks are kept for `--task-retention` and at most `--max-finished-tasks` of them, then
 * forgotten, oldest finished first. A forgotten task's id is remembered a while longer, so whoever
 * asks for it learns that it finished and was forgotten rather than that it never was.
 */
import { notFound, type ClawlinkError } from "../errors";
import type { TaskState } from "../protocol/schemas";
import { formatDuration } from "../duration";
import { idTime } from "./ids";
import type { Store, TaskRecord } from "./store";
import { iso } from "./views";

export interface RetentionOptions {
  retentionMs: number;
  maxFinished: number;
  /** Told of each task forgotten. */
  forgot?: (id: string) => void;
}

interface Forgotten {
  parties: [string, string | null];
  state: TaskState;
  finishedAt: number;
}

/** How many forgotten ids are remembered, newest kept. */
const REMEMBERED = 10_000;

export class FinishedTasks {
  /** Finished tasks by id with when they finished, oldest first. */
  private kept = new Map<string, number>();
  private forgotten = new Map<string, Forgotten>();

  constructor(
    private store: Store,
    private opts: RetentionOptions,
  ) {}

  /** Takes in the finished tasks a durable store came back with (again after a failed commit put the records back). */
  restore(tasks: TaskRecord[]) {
    this.kept.clear();
    for (const t of tasks.sort((a, b) => a.updatedAt - b.updatedAt)) this.kept.set(t.id, t.updatedAt);
    this.trim();
  }

  /** A task just finished: it is kept from now, and the oldest finished gives way past the count. */
  finished(task: TaskRecord, now: number) {
    this.kept.set(task.id, now);
    this.trim();
  }

  /** Forgets the tasks that finished longer ago than the retention. */
  forgetDue(now: number) {
    for (const [id, at] of this.kept) {
      if (now - at < this.opts.retentionMs) break;
      this.forget(id);
    }
  }

  private trim() {
    for (const id of this.kept.keys()) {
      if (this.kept.size <= this.opts.maxFinished) break;
      this.forget(id);
    }
  }

  private forget(id: string) {
    const at = this.kept.get(id)!;
    this.kept.delete(id);
    const task = this.store.getTask(id);
    if (!task) return;
    this.store.deleteTask(id);
    this.opts.forgot?.(id);
    this.forgotten.set(id, { parties: [task.from, task.to], state: task.state, finishedAt: at });
    if (this.forgotten.size > REMEMBERED) this.forgotten.delete(this.forgotten.keys().next().value!);
  }

  /** The 404 for a task id with no record: forgotten after the retention when that can be told, unknown otherwise. */
  missing(agentId: string, taskId: string, hint = "run `clawlink tasks` to list your tasks"): ClawlinkError {
    const { retentionMs, maxFinished } = this.opts;
    const keeps = `the relay keeps finished tasks for ${formatDuration(retentionMs)}, at most ${maxFinished} of them (relay --task-retention, --max-finished-tasks)`;
    const gone = this.forgotten.get(taskId);
    if (gone && gone.parties.includes(agentId)) {
      return notFound("unknown_task", `task ${taskId} ${gone.state} at ${iso(gone.finishedAt)} and was forgotten since: ${keeps}`, "its response, if it had one, went to its sender's inbox; `clawlink tasks` lists the tasks still kept");
    }
    const made = taskId.startsWith("t_") ? idTime(taskId) : undefined;
    // Ids carry the wall clock, whatever clock the relay runs on.
    if (made !== undefined && Date.now() - made > retentionMs) {
      return notFound("unknown_task", `no task has the id ${taskId}; made at ${iso(made)}, it may have finished and been forgotten: ${keeps}`, hint);
    }
    return notFound("unknown_task", `no task has the id ${taskId}`, hint);
  }
}
