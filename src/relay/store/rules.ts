/**
 * Rules every store implementation applies the same way inside its operations (a Redis store mirrors
 * them in the Lua fragments its scripts include): which messages replace each other, what a message
 * weighs against the byte budgets, what a task's change tells whom.
 */
import type { Message, TaskState } from "../../protocol/schemas";
import { iso } from "../clock";
import { newSortableId } from "../ids";
import type { NewEntry, TaskChange, TaskRecord } from "./port";

/** The sender of what the relay itself says (status messages, leases that ran out). */
export const RELAY = "relay";

/** An unread message replaces an unread one with the same key for the same recipient: a task's progress notes, and its status. */
export function coalesceKey(msg: Message): string | null {
  if (msg.type === "progress") return `p:${msg.in_reply_to}`;
  if (msg.type === "status") return `s:${msg.task_id}`;
  return null;
}

/** The task (or message) a message answers or reports on; indexed, so settling a task's messages never scans a queue. */
export function aboutOf(msg: Message): string | null {
  if (msg.type === "progress" || msg.type === "response") return msg.in_reply_to;
  if (msg.type === "status") return msg.task_id;
  return null;
}

/** Room an envelope takes beyond its text fields. */
const ENVELOPE = 160;
const utf8Length = (s: string) => (s.length < 64 ? s.length : Buffer.byteLength(s));

/** What a message weighs against the byte budgets: its text fields in UTF-8 plus an envelope. */
export function messageBytes(msg: Message): number {
  switch (msg.type) {
    case "task": {
      let ctx = 2;
      for (const _ in msg.context) {
        ctx = utf8Length(JSON.stringify(msg.context));
        break;
      }
      return ENVELOPE + utf8Length(msg.task) + ctx;
    }
    case "response":
      return ENVELOPE + utf8Length(msg.result);
    case "progress":
    case "status":
      return ENVELOPE + utf8Length(msg.note);
    case "broadcast":
      return ENVELOPE + utf8Length(msg.content) + utf8Length(msg.topic) + msg.tags.reduce((n, t) => n + 3 + utf8Length(t), 0);
    case "file":
      return ENVELOPE + utf8Length(msg.key);
  }
}

const FINAL: ReadonlySet<TaskState> = new Set(["completed", "failed", "canceled", "expired"]);
export const isFinal = (state: TaskState) => FINAL.has(state);

export const notes = {
  attempt: (n: number) => `attempt ${n}`,
  leaseRanOut: (leaseS: number) => `lease of ${leaseS}s ran out before an ack; queued again`,
  ttl: (ttlS: number) => `not delivered within its ttl of ${ttlS}s`,
};

/** A task record made immutable: the store hands it out as a value. */
export function frozenTask(task: TaskRecord): TaskRecord {
  Object.freeze(task.history);
  return Object.freeze(task);
}

/** The record after `change`: a state given (even the same one, as a redelivery) gets a history entry; none, only the patch. */
export function applyChange(task: TaskRecord, change: Pick<TaskChange, "state" | "note" | "at" | "result" | "responseId">, patch?: Partial<TaskRecord>): TaskRecord {
  return frozenTask({
    ...task,
    ...patch,
    ...(change.result !== undefined ? { result: change.result } : {}),
    ...(change.responseId !== undefined ? { responseId: change.responseId } : {}),
    state: change.state ?? task.state,
    updatedAt: change.state !== undefined || change.result !== undefined ? change.at : task.updatedAt,
    history: change.state !== undefined ? [...task.history, { state: change.state, at: change.at, note: change.note }] : task.history,
  });
}

/**
 * What a task's move to `state` tells: its sender always, and its holder too when a task it may be
 * working on was called off (canceled or expired after delivery).
 */
export function notices(task: TaskRecord, state: TaskState, note: string, at: number): NewEntry[] {
  const status: Message = { type: "status", id: newSortableId("m"), from: RELAY, to: task.from, created_at: iso(at), task_id: task.id, state, note };
  const out: NewEntry[] = [{ to: task.from, priority: task.priority, msg: status }];
  if ((state === "canceled" || state === "expired") && task.to && task.attempts > 0) {
    out.push({ to: task.to, priority: task.priority, msg: { ...status, id: newSortableId("m"), to: task.to } });
  }
  return out;
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
    context: task.context as Record<string, unknown>,
    priority: task.priority,
    attempt: task.attempts,
    lease_s: task.leaseS,
  };
}
