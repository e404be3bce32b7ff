/**
 * The admin API and the dashboard's WebSocket frames (`/v1/admin/*`): what a person watching the relay
 * reads, and the three things they may do. The page and the relay both take their types from here.
 */
import * as v from "valibot";
import { built } from "./deferred";
import { FileInfo, Id, Priority, TaskState, Timestamp } from "./schemas";

// ---------------------------------------------------------------- rows

/** listening: an inbox socket is open; online: seen lately; stale: not seen for a while. */
export const AdminAgentStatus = v.picklist(["listening", "online", "stale"]);

export const AdminAgent = v.object({
  id: Id,
  name: v.string(),
  caps: v.array(v.string()),
  description: v.string(),
  machine: v.string(),
  status: AdminAgentStatus,
  registered_at: Timestamp,
  last_seen: Timestamp,
  /** Messages waiting for the agent. */
  queued: v.number(),
  /** Messages handed to the agent and not yet acknowledged. */
  in_flight: v.number(),
  /** Unfinished tasks assigned to the agent. */
  tasks_held: v.number(),
});
export type AdminAgent = v.InferOutput<typeof AdminAgent>;

/** A task as a list shows it: the text cut short, without context, history or result (`GET /v1/admin/tasks/{id}` has them). */
export const AdminTask = v.object({
  id: Id,
  from: Id,
  to: v.nullable(Id),
  cap: v.nullable(v.string()),
  task: v.string(),
  priority: built(Priority),
  state: built(TaskState),
  attempts: v.number(),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type AdminTask = v.InferOutput<typeof AdminTask>;

/** How many tasks the relay holds in each state. */
export const TaskCounts = v.object({
  queued: v.number(),
  delivered: v.number(),
  working: v.number(),
  completed: v.number(),
  failed: v.number(),
  canceled: v.number(),
  expired: v.number(),
} satisfies Record<TaskState, v.GenericSchema>);
export type TaskCounts = v.InferOutput<typeof TaskCounts>;

/** One message in the live feed, without its body (`GET /v1/admin/messages/{id}` has it while the feed keeps it). */
export const FeedItem = v.object({
  id: Id,
  type: v.string(),
  from: v.string(),
  /** null: every agent (a broadcast or a file change). */
  to: v.nullable(v.string()),
  priority: built(Priority),
  created_at: Timestamp,
  /** The task or status it concerns, when there is one. */
  task_id: v.optional(Id),
});
export type FeedItem = v.InferOutput<typeof FeedItem>;

export const StoreInfo = v.object({
  kind: v.picklist(["memory", "sqlite", "redis"]),
  /** The SQLite file. */
  path: v.optional(v.string()),
  /** Other relays sharing the store (Redis). */
  peers: v.optional(v.array(v.string())),
});
export type StoreInfo = v.InferOutput<typeof StoreInfo>;

export const AdminHealth = v.object({
  version: v.string(),
  started_at: Timestamp,
  uptime_s: v.number(),
  /** The relay's clock, so the page can count leases down without trusting its own. */
  now: Timestamp,
  store: StoreInfo,
  agents: v.object({ total: v.number(), listening: v.number(), online: v.number(), stale: v.number() }),
  connections: v.object({ websockets: v.number(), dashboards: v.number(), requests: v.number() }),
  memory: v.object({ rss: v.number(), heap_used: v.number() }),
});
export type AdminHealth = v.InferOutput<typeof AdminHealth>;

/** Messages sent per second, oldest first; the last entry is the second that ended at `end`. Counted from `since` on. */
export const Throughput = v.object({ end: Timestamp, since: Timestamp, counts: v.array(v.number()) });
export type Throughput = v.InferOutput<typeof Throughput>;
export const THROUGHPUT_SECONDS = 300;

export const AdminState = v.object({
  health: AdminHealth,
  agents: v.array(AdminAgent),
  /** The most recently changed tasks, newest first, at most TASKS_SHOWN. */
  tasks: v.array(AdminTask),
  task_counts: TaskCounts,
  files: v.array(FileInfo),
  /** The latest messages, newest first. */
  feed: v.array(FeedItem),
  throughput: Throughput,
});
export type AdminState = v.InferOutput<typeof AdminState>;
export const TASKS_SHOWN = 1000;
export const FEED_SHOWN = 200;

// ---------------------------------------------------------------- requests

export const AdminSession = v.object({
  /** none: the dashboard is open (a loopback relay without a token); token: it needs the admin token. */
  auth: v.picklist(["none", "token"]),
  version: v.string(),
});
export type AdminSession = v.InferOutput<typeof AdminSession>;

export const AdminCancel = v.object({ note: v.optional(v.pipe(v.string(), v.maxLength(1000, "note is at most 1000 characters"))) });

const VersionNumber = (what: string) =>
  v.pipe(v.string(), v.toNumber(`${what} must be a version number`), v.integer(`${what} must be a whole number`), v.minValue(1, "versions start at 1"));
export const DiffQuery = v.object({ from: VersionNumber("from"), to: VersionNumber("to") });

export const DiffLine = v.object({ op: v.picklist([" ", "-", "+"]), text: v.string() });
export const DiffHunk = v.object({ from_start: v.number(), to_start: v.number(), lines: v.array(DiffLine) });
/** A line diff of two versions; `binary` or `too_large` instead of hunks when there is no line diff to show. */
export const FileDiff = v.object({
  key: v.string(),
  from: v.number(),
  to: v.number(),
  binary: v.boolean(),
  too_large: v.boolean(),
  hunks: v.array(DiffHunk),
});
export type FileDiff = v.InferOutput<typeof FileDiff>;
export type DiffHunk = v.InferOutput<typeof DiffHunk>;
export const MAX_DIFF_BYTES = 1024 * 1024;

// ---------------------------------------------------------------- WebSocket frames

/** Page → relay. The first frame is `auth` (with or without a token, as `GET /v1/admin/session` said). */
export const AdminClientFrame = v.variant(
  "op",
  [v.object({ op: v.literal("auth"), token: v.optional(v.pipe(v.string(), v.maxLength(1024))) }), v.object({ op: v.literal("ping") })],
  "op must be auth or ping",
);
export type AdminClientFrame = v.InferOutput<typeof AdminClientFrame>;

const Failure = v.object({ code: v.string(), message: v.string(), hint: v.optional(v.string()) });

/** Relay → page: a snapshot after `auth`, then changes as they happen. */
export const AdminServerFrame = v.variant("op", [
  v.object({ op: v.literal("snapshot"), state: AdminState }),
  v.object({ op: v.literal("agents"), upsert: v.array(AdminAgent), remove: v.array(Id) }),
  /** `remove`: finished tasks the relay forgot after their retention. */
  v.object({ op: v.literal("tasks"), upsert: v.array(AdminTask), remove: v.array(Id), counts: TaskCounts }),
  v.object({ op: v.literal("files"), upsert: v.array(FileInfo), remove: v.array(v.string()) }),
  v.object({ op: v.literal("feed"), items: v.array(FeedItem) }),
  /** Every second: health and throughput. */
  v.object({ op: v.literal("tick"), health: AdminHealth, throughput: Throughput }),
  v.object({ op: v.literal("error"), error: Failure }),
  v.object({ op: v.literal("pong") }),
]);
export type AdminServerFrame = v.InferOutput<typeof AdminServerFrame>;

/** Close codes of the admin socket. */
export const ADMIN_CLOSE = { unauthorized: 4401, badFrame: 4400, authTimeout: 4408, tooSlow: 4429 } as const;
