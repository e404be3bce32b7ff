/**
 * Query strings: each endpoint's parameters as a schema the relay parses them with, and the one way
 * the client writes them (`toQuery`), so both read the same names, values and ranges.
 */
import * as v from "valibot";
import { LIMIT } from "./constants";
import { Deferred, built, whenRead } from "./deferred";
import { Capability, Id, KeyPrefix, MessageTypes, TaskState } from "./schemas";

/** `true`, `false`, `1`, `0`, or the name alone (`?ack`), which means true. */
const Flag = () =>
  v.optional(
    v.pipe(
      v.picklist(["true", "false", "1", "0", ""], "must be true or false"),
      v.transform((s) => s !== "false" && s !== "0"),
    ),
  );
const Count = (name: string, min: number, max: number) =>
  v.pipe(
    v.string(),
    v.toNumber(`${name} must be a number`),
    v.integer(`${name} must be a whole number`),
    v.minValue(min, `${name} is at least ${min}`),
    v.maxValue(max, `${name} is at most ${max}`),
  );

/** `GET /v1/agents/{id}/inbox`. */
export const InboxQuery = new Deferred(() => v.object({
  wait: v.optional(v.pipe(v.string(), v.toNumber("wait must be a number of seconds"), v.minValue(0), v.maxValue(LIMIT.pollWaitS, `wait is at most ${LIMIT.pollWaitS} seconds`))),
  max: v.optional(Count("max", 1, LIMIT.pollMax)),
  ack: Flag(),
}), whenRead);
export type InboxQuery = v.InferOutput<typeof InboxQuery>;

/** `GET /v1/agents`. */
export const AgentsQuery = new Deferred(() => v.object({ cap: v.optional(Capability), all: Flag() }), whenRead);
export type AgentsQuery = v.InferOutput<typeof AgentsQuery>;

/** `GET /v1/tasks`; `cursor` is the `next_cursor` of the page before, passed back unchanged. */
export const TasksQuery = new Deferred(() => v.object({
  state: v.optional(built(TaskState)),
  role: v.optional(v.picklist(["sent", "held"], "role must be sent or held")),
  limit: v.optional(Count("limit", 1, LIMIT.taskPageMax)),
  cursor: v.optional(v.string()),
}), whenRead);
export type TasksQuery = v.InferOutput<typeof TasksQuery>;

/** `GET /v1/files`. */
export const FilesQuery = new Deferred(() => v.object({ prefix: v.optional(built(KeyPrefix)) }), whenRead);

/** `GET /v1/files/{key}`. */
export const FileQuery = new Deferred(() => v.object({
  version: v.optional(v.pipe(v.string(), v.toNumber("version must be a number"), v.integer("version must be a whole number"), v.minValue(1, "versions start at 1"))),
}), whenRead);

/** `GET /v1/ws`: the inbox; with `task`, one task's changes; with `files`, file messages under a prefix; with `types`, only those types. */
export const SocketQuery = new Deferred(() => v.object({
  task: v.optional(Id),
  files: v.optional(built(KeyPrefix)),
  types: v.optional(built(MessageTypes)),
}), whenRead);
export type SocketQuery = v.InferOutput<typeof SocketQuery>;
