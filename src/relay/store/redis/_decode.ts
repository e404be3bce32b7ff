/**
 * What the Redis store's scripts send and get back, as the port's values: arguments in, replies out.
 * Lua's JSON writes an empty list as `{}`, so lists are read back as lists here; a task's context is
 * kept apart, as it was sent, so Lua never rewrites it.
 */
import { TASK_STATES, type Message, type Priority, type TaskState } from "../../../protocol/schemas";
import { NO_EFFECTS, type AgentRecord, type Effects, type FileVersionMeta, type NewEntry, type QueuedMessage, type TaskRecord } from "../port";
import { aboutOf, coalesces, frozen, frozenTask, messageText } from "../rules";

export const list = <T>(x: unknown): T[] => (Array.isArray(x) ? (x as T[]) : []);

/** A message as a script queues it: its body as sent, with what the script needs to know of it. */
export function entryOf(e: NewEntry) {
  const body = messageText(e.msg);
  return {
    to: e.to,
    p: e.priority,
    id: e.msg.id,
    body,
    f: e.msg.from,
    t: e.msg.type,
    b: Buffer.byteLength(body),
    ab: aboutOf(e.msg) ?? "",
    co: coalesces(e.msg),
    key: e.msg.type === "file" ? e.msg.key : "",
    /** When it was sent: what expireUnread compares. */
    ca: Date.parse(e.msg.created_at),
  };
}

export type RawAgent = Omit<AgentRecord, "caps" | "conns"> & { caps: unknown; conns: unknown };

export const agentOf = (raw: RawAgent): AgentRecord => frozen({ ...raw, caps: frozen(list<string>(raw.caps)), conns: frozen(list<string>(raw.conns)) });

export const agentOrNone = (raw: RawAgent | null | undefined): AgentRecord | undefined => (raw ? agentOf(raw) : undefined);

export type RawTask = Omit<TaskRecord, "context" | "history"> & { history: unknown; _iso?: string; _ctx?: string; _w?: number };

/** A task record from a script (`_ctx` attached, or its context given as parsed beside it) or as kept (`storedTask`). */
export function taskOf(raw: RawTask, ctx?: string | object): TaskRecord {
  const { _iso, _ctx, _w, ...rest } = raw;
  const context = typeof ctx === "object" ? ctx : JSON.parse(ctx ?? _ctx ?? "{}");
  return frozenTask({ ...rest, history: list(raw.history), context } as TaskRecord);
}

/** A task as `t` keeps it: its record, a newline, then its context as sent. */
export function storedTask(value: string): TaskRecord {
  const at = value.indexOf("\n");
  return taskOf(JSON.parse(value.slice(0, at)), value.slice(at + 1));
}

/** What a script changed; `sent` when it published that on the bus itself. A message comes as its text, or as itself (`told_json`). */
export type RawFx = { m: unknown; q: unknown; t: unknown; sent?: boolean } | undefined;

export function effectsOf(fx: RawFx): Effects {
  if (!fx) return NO_EFFECTS;
  const m = list<[string, Priority, string | Message, string?]>(fx.m);
  const q = list<string>(fx.q);
  const t = list<string>(fx.t);
  if (m.length === 0 && q.length === 0 && t.length === 0) return NO_EFFECTS;
  const messages: QueuedMessage[] = m.map(([to, priority, body, conn]) => {
    const msg: Message = typeof body === "string" ? JSON.parse(body) : body;
    return conn ? { to, priority, msg, conn } : { to, priority, msg };
  });
  return fx.sent ? { messages, queued: q, tasks: t, sent: true } : { messages, queued: q, tasks: t };
}

export type RawVersion = FileVersionMeta & { blob?: string; n?: number };

export function metaOf(raw: RawVersion): FileVersionMeta {
  const { blob: _b, n: _n, ...meta } = raw;
  return frozen(meta);
}

export function countsOf(raw: unknown): Record<TaskState, number> {
  const counts = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
  const pairs: [string, string][] = Array.isArray(raw) ? Array.from({ length: raw.length / 2 }, (_, i) => [raw[2 * i], raw[2 * i + 1]]) : Object.entries((raw ?? {}) as Record<string, string>);
  for (const [state, n] of pairs) if (state in counts) counts[state as TaskState] = Number(n);
  return counts;
}
