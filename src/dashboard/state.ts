/** What the page knows: the relay's last snapshot with every change applied since. Views read it; frames write it. */
import type { AdminAgent, AdminHealth, AdminServerFrame, AdminTask, FeedItem, TaskCounts, Throughput } from "../protocol/admin";
import type { FileInfo } from "../protocol/schemas";

/** Feed items the page keeps; older ones drop off the end. */
export const FEED_KEPT = 1000;
/** Tasks the page keeps: the snapshot's, and the ones that changed since, up to this many (the oldest changes go first). */
const TASKS_KEPT = 2000;

export type Part = "agents" | "tasks" | "files" | "feed" | "health";

export const state = {
  agents: new Map<string, AdminAgent>(),
  /** Every agent's name by id, kept after it leaves, so its tasks and messages still read by name. */
  names: new Map<string, string>(),
  tasks: new Map<string, AdminTask>(),
  counts: null as TaskCounts | null,
  files: new Map<string, FileInfo>(),
  /** Newest first. */
  feed: [] as FeedItem[],
  /** Items put at the top of the feed since the feed view last looked. */
  feedAdded: 0,
  throughput: null as Throughput | null,
  health: null as AdminHealth | null,
  /** The relay's clock minus this browser's, in ms. */
  offset: 0,
  loaded: false,
  /** Counts joins and departures, so a list of agents is rebuilt only when the roster changed. */
  roster: 0,
};

const listeners = new Set<(changed: Set<Part>) => void>();
let pending = new Set<Part>();
let scheduled = false;

/** Calls `fn` once per animation frame with the parts that changed, however many frames came in. */
export function onChange(fn: (changed: Set<Part>) => void) {
  listeners.add(fn);
}

function mark(part: Part) {
  pending.add(part);
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    const changed = pending;
    pending = new Set();
    for (const fn of listeners) fn(changed);
  });
}

/** The relay's time now, by this browser's clock corrected. */
export const relayNow = () => Date.now() + state.offset;

/** An agent's name for an id, or the id itself (an agent that left, or the relay). */
export function nameOf(id: string | null): string {
  if (id === null) return "everyone";
  return state.names.get(id) ?? id;
}

function setHealth(health: AdminHealth) {
  state.health = health;
  state.offset = Date.parse(health.now) - Date.now();
  mark("health");
}

export function apply(frame: AdminServerFrame) {
  switch (frame.op) {
    case "snapshot": {
      const s = frame.state;
      state.agents = new Map(s.agents.map((a) => [a.id, a]));
      for (const a of s.agents) state.names.set(a.id, a.name);
      state.roster++;
      state.tasks = new Map(s.tasks.map((t) => [t.id, t]));
      state.counts = s.task_counts;
      state.files = new Map(s.files.map((f) => [f.key, f]));
      state.feed = s.feed.slice(0, FEED_KEPT);
      state.feedAdded = 0;
      state.throughput = s.throughput;
      state.loaded = true;
      setHealth(s.health);
      for (const part of ["agents", "tasks", "files", "feed"] as const) mark(part);
      break;
    }
    case "agents":
      for (const a of frame.upsert) {
        if (!state.agents.has(a.id)) state.roster++;
        state.agents.set(a.id, a);
        state.names.set(a.id, a.name);
      }
      for (const id of frame.remove) if (state.agents.delete(id)) state.roster++;
      mark("agents");
      break;
    case "tasks":
      for (const t of frame.upsert) state.tasks.set(t.id, t);
      for (const id of frame.remove) state.tasks.delete(id);
      if (state.tasks.size > TASKS_KEPT) {
        const newest = [...state.tasks.values()].sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1)).slice(0, TASKS_KEPT);
        state.tasks = new Map(newest.map((t) => [t.id, t]));
      }
      state.counts = frame.counts;
      mark("tasks");
      break;
    case "files":
      for (const f of frame.upsert) state.files.set(f.key, f);
      for (const k of frame.remove) state.files.delete(k);
      mark("files");
      break;
    case "feed": {
      state.feed = frame.items.concat(state.feed);
      if (state.feed.length > FEED_KEPT) state.feed.length = FEED_KEPT;
      state.feedAdded += frame.items.length;
      mark("feed");
      break;
    }
    case "tick":
      state.throughput = frame.throughput;
      setHealth(frame.health);
      break;
    case "error":
    case "pong":
      break;
  }
}
