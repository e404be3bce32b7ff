/** Records as the wire shows them: pure functions from what the store keeps to what schemas.ts describes. */
import type { Agent, AgentStatus, Holder, ResponseMessage, Task } from "../../protocol/schemas";
import { iso } from "../clock";
import { canReceive, socketGone } from "../store/rules";
import type { AgentRecord, TaskRecord } from "../store/port";

/** Connected to some relay, or seen lately. */
export const isOnline = (rec: AgentRecord, now: number, staleAfterMs: number) => rec.conns.length > 0 || now - rec.lastSeen < staleAfterMs;

/** How long an agent seen over HTTP counts as able to receive a task now (`--cap` routes only to those). */
export const REACHABLE_MS = 30_000;

export function agentStatus(rec: AgentRecord, now: number, staleAfterMs: number): AgentStatus {
  if (rec.conns.length > 0) return "listening";
  if (!isOnline(rec, now, staleAfterMs)) return "stale";
  return canReceive(rec, now, REACHABLE_MS) ? "online" : "idle";
}

/** A task's holder as its sender sees it: reachable or not, and since when. */
export function holderView(rec: AgentRecord, now: number, staleAfterMs: number): Holder {
  const status = agentStatus(rec, now, staleAfterMs);
  const since = status === "listening" ? (rec.connectedAt ?? rec.lastSeen) : socketGone(rec) ? rec.disconnectedAt! : rec.lastSeen;
  return { id: rec.id, name: rec.name, status, online: status === "listening" || status === "online", since: iso(since) };
}

export function agentView(rec: AgentRecord, now: number, staleAfterMs: number): Agent {
  const connected = rec.conns.length > 0;
  return {
    id: rec.id,
    name: rec.name,
    caps: rec.caps as string[],
    description: rec.description,
    machine: rec.machine,
    status: agentStatus(rec, now, staleAfterMs),
    connected,
    registered_at: iso(rec.registeredAt),
    last_seen: iso(connected ? now : rec.lastSeen),
  };
}

export function responseMessage(task: TaskRecord, id: string, status: "completed" | "failed", result: string, at: number): ResponseMessage {
  return { type: "response", id, from: task.to!, to: task.from, created_at: iso(at), in_reply_to: task.id, status, result };
}

/** The response a finished task ended with, as its watchers see it. */
export function finalResponse(task: TaskRecord): ResponseMessage | null {
  if (!task.responseId || (task.state !== "completed" && task.state !== "failed")) return null;
  return responseMessage(task, task.responseId, task.state, task.result ?? "", task.updatedAt);
}

/** A task as the wire shows it; with `holder`, who holds it and whether it can be reached. */
export function taskView(task: TaskRecord, holder?: Holder | null): Task {
  return {
    id: task.id,
    from: task.from,
    to: task.to,
    cap: task.cap,
    task: task.task,
    context: task.context as Record<string, unknown>,
    priority: task.priority,
    state: task.state,
    attempts: task.attempts,
    lease_s: task.leaseS,
    ttl_s: task.ttlS,
    created_at: iso(task.createdAt),
    updated_at: iso(task.updatedAt),
    history: task.history.map((h) => ({ state: h.state, at: iso(h.at), note: h.note })),
    history_dropped: task.historyDropped ?? 0,
    note: task.note ?? null,
    result: task.result,
    ...(holder !== undefined ? { holder } : {}),
  };
}
