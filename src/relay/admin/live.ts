/**
 * What open dashboards see: a snapshot when one connects, then every change, batched a few times a
 * second, and a tick each second with health and throughput. Rows are read through the port, so the
 * numbers are the core's own; one serial chain of reads keeps a snapshot and the changes after it in order.
 */
import { ADMIN_CLOSE, TASKS_SHOWN, type AdminAgent, type AdminHealth, type AdminServerFrame, type AdminState, type AdminTask } from "../../protocol/admin";
import type { Task } from "../../protocol/schemas";
import { iso } from "../clock";
import { Feed } from "./feed";
import type { BusEvent } from "../bus/port";
import type { AdminCore } from "./port";

/** An open dashboard: frames go out as JSON text. */
export interface AdminSink {
  send(frame: string): void;
  /** Bytes written but not yet sent; a dashboard that falls this far behind is closed and reconnects afresh. */
  buffered(): number;
  close(code: number, reason: string): void;
}

/** What the transport knows and the core does not. */
export interface ServerStats {
  websockets: number;
  requests: number;
}

const FLUSH_MS = 200;
const TICK_MS = 1000;
const TOO_FAR_BEHIND = 16 * 1024 * 1024;
/** Characters of a task's text a list row carries. */
const TASK_PREVIEW = 200;

export function taskRow(t: Task): AdminTask {
  return {
    id: t.id,
    from: t.from,
    to: t.to,
    cap: t.cap,
    task: t.task.length > TASK_PREVIEW ? `${t.task.slice(0, TASK_PREVIEW)}…` : t.task,
    priority: t.priority,
    state: t.state,
    attempts: t.attempts,
    created_at: t.created_at,
    updated_at: t.updated_at,
  };
}

/** What of an agent's row is worth a frame: a listening agent's last_seen is "now" on every read. */
const rowKey = (a: AdminAgent) => JSON.stringify(a.status === "listening" ? { ...a, last_seen: "" } : a);

export class AdminLive {
  readonly feed: Feed;
  private sinks = new Set<AdminSink>();
  private ready = new Set<AdminSink>();
  private chain: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;
  /** Other relays' traffic, heard while a dashboard is open (`AdminCore.followTeam`). */
  private team: Promise<() => void> | undefined;
  private sent = new Map<string, string>();
  private dirtyAgents = new Set<string>();
  private dirtyTasks = new Set<string>();
  private dirtyFiles = new Set<string>();
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private tickTimer: ReturnType<typeof setInterval> | undefined;
  private readonly startedAt: number;

  constructor(
    private core: AdminCore,
    private stats: () => ServerStats,
    private clock: () => number = Date.now,
    private onError: (err: unknown) => void = () => {},
  ) {
    this.startedAt = clock();
    this.feed = new Feed(this.startedAt);
  }

  get dashboards() {
    return this.sinks.size;
  }

  /**
   * A dashboard authenticated: it gets a snapshot, then the changes. The first one starts the watch, which then
   * stays; other relays' traffic is heard while a dashboard is open, from before its snapshot is read.
   */
  attach(sink: AdminSink) {
    this.sinks.add(sink);
    this.unsubscribe ??= this.core.subscribe((e) => this.note(e));
    const team = (this.team ??= this.core.followTeam?.());
    this.tickTimer ??= setInterval(() => this.serially(() => this.tick()), TICK_MS);
    this.serially(async () => {
      await team;
      if (!this.sinks.has(sink)) return;
      const state = await this.state();
      // The first dashboard's snapshot is what the next sweep compares with.
      if (this.ready.size === 0) this.sent = new Map(state.agents.map((a) => [a.id, rowKey(a)]));
      sink.send(JSON.stringify({ op: "snapshot", state } satisfies AdminServerFrame));
      this.ready.add(sink);
    });
  }

  detach(sink: AdminSink) {
    this.sinks.delete(sink);
    this.ready.delete(sink);
    if (this.sinks.size > 0) return;
    clearInterval(this.tickTimer);
    this.tickTimer = undefined;
    this.unfollowTeam();
  }

  private unfollowTeam() {
    void this.team?.then((unfollow) => unfollow());
    this.team = undefined;
  }

  close() {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.unfollowTeam();
    clearInterval(this.tickTimer);
    clearTimeout(this.flushTimer);
  }

  /** Everything a dashboard shows, read now. */
  async state(): Promise<AdminState> {
    const now = this.clock();
    const [agents, tasks, files] = await Promise.all([this.core.agents(), this.core.tasks(TASKS_SHOWN), this.core.files()]);
    return {
      health: this.health(agents, now),
      agents,
      tasks: tasks.tasks.map(taskRow),
      task_counts: tasks.counts,
      files,
      feed: this.feed.latest(),
      throughput: this.feed.throughput(now),
    };
  }

  /** What a bus event changes on the dashboard: the feed, and the rows to read again at the next flush. */
  private note(e: BusEvent) {
    if (e.type === "queued" && e.message) this.feed.add(e.message, e.priority ?? "normal", this.clock());
    if (this.sinks.size === 0) return;
    switch (e.type) {
      case "queued":
        this.dirtyAgents.add(e.agent);
        // A task is news from the moment it is queued: no task event says it was made.
        if (e.message?.type === "task") this.dirtyTasks.add(e.message.id);
        break;
      case "task":
        this.dirtyTasks.add(e.id);
        break;
      case "file":
      case "lease":
        this.dirtyFiles.add(e.key);
        break;
      default:
        // registered, connected, disconnected, unregistered
        this.dirtyAgents.add(e.agent);
    }
    if (this.sinks.size && this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.serially(() => this.flush());
      }, FLUSH_MS);
    }
  }

  private serially(step: () => Promise<void>) {
    this.chain = this.chain.then(step).catch(this.onError);
  }

  private async flush() {
    const agentIds = [...this.dirtyAgents];
    const taskIds = [...this.dirtyTasks];
    const keys = [...this.dirtyFiles];
    this.dirtyAgents.clear();
    this.dirtyTasks.clear();
    this.dirtyFiles.clear();
    const items = this.feed.take();
    if (items.length) this.broadcast({ op: "feed", items: items.reverse() });
    if (agentIds.length) {
      const rows = await Promise.all(agentIds.map((id) => this.core.agent(id)));
      this.sendAgents(
        rows.filter((r): r is AdminAgent => r !== undefined),
        agentIds.filter((id, i) => rows[i] === undefined && this.sent.has(id)),
      );
    }
    if (taskIds.length) {
      const tasks = await Promise.all(taskIds.map((id) => this.core.task(id)));
      const upsert = tasks.filter((t): t is Task => t !== undefined).map(taskRow);
      const remove = taskIds.filter((_, i) => tasks[i] === undefined);
      this.broadcast({ op: "tasks", upsert, remove, counts: await this.core.taskCounts() });
    }
    if (keys.length) {
      const infos = await Promise.all(keys.map((k) => this.core.file(k)));
      this.broadcast({ op: "files", upsert: infos.filter((f) => f !== undefined), remove: keys.filter((_, i) => infos[i] === undefined) });
    }
  }

  /** Sends the rows that differ from what dashboards were last sent. */
  private sendAgents(rows: AdminAgent[], removed: string[]) {
    const upsert: AdminAgent[] = [];
    for (const row of rows) {
      const key = rowKey(row);
      if (this.sent.get(row.id) === key) continue;
      this.sent.set(row.id, key);
      upsert.push(row);
    }
    for (const id of removed) this.sent.delete(id);
    if (upsert.length || removed.length) this.broadcast({ op: "agents", upsert, remove: removed });
  }

  /** Each second: every agent compared with what was sent (status and counts move with time too), health, throughput. */
  private async tick() {
    if (this.ready.size === 0) return;
    const now = this.clock();
    const agents = await this.core.agents();
    const present = new Set(agents.map((a) => a.id));
    this.sendAgents(agents, [...this.sent.keys()].filter((id) => !present.has(id)));
    this.broadcast({ op: "tick", health: this.health(agents, now), throughput: this.feed.throughput(now) });
  }

  private health(agents: AdminAgent[], now: number): AdminHealth {
    const count = (status: AdminAgent["status"]) => agents.reduce((n, a) => n + (a.status === status ? 1 : 0), 0);
    const memory = process.memoryUsage();
    const stats = this.stats();
    return {
      version: this.core.version,
      started_at: iso(this.startedAt),
      uptime_s: Math.floor((now - this.startedAt) / 1000),
      now: iso(now),
      store: this.core.store(),
      agents: { total: agents.length, listening: count("listening"), online: count("online"), stale: count("stale") },
      connections: { websockets: Math.max(0, stats.websockets - this.sinks.size), dashboards: this.sinks.size, requests: stats.requests },
      memory: { rss: memory.rss, heap_used: memory.heapUsed },
    };
  }

  private broadcast(frame: AdminServerFrame) {
    const text = JSON.stringify(frame);
    for (const sink of this.ready) {
      if (sink.buffered() > TOO_FAR_BEHIND) {
        this.detach(sink);
        sink.close(ADMIN_CLOSE.tooSlow, "the dashboard fell behind; reconnect for a fresh snapshot");
        continue;
      }
      sink.send(text);
    }
  }
}
