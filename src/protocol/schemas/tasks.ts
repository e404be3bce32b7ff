/** A task as the relay records it (`GET /v1/tasks/{id}`, task watches), its holder, and a page of tasks. */
import * as v from "valibot";
import { Deferred, built, whenRead } from "../deferred";
import { AgentStatus } from "./agents";
import { Id, JsonObject, Priority, TaskState, Timestamp } from "./primitives";

/**
 * A task's holder as its sender sees it. `online` is true while it listens or was seen in the last
 * 30 s; `since`: listening since, last seen at, or offline since (its socket closed).
 */
export const Holder = new Deferred(() => v.object({
  id: Id,
  name: v.string(),
  status: built(AgentStatus),
  online: v.boolean(),
  since: Timestamp,
}), whenRead);
export type Holder = v.InferOutput<typeof Holder>;

export const TaskTransition = new Deferred(() => v.object({ state: built(TaskState), at: Timestamp, note: v.string() }), whenRead);
export const Task = new Deferred(() => v.object({
  id: Id,
  from: Id,
  to: v.nullable(Id),
  cap: v.nullable(v.string()),
  task: v.string(),
  /** The sender's context object, as given with the task. */
  context: v.optional(built(JsonObject), {}),
  priority: built(Priority),
  state: built(TaskState),
  attempts: v.number(),
  lease_s: v.number(),
  ttl_s: v.nullable(v.number()),
  created_at: Timestamp,
  updated_at: Timestamp,
  /** Its first entries and its latest; `history_dropped` counts those left out between them. */
  history: v.array(built(TaskTransition)),
  history_dropped: v.optional(v.number(), 0),
  /** The holder's latest progress note; null until it sends one. */
  note: v.optional(v.nullable(v.string()), null),
  result: v.nullable(v.string()),
  /** Who holds it now, whether it can be reached, and since when (on `GET /v1/tasks/{id}` and task watches). */
  holder: v.optional(v.nullable(built(Holder))),
}), whenRead);
export type Task = v.InferOutput<typeof Task>;
/**
 * A page of `GET /v1/tasks`: `limit` tasks at most (`LIMIT.taskPageDefault` unless asked), cut short once
 * the page passes `LIMIT.taskPageBytes` (it always holds one task), and the cursor of the next page, null on the last.
 */
export const TaskList = new Deferred(() => v.object({ tasks: v.array(built(Task)), next_cursor: v.optional(v.nullable(v.string()), null) }), whenRead);
export type TaskList = v.InferOutput<typeof TaskList>;
