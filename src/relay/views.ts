/** Records as the wire shows them: pure functions from what the store keeps to what schemas.ts describes. */
import type { Message, ResponseMessage, Task } from "../protocol/schemas";
import type { TaskRecord } from "./store";

let lastMs = NaN;
let lastIso = "";

/** ISO 8601 time; messages made in the same millisecond share one string instead of formatting it again. */
export function iso(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** The message that carries a task to its holder, with its current attempt. */
export function taskMessage(task: TaskRecord): Message {
  return {
    type: "task",
    id: task.id,
    from: task.from,
    to: task.to,
    created_at: iso(task.createdAt),
    task: task.task,
    context: task.context,
    priority: task.priority,
    attempt: task.attempts,
    lease_s: task.leaseS,
  };
}

export function responseMessage(task: TaskRecord, id: string, status: "completed" | "failed", at: number): ResponseMessage {
  return { type: "response", id, from: task.to!, to: task.from, created_at: iso(at), in_reply_to: task.id, status, result: task.result ?? "" };
}

export function taskView(task: TaskRecord): Task {
  return {
    id: task.id,
    from: task.from,
    to: task.to,
    cap: task.cap,
    task: task.task,
    context: task.context,
    priority: task.priority,
    state: task.state,
    attempts: task.attempts,
    lease_s: task.leaseS,
    ttl_s: task.ttlS,
    created_at: iso(task.createdAt),
    updated_at: iso(task.updatedAt),
    history: task.history.map((h) => ({ state: h.state, at: iso(h.at), note: h.note })),
    note: task.note ?? null,
    result: task.result,
  };
}
