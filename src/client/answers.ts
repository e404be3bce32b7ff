/**
 * The answers of the hot one-shot commands checked by hand: for an answer its schema accepts, exactly the
 * schema's output (its fields in its order, unknown ones dropped, arrays copied); anything else gives
 * undefined, and the schema then parses it, so a refusal reads the same. A command whose answer passes
 * never loads `protocol/schemas.ts` (1.4-1.7 ms) nor builds and runs the schema (1.4-2.3 ms).
 * Loops and `typeof`, no regular expression or array method: the first of either costs a fresh process
 * 0.3-0.5 ms. `test/unit/quick-checks.test.ts` holds each check to its schema.
 */
import { isAgentName } from "../config";
import type { Agent, Health, Sent } from "../protocol/schemas";

type Fields = Record<string, unknown>;

const isObject = (x: unknown): x is Fields => typeof x === "object" && x !== null;
const isNumber = (x: unknown): x is number => typeof x === "number" && x === x;
/** `Id`: a string of 1 to 64 characters. */
const isId = (x: unknown): x is string => typeof x === "string" && x.length >= 1 && x.length <= 64;
const isStatus = (x: unknown) => x === "listening" || x === "online" || x === "idle" || x === "stale";

/** An agent's record as `Agent` outputs it, written into `out`; false when the schema would refuse it. */
function agentInto(r: Fields, out: Fields): boolean {
  const { id, name, caps, description, machine, status, connected, registered_at, last_seen } = r;
  if (!isId(id) || typeof name !== "string" || !isAgentName(name) || !Array.isArray(caps)) return false;
  const copy: string[] = [];
  for (let i = 0; i < caps.length; i++) {
    if (typeof caps[i] !== "string") return false;
    copy[i] = caps[i];
  }
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

/** `AgentList`'s output, or undefined. */
export function agentListOf(raw: unknown): { agents: Agent[] } | undefined {
  if (!isObject(raw) || !Array.isArray(raw.agents)) return undefined;
  const list = raw.agents;
  const agents: Agent[] = [];
  for (let i = 0; i < list.length; i++) {
    const agent = agentOf(list[i]);
    if (!agent) return undefined;
    agents[i] = agent;
  }
  return { agents };
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
