/** Sending, agent → relay: a task, a response, progress or a broadcast; what the relay answers; and acknowledging. */
import * as v from "valibot";
import { LIMIT } from "../constants";
import { Deferred, built, whenRead } from "../deferred";
import { Seconds, Text, ackFields } from "./_fields";
import { Capability, Id, JsonObject, Priority } from "./primitives";

/** `from`, when given, must be the authenticated agent; the relay fills it in otherwise. */
const sendBase = () => ({ from: v.optional(Id) });

export const SendTask = new Deferred(() => v.object({
  type: v.literal("task"),
  ...sendBase(),
  to: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(64))),
  cap: v.optional(Capability),
  task: v.pipe(v.string(), v.minLength(1, "task must not be empty"), v.maxLength(LIMIT.textLength)),
  context: v.optional(built(JsonObject), {}),
  priority: v.optional(built(Priority), "normal"),
  lease_s: v.optional(Seconds("lease_s", LIMIT.leaseS), LIMIT.leaseDefaultS),
  ttl_s: v.optional(Seconds("ttl_s", LIMIT.taskTtlS)),
  idempotency_key: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(LIMIT.idempotencyKeyLength))),
  /** With `cap`: when no agent has it yet, keep the task until one registers. */
  queue: v.optional(v.boolean(), false),
}), whenRead);
export const SendResponse = new Deferred(() => v.object({
  type: v.literal("response"),
  ...sendBase(),
  to: v.optional(Id),
  in_reply_to: Id,
  status: v.optional(v.picklist(["completed", "failed"], "status must be completed or failed"), "completed"),
  result: v.pipe(v.string(), v.maxLength(LIMIT.textLength)),
}), whenRead);
export const SendProgress = new Deferred(() => v.object({
  type: v.literal("progress"),
  ...sendBase(),
  in_reply_to: Id,
  note: v.optional(Text(LIMIT.noteLength, "note"), ""),
}), whenRead);
export const SendBroadcast = new Deferred(() => v.object({
  type: v.literal("broadcast"),
  ...sendBase(),
  content: v.pipe(v.string(), v.minLength(1, "content must not be empty"), v.maxLength(LIMIT.textLength)),
  topic: v.optional(Text(LIMIT.topicLength, "topic"), ""),
  tags: v.optional(v.pipe(v.array(Text(LIMIT.tagLength, "a tag")), v.maxLength(LIMIT.tags, `at most ${LIMIT.tags} tags`)), []),
}), whenRead);

export const SendMessage = new Deferred(() => v.variant(
  "type",
  [built(SendTask), built(SendResponse), built(SendProgress), built(SendBroadcast)],
  "type must be one of task, response, progress, broadcast",
), whenRead);
export type SendMessage = v.InferOutput<typeof SendMessage>;
export type SendTask = v.InferOutput<typeof SendTask>;

export const Sent = new Deferred(() => v.object({
  id: Id,
  recipients: v.optional(v.number()),
  to: v.optional(v.nullable(Id)),
  duplicate: v.optional(v.boolean()),
}), whenRead);
export type Sent = v.InferOutput<typeof Sent>;

export const AckRequest = new Deferred(() => v.object(ackFields()), whenRead);
