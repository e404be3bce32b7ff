/** Messages, relay → agent: a task, its response, progress and status, a broadcast, a file's change; and an inbox of them. */
import * as v from "valibot";
import { Deferred, built, whenRead } from "../deferred";
import { Id, JsonObject, Priority, TaskState, Timestamp } from "./primitives";

const envelope = () => ({
  id: Id,
  from: Id,
  to: v.nullable(Id),
  created_at: Timestamp,
});

export const TaskMessage = new Deferred(() => v.object({
  type: v.literal("task"),
  ...envelope(),
  task: v.string(),
  context: built(JsonObject),
  priority: built(Priority),
  /** 1 on the first delivery; more when the task was handed out again (the holder did not acknowledge it, or went offline). */
  attempt: v.number(),
  /** Set on every delivery after the first: the work may have been started already. */
  redelivered: v.optional(v.boolean()),
  lease_s: v.number(),
}), whenRead);
export const ResponseMessage = new Deferred(() => v.object({
  type: v.literal("response"),
  ...envelope(),
  in_reply_to: Id,
  status: v.picklist(["completed", "failed"]),
  result: v.string(),
}), whenRead);
export const ProgressMessage = new Deferred(() => v.object({
  type: v.literal("progress"),
  ...envelope(),
  in_reply_to: Id,
  note: v.string(),
}), whenRead);
export const BroadcastMessage = new Deferred(() => v.object({
  type: v.literal("broadcast"),
  ...envelope(),
  content: v.string(),
  topic: v.string(),
  tags: v.array(v.string()),
}), whenRead);
export const StatusMessage = new Deferred(() => v.object({
  type: v.literal("status"),
  ...envelope(),
  task_id: Id,
  state: built(TaskState),
  note: v.string(),
}), whenRead);
export const FILE_ACTIONS = ["put", "delete", "lock", "unlock"] as const;
/** A change to a shared file, sent to every other agent. */
export const FileMessage = new Deferred(() => v.object({
  type: v.literal("file"),
  ...envelope(),
  key: v.string(),
  /** put: the new version; delete: the last version; lock, unlock: the latest version (0 if none). */
  version: v.number(),
  /** The name of the agent that made the change (for an expired lease, its holder). */
  by: v.string(),
  action: v.picklist(FILE_ACTIONS),
  /** put: the new version's size and sha256, and whether the relay merged it. */
  size: v.optional(v.number()),
  sha256: v.optional(v.string()),
  merged: v.optional(v.boolean()),
  /** lock: when the lease ends. */
  until: v.optional(Timestamp),
  /** unlock: the lease ran out instead of being released. */
  expired: v.optional(v.boolean()),
}), whenRead);
export type FileMessage = v.InferOutput<typeof FileMessage>;

export const Message = new Deferred(() => v.variant("type", [
  built(TaskMessage),
  built(ResponseMessage),
  built(ProgressMessage),
  built(BroadcastMessage),
  built(StatusMessage),
  built(FileMessage),
]), whenRead);
export type Message = v.InferOutput<typeof Message>;
export type TaskMessage = v.InferOutput<typeof TaskMessage>;
export type ResponseMessage = v.InferOutput<typeof ResponseMessage>;
export type MessageType = Message["type"];
export const MESSAGE_TYPES = ["task", "response", "progress", "broadcast", "status", "file"] as const satisfies readonly MessageType[];
/** `listen --type` and the inbox stream's `types` filter: a comma-separated list of message types. */
export const MessageTypes = new Deferred(() => v.pipe(
  v.string(),
  v.transform((s) => s.split(",").map((t) => t.trim()).filter(Boolean)),
  v.minLength(1, "name at least one message type"),
  v.check((ts) => ts.every((t) => (MESSAGE_TYPES as readonly string[]).includes(t)), `message types are ${MESSAGE_TYPES.join(", ")}`),
), whenRead);

export const Inbox = new Deferred(() => v.object({ messages: v.array(built(Message)) }), whenRead);
