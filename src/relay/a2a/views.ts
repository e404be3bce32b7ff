/** ClawLink tasks as A2A sees them: pure functions from the relay's task view to A2A Task, status and artifact objects. */
import type { A2AState } from "../../protocol/a2a";
import type { Task, TaskState } from "../../protocol/schemas";

const STATES: Record<TaskState, A2AState> = {
  queued: "TASK_STATE_SUBMITTED",
  delivered: "TASK_STATE_SUBMITTED",
  working: "TASK_STATE_WORKING",
  completed: "TASK_STATE_COMPLETED",
  failed: "TASK_STATE_FAILED",
  canceled: "TASK_STATE_CANCELED",
  expired: "TASK_STATE_FAILED",
};

export const a2aState = (t: Task): A2AState => STATES[t.state];

/** ClawLink states behind each A2A state, for ListTasks' status filter. */
export function clawlinkStates(state: A2AState): TaskState[] {
  return (Object.keys(STATES) as TaskState[]).filter((s) => STATES[s] === state);
}

/** Where SendMessage keeps the A2A side of a task, in the task's context. */
export interface Origin {
  contextId?: string;
  messageId?: string;
}

export function originOf(t: Task): Origin {
  const a2a = t.context.a2a;
  return typeof a2a === "object" && a2a !== null && !Array.isArray(a2a) ? (a2a as Origin) : {};
}

/** The client's contextId when it gave one; otherwise the task is its own context. */
export const contextIdOf = (t: Task): string => (typeof originOf(t).contextId === "string" ? originOf(t).contextId! : t.id);

function agentMessage(t: Task, text: string) {
  return { messageId: `${t.id}.${t.history.length}`, contextId: contextIdOf(t), taskId: t.id, role: "ROLE_AGENT", parts: [{ text }] };
}

/** What the status says in words: the failure or the reason a task ended, or the latest progress note. */
function statusText(t: Task): string | undefined {
  const note = t.history.at(-1)?.note ?? "";
  switch (t.state) {
    case "failed":
      return t.result || note || "the agent reported failure";
    case "expired":
      return `expired: ${note || "not delivered in time"}`;
    case "working":
      return t.note || note || undefined;
    case "canceled":
      return note || undefined;
    default:
      return undefined;
  }
}

export function statusOf(t: Task) {
  const text = statusText(t);
  return { state: a2aState(t), ...(text ? { message: agentMessage(t, text) } : {}), timestamp: t.updated_at };
}

/** The answer of a completed task, as its one artifact. */
export function artifactOf(t: Task) {
  if (t.state !== "completed" || t.result === null) return undefined;
  return { artifactId: `${t.id}.result`, name: "result", parts: [{ text: t.result }] };
}

export interface ViewOptions {
  /** 0 leaves out the history (the message that started the task). */
  historyLength?: number;
  artifacts?: boolean;
}

export function a2aTask(t: Task, opts: ViewOptions = {}) {
  const artifact = artifactOf(t);
  const contextId = contextIdOf(t);
  const asked = { messageId: originOf(t).messageId ?? t.id, contextId, taskId: t.id, role: "ROLE_USER", parts: [{ text: t.task }] };
  return {
    id: t.id,
    contextId,
    status: statusOf(t),
    ...(opts.artifacts === false ? {} : { artifacts: artifact ? [artifact] : [] }),
    ...(opts.historyLength === 0 ? {} : { history: [asked] }),
    metadata: { clawlink: { state: t.state, from: t.from, to: t.to, cap: t.cap, priority: t.priority, attempts: t.attempts } },
  };
}
