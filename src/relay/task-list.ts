/** `GET /v1/tasks`: an agent's tasks filtered and cut into pages, oldest first, with an opaque cursor. */
import type { Task, TaskState } from "../protocol/schemas";
import type { TaskRecord } from "./store";
import { taskView } from "./views";

export interface TaskFilter {
  state?: TaskState;
  role?: "sent" | "held";
}

/** At most `limit` tasks, starting after the task `after` (a decoded cursor). */
export interface PageRequest {
  limit: number;
  after?: string;
}

export interface TaskPage {
  tasks: Task[];
  next_cursor: string | null;
}

/** A page cursor: opaque to clients, the id of the last task on the page to the relay. */
export const encodeCursor = (taskId: string) => Buffer.from(`after:${taskId}`).toString("base64url");

/** The task id a cursor names, or undefined for a cursor this relay did not give out. */
export function decodeCursor(cursor: string): string | undefined {
  const text = Buffer.from(cursor, "base64url").toString();
  return /^after:t_[0-9a-z]{1,62}$/.test(text) ? text.slice("after:".length) : undefined;
}

/** The agent's tasks that pass the filter and come after the task `after`, oldest first (ids sort by creation). */
export function matching(all: Iterable<TaskRecord>, agentId: string, filter: TaskFilter, after?: string): TaskRecord[] {
  const picked: TaskRecord[] = [];
  for (const task of all) {
    if (after !== undefined && task.id <= after) continue;
    if (filter.state && task.state !== filter.state) continue;
    if (filter.role === "sent" && task.from !== agentId) continue;
    if (filter.role === "held" && task.to !== agentId) continue;
    picked.push(task);
  }
  return picked.sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** A page: the next `limit` of those tasks after the cursor. */
export function pageOf(all: Iterable<TaskRecord>, agentId: string, filter: TaskFilter, page: PageRequest): TaskPage {
  const picked = matching(all, agentId, filter, page.after);
  const tasks = picked.slice(0, page.limit).map(taskView);
  return { tasks, next_cursor: picked.length > page.limit ? encodeCursor(tasks[tasks.length - 1]!.id) : null };
}
