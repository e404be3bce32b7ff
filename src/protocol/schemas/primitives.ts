/** What every other schema is built from: names, capabilities and ids, priorities, task states, a JSON object. */
import * as v from "valibot";
import { LIMIT } from "../constants";
import { Deferred, whenRead } from "../deferred";

export const AGENT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const CAP_RE = /^[a-z0-9][a-z0-9._:/-]{0,63}$/;

export const AgentName = v.pipe(
  v.string(),
  v.regex(AGENT_NAME_RE, "a name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"),
);
export const Capability = v.pipe(
  v.string(),
  v.regex(CAP_RE, "a capability is 1-64 lowercase letters, digits or . _ : / - (e.g. code-review)"),
);
export const Id = v.pipe(v.string(), v.minLength(1), v.maxLength(64));

/** Agent ids are issued by the relay only: `a_` and 12 characters of lowercase Crockford base32. */
export const AGENT_ID_RE = /^a_[0-9abcdefghjkmnpqrstvwxyz]{12}$/;
export const AgentId = v.pipe(
  v.string(),
  v.regex(AGENT_ID_RE, "an agent id is issued by the relay (a_ and 12 lowercase letters or digits); leave out id and secret to register a new agent"),
);
/** `relay` is the sender of status messages; `a2a` is kept for the relay's A2A sender. */
export const RESERVED_NAMES: readonly string[] = ["relay", "a2a"];
/** A name an agent may register: not reserved, and not shaped like an id, so a name never stands for another agent's id. */
export const NewAgentName = new Deferred(() => v.pipe(
  AgentName,
  v.check((s) => !/^a_/i.test(s), "a name must not start with a_, which is how agent ids start"),
  v.check((s) => !RESERVED_NAMES.includes(s.toLowerCase()), `the names ${RESERVED_NAMES.join(" and ")} are reserved for the relay`),
), whenRead);
/** What to do about a name the relay refuses. */
export const NAME_HINT = "choose another --name: 1-64 letters, digits, '.', '_' or '-', not starting with a_, and not relay or a2a";
export const Timestamp = v.string(); // ISO 8601, UTC

export const PRIORITIES = ["urgent", "high", "normal", "low"] as const;
export const Priority = new Deferred(() => v.picklist(PRIORITIES, "priority must be one of low, normal, high, urgent"), whenRead);
export type Priority = v.InferOutput<typeof Priority>;

export const TASK_STATES = ["queued", "delivered", "working", "completed", "failed", "canceled", "expired"] as const;
export const TaskState = new Deferred(() => v.picklist(TASK_STATES, `a task state is one of ${TASK_STATES.join(", ")}`), whenRead);
export type TaskState = v.InferOutput<typeof TaskState>;
export const FINAL_STATES: ReadonlySet<TaskState> = new Set(["completed", "failed", "canceled", "expired"]);

/** True when `value` nests at most `max` objects or arrays deep; never looks further than that. */
export function nestsWithin(value: unknown, max: number): boolean {
  if (typeof value !== "object" || value === null) return true;
  if (max === 0) return false;
  for (const child of Object.values(value)) if (!nestsWithin(child, max - 1)) return false;
  return true;
}

/** A JSON object (never an array); deep nesting is refused because serializing it again could exhaust the stack. */
export const JsonObject = new Deferred(() => v.pipe(
  v.custom<Record<string, unknown>>((x) => typeof x === "object" && x !== null && !Array.isArray(x), "must be a JSON object, not an array or a value"),
  v.check((x) => nestsWithin(x, LIMIT.jsonDepth), `must not nest deeper than ${LIMIT.jsonDepth} levels`),
  v.record(v.string(), v.unknown()),
), whenRead);
