/**
 * The answers of the hot one-shot commands checked by hand: for an answer its schema accepts, exactly the
 * schema's output (its fields in its order, unknown ones dropped, arrays copied); anything else gives
 * undefined, and the schema then parses it, so a refusal reads the same. A command whose answer passes
 * never loads `protocol/schemas.ts` (1.4-1.7 ms) nor builds and runs the schema (1.4-2.3 ms).
 * Loops and `typeof`, no regular expression or array method: the first of either costs a fresh process
 * 0.3-0.5 ms. `test/unit/quick-checks.test.ts` holds each check to its schema.
 */
import { isAgentName, stringsOf } from "../quick-checks";
import { LIMIT } from "../protocol/constants";
import type { Agent, Health, Message, Sent } from "../protocol/schemas";

type Fields = Record<string, unknown>;

const isObject = (x: unknown): x is Fields => typeof x === "object" && x !== null;
const isNumber = (x: unknown): x is number => typeof x === "number" && x === x;
/** `Id`: a string of 1 to 64 characters. */
const isId = (x: unknown): x is string => typeof x === "string" && x.length >= 1 && x.length <= 64;
const isStatus = (x: unknown) => x === "listening" || x === "online" || x === "idle" || x === "stale";

/** An agent's record as `Agent` outputs it, written into `out`; false when the schema would refuse it. */
function agentInto(r: Fields, out: Fields): boolean {
  const { id, name, caps, description, machine, status, connected, registered_at, last_seen } = r;
  const copy = stringsOf(caps);
  if (!isId(id) || typeof name !== "string" || !isAgentName(name) || !copy) return false;
  if (typeof description !== "string" || typeof machine !== "string" || !isStatus(status) || typeof connected !== "boolean") return false;
  if (typeof registered_at !== "string" || typeof last_seen !== "string") return false;
  out.id = id;
  out.name = name;
  out.caps = copy;
  out.description = description;
  out.machine = machine;
  out.status = status;
  out.connected = connected;
  out.registered_at = registered_at;
  out.last_seen = last_seen;
  return true;
}

/** `Agent`'s output, or undefined. */
export function agentOf(raw: unknown): Agent | undefined {
  const out: Fields = {};
  return isObject(raw) && agentInto(raw, out) ? (out as Agent) : undefined;
}

/** The items of `raw[key]`, each as `itemOf` outputs it, or undefined if any is refused. */
function itemsOf<T>(raw: unknown, key: string, itemOf: (item: unknown) => T | undefined): T[] | undefined {
  if (!isObject(raw)) return undefined;
  const list = raw[key];
  if (!Array.isArray(list)) return undefined;
  const items: T[] = [];
  for (let i = 0; i < list.length; i++) {
    const item = itemOf(list[i]);
    if (item === undefined) return undefined;
    items[i] = item;
  }
  return items;
}

/** `AgentList`'s output, or undefined. */
export function agentListOf(raw: unknown): { agents: Agent[] } | undefined {
  const agents = itemsOf(raw, "agents", agentOf);
  return agents && { agents };
}

/** `Heartbeat`'s output (the agent's record, `pending`, `in_flight`), or undefined. */
export function heartbeatOf(raw: unknown): (Agent & { pending: number; in_flight?: number }) | undefined {
  const out: Fields = {};
  if (!isObject(raw) || !agentInto(raw, out) || !isNumber(raw.pending)) return undefined;
  out.pending = raw.pending;
  if ("in_flight" in raw) {
    if (!isNumber(raw.in_flight)) return undefined;
    out.in_flight = raw.in_flight;
  }
  return out as Agent & { pending: number; in_flight?: number };
}

/** `Health`'s output, or undefined. */
export function healthOf(raw: unknown): Health | undefined {
  if (!isObject(raw)) return undefined;
  const { ok, version, agents, store, relays } = raw;
  if (typeof ok !== "boolean" || typeof version !== "string" || !isNumber(agents)) return undefined;
  const out: Fields = { ok, version, agents };
  if ("store" in raw) {
    if (store !== "memory" && store !== "sqlite" && store !== "redis") return undefined;
    out.store = store;
  }
  if ("relays" in raw) {
    if (!isNumber(relays)) return undefined;
    out.relays = relays;
  }
  return out as Health;
}

/** `Sent`'s output (what the relay answers a message sent), or undefined. */
export function sentOf(raw: unknown): Sent | undefined {
  if (!isObject(raw) || !isId(raw.id)) return undefined;
  const out: Fields = { id: raw.id };
  if ("recipients" in raw) {
    if (!isNumber(raw.recipients)) return undefined;
    out.recipients = raw.recipients;
  }
  if ("to" in raw) {
    if (raw.to !== null && !isId(raw.to)) return undefined;
    out.to = raw.to;
  }
  if ("duplicate" in raw) {
    if (typeof raw.duplicate !== "boolean") return undefined;
    out.duplicate = raw.duplicate;
  }
  return out as Sent;
}

/** `{ acked: number }`, what an ack answers, or undefined. */
export function ackedOf(raw: unknown): { acked: number } | undefined {
  return isObject(raw) && isNumber(raw.acked) ? { acked: raw.acked } : undefined;
}

/** `nestsWithin` of the schemas, as a loop over the keys. */
function nests(value: unknown, max: number): boolean {
  if (typeof value !== "object" || value === null) return true;
  if (max === 0) return false;
  const o = value as Fields;
  for (const key in o) if (Object.hasOwn(o, key) && !nests(o[key], max - 1)) return false;
  return true;
}

/** `JsonObject`'s output: a plain object (not an array), nested at most `LIMIT.jsonDepth` deep, copied one level without the keys valibot drops. */
function jsonObjectOf(x: unknown): Fields | undefined {
  if (!isObject(x) || Array.isArray(x) || !nests(x, LIMIT.jsonDepth)) return undefined;
  const out: Fields = {};
  for (const key in x) if (Object.hasOwn(x, key) && key !== "__proto__" && key !== "prototype" && key !== "constructor") out[key] = x[key];
  return out;
}

const isPriority = (x: unknown) => x === "urgent" || x === "high" || x === "normal" || x === "low";
const isTaskState = (x: unknown) => x === "queued" || x === "delivered" || x === "working" || x === "completed" || x === "failed" || x === "canceled" || x === "expired";
const isFileAction = (x: unknown) => x === "put" || x === "delete" || x === "lock" || x === "unlock";

/** An optional field: absent, or present and passing `is`, copied into `out`; false when present and failing. */
function optional(r: Fields, out: Fields, key: string, is: (x: unknown) => boolean): boolean {
  if (!(key in r)) return true;
  if (!is(r[key])) return false;
  out[key] = r[key];
  return true;
}

const isString = (x: unknown) => typeof x === "string";
const isBoolean = (x: unknown) => typeof x === "boolean";

/** One inbox message as `Message` (a variant on `type`) outputs it, or undefined. */
export function messageOf(raw: unknown): Message | undefined {
  if (!isObject(raw)) return undefined;
  const r = raw;
  const { type, id, from, to, created_at } = r;
  if (!isId(id) || !isId(from) || (to !== null && !isId(to)) || typeof created_at !== "string") return undefined;
  const out: Fields = { type, id, from, to, created_at };
  if (type === "task") {
    const context = jsonObjectOf(r.context);
    if (typeof r.task !== "string" || !context || !isPriority(r.priority) || !isNumber(r.attempt)) return undefined;
    out.task = r.task;
    out.context = context;
    out.priority = r.priority;
    out.attempt = r.attempt;
    if (!optional(r, out, "redelivered", isBoolean) || !isNumber(r.lease_s)) return undefined;
    out.lease_s = r.lease_s;
  } else if (type === "response") {
    if (!isId(r.in_reply_to) || (r.status !== "completed" && r.status !== "failed") || typeof r.result !== "string") return undefined;
    out.in_reply_to = r.in_reply_to;
    out.status = r.status;
    out.result = r.result;
  } else if (type === "progress") {
    if (!isId(r.in_reply_to) || typeof r.note !== "string") return undefined;
    out.in_reply_to = r.in_reply_to;
    out.note = r.note;
  } else if (type === "broadcast") {
    const tags = stringsOf(r.tags);
    if (typeof r.content !== "string" || typeof r.topic !== "string" || !tags) return undefined;
    out.content = r.content;
    out.topic = r.topic;
    out.tags = tags;
  } else if (type === "status") {
    if (!isId(r.task_id) || !isTaskState(r.state) || typeof r.note !== "string") return undefined;
    out.task_id = r.task_id;
    out.state = r.state;
    out.note = r.note;
  } else if (type === "file") {
    if (typeof r.key !== "string" || !isNumber(r.version) || typeof r.by !== "string" || !isFileAction(r.action)) return undefined;
    out.key = r.key;
    out.version = r.version;
    out.by = r.by;
    out.action = r.action;
    const rest = optional(r, out, "size", isNumber) && optional(r, out, "sha256", isString) && optional(r, out, "merged", isBoolean) && optional(r, out, "until", isString) && optional(r, out, "expired", isBoolean);
    if (!rest) return undefined;
  } else return undefined;
  return out as Message;
}

/** `Inbox`'s output (what a poll answers), or undefined. */
export function inboxOf(raw: unknown): { messages: Message[] } | undefined {
  const messages = itemsOf(raw, "messages", messageOf);
  return messages && { messages };
}
