/**
 * Finished tasks are kept for `--task-retention` and at most `--max-finished-tasks` of them, then
 * the store drops them, oldest finished first. A dropped task's id is remembered here a while longer,
 * so whoever asks for it learns that it finished and was forgotten rather than that it never was.
 */
import { notFound, type ClawlinkError } from "../../errors";
import type { TaskState } from "../../protocol/schemas";
import { formatDuration } from "../../duration";
import { iso } from "../clock";
import { idTime } from "../ids";
import type { TaskRecord } from "../store/port";

export interface RetentionOptions {
  retentionMs: number;
  maxFinished: number;
  maxFinishedBytes: number;
}

interface Forgotten {
  parties: [string, string | null];
  state: TaskState;
  finishedAt: number;
}

/** How many forgotten ids are remembered, newest kept. */
const REMEMBERED = 10_000;

export class Forgetting {
  private forgotten = new Map<string, Forgotten>();

  constructor(readonly opts: RetentionOptions) {}

  /** The store dropped these finished tasks. */
  forgot(tasks: readonly TaskRecord[]) {
    for (const t of tasks) {
      this.forgotten.set(t.id, { parties: [t.from, t.to], state: t.state, finishedAt: t.updatedAt });
      if (this.forgotten.size > REMEMBERED) this.forgotten.delete(this.forgotten.keys().next().value!);
    }
  }

  /** The 404 for a task id with no record: forgotten after the retention when that can be told, unknown otherwise. */
  missing(agentId: string, taskId: string, hint = "run `clawlink tasks` to list your tasks"): ClawlinkError {
    const { retentionMs, maxFinished } = this.opts;
    const keeps = `the relay keeps finished tasks for ${formatDuration(retentionMs)}, at most ${maxFinished} of them and ${this.opts.maxFinishedBytes} bytes (relay --task-retention, --max-finished-tasks, --max-finished-bytes)`;
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
