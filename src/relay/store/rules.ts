/**
 * Rules every store implementation applies the same way inside its operations (a Redis store mirrors
 * them in the Lua fragments its scripts include): which messages replace each other, what a message
 * weighs against the byte budgets, what a task's change tells whom.
 */
import { messageJson } from "../../protocol/codec";
import type { Message, TaskState } from "../../protocol/schemas";
import { iso } from "../clock";
import { newSortableId } from "../ids";
import type { AgentRecord, LivenessRules, NewEntry, TaskChange, TaskRecord } from "./port";

/** The sender of what the relay itself says (status messages, leases that ran out). */
export const RELAY = "relay";

/** An unread progress note or status replaces the recipient's unread one of the same type about the same task. */
export const coalesces = (msg: Message) => msg.type === "progress" || msg.type === "status";

/** The task (or message) a message answers or reports on; indexed when it is a task, so settling a task's messages never scans a queue. */
export function aboutOf(msg: Message): string | null {
  if (msg.type === "progress" || msg.type === "response") return msg.in_reply_to;
  if (msg.type === "status") return msg.task_id;
  return null;
}

/** A queued message's JSON, kept for the socket that sends it; not a task's, which goes out as a new message with its attempt. */
export const messageText = (msg: Message): string => (msg.type === "task" ? JSON.stringify(msg) : messageJson(msg));

/** What a message weighs against the byte budgets: its size as sent on the wire, measured once, when it is first queued. */
export const messageBytes = (msg: Message): number => Buffer.byteLength(messageText(msg));

/**
 * The share of the relay-wide and per-recipient byte budgets kept for what answers a sender (responses,
 * progress, status, and whatever the relay itself says): new tasks and broadcasts stop short of it, so
 * a budget filled by one recipient that never reads still lets every task in flight be answered.
 */
export const REPLY_RESERVE = 1 / 8;
export const usesReserve = (msg: Message) => msg.type === "response" || msg.type === "progress" || msg.type === "status" || msg.from === RELAY;
/** The part of `limit` that `msg` may fill. */
export const shareOf = (msg: Message, limit: number) => (usesReserve(msg) ? limit : Math.floor(limit * (1 - REPLY_RESERVE)));

/** What a finished task weighs while it is kept: its message and its result. */
export const finishedBytes = (queuedWeight: number, task: TaskRecord) => queuedWeight + (task.result === null ? 0 : Buffer.byteLength(task.result));

/** A task's history keeps its first entries and its latest; those in between are counted (`historyDropped`), not kept. */
export const HISTORY = { first: 8, last: 24 } as const;

const FINAL: ReadonlySet<TaskState> = new Set(["completed", "failed", "canceled", "expired"]);
export const isFinal = (state: TaskState) => FINAL.has(state);

/** The agent the task was last handed out to; a record kept before `handedTo` was counts its holder once it was attempted. */
export const receivedBy = (task: TaskRecord): string | null => (task.handedTo !== undefined ? task.handedTo : task.attempts > 0 ? task.to : null);

/** The last note made for a name: a stream of tasks to one agent shares one string in their histories. */
let queuedNote = { name: "", note: "" };

export const notes = {
  queuedFor: (name: string) => (queuedNote.name === name ? queuedNote.note : (queuedNote = { name, note: `for ${name}` }).note),
  waitingFor: (cap: string) => `waiting for an agent with ${cap}`,
  attempt: (n: number) => `attempt ${n}`,
  leaseRanOut: (leaseS: number) => `lease of ${leaseS}s ran out before an ack; queued again`,
  ttl: (ttlS: number) => `not delivered within its ttl of ${ttlS}s`,
  /** `holder bob went offline; reassigned to carol` (or what happens instead): what `delegate --wait` prints. */
  holderLost: (name: string, next: string | null, cap: string | null) =>
    `holder ${name} went offline; ${next ? `reassigned to ${next}` : cap ? `waiting for an agent with ${cap}` : `delivered again when ${name} returns`}`,
};

/** Its last socket closed and nothing came from it since. */
export const socketGone = (a: AgentRecord) => a.conns.length === 0 && a.disconnectedAt != null && a.lastSeen <= a.disconnectedAt;

/** Connected, or seen over HTTP within `reachableMs` (not just a socket that closed): a task routed to it now would be taken soon. */
export const canReceive = (a: AgentRecord, now: number, reachableMs: number) => a.conns.length > 0 || (!socketGone(a) && now - a.lastSeen < reachableMs);

/**
 * Whether the holder of an unfinished task is gone (it has no connection): its last socket closed
 * past the grace with no sign of life since; or, an HTTP holder, nothing from it or about the task
 * (delivery, progress) for the task's lease. A task still queued for it moves only if it was routed
 * by capability and its holder cannot receive now.
 */
export function lost(task: TaskRecord, holder: AgentRecord, now: number, rules: LivenessRules): boolean {
  if (holder.conns.length > 0) return false;
  const off = holder.disconnectedAt ?? 0;
  const gone = socketGone(holder);
  if (task.state === "queued") return task.cap !== null && (gone ? now - off >= rules.graceMs : now - holder.lastSeen >= rules.reachableMs);
  if (gone) return now - off >= rules.graceMs;
  return now - Math.max(task.updatedAt, holder.lastSeen) >= task.leaseS * 1000;
}

/**
 * A record as the store hands it out: a value. The types make records read-only; under tests they
 * are frozen as well, so a change anywhere but in a store operation throws. (Freezing costs about a
 * microsecond a record in JavaScriptCore, too much for the hot path of a running relay.)
 */
export const frozen: <T>(value: T) => T = process.env.NODE_ENV === "test" ? (value) => Object.freeze(value) : (value) => value;

let firstHistory: { at: number; note: string; history: TaskRecord["history"] } = { at: NaN, note: "", history: [] };

/**
 * A new task's history, its one `queued` entry: tasks made in the same millisecond with the same note share
 * one array (a change copies it, records are never changed in place), so a stream of tasks keeps two objects fewer each.
 */
export function queuedHistory(at: number, note: string): TaskRecord["history"] {
  if (firstHistory.at !== at || firstHistory.note !== note) firstHistory = { at, note, history: frozen([frozen({ state: "queued" as const, at, note })]) };
  return firstHistory.history;
}

export function frozenTask(task: TaskRecord): TaskRecord {
  frozen(task.history);
  return frozen(task);
}

/** The record after `change`: a state given (even the same one, as a redelivery) gets a history entry; none, only the patch. */
export function applyChange(task: TaskRecord, change: Pick<TaskChange, "state" | "note" | "at" | "result" | "responseId" | "progress">, patch?: Partial<TaskRecord>): TaskRecord {
  const next = { ...task, ...patch };
  if (change.result !== undefined) next.result = change.result;
  if (change.responseId !== undefined) next.responseId = change.responseId;
  if (change.progress !== undefined) next.note = change.progress;
  if (change.state !== undefined) {
    next.state = change.state;
    const history = [...task.history, { state: change.state, at: change.at, note: change.note }];
    if (history.length > HISTORY.first + HISTORY.last) {
      history.splice(HISTORY.first, 1);
      next.historyDropped = (task.historyDropped ?? 0) + 1;
    }
    next.history = history;
  }
  if (change.state !== undefined || change.result !== undefined || change.progress !== undefined) next.updatedAt = change.at;
  return frozenTask(next);
}

/**
 * What a task's move to `state` tells: its sender always, and its holder too when a task it may be
 * working on was called off (canceled or expired after delivery).
 */
export function notices(task: TaskRecord, state: TaskState, note: string, at: number): NewEntry[] {
  const status: Message = { type: "status", id: newSortableId("m"), from: RELAY, to: task.from, created_at: iso(at), task_id: task.id, state, note };
  const out: NewEntry[] = [{ to: task.from, priority: task.priority, msg: status }];
  // Not an agent it was moved to that never received it (`receivedBy`).
  if ((state === "canceled" || state === "expired") && task.to && receivedBy(task) === task.to) {
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
