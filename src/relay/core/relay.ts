/**
 * The relay's core, seen from its transports: one method per thing a client can do. Each
 * validates, applies the rules, commits through the store, and only then resolves. Below it,
 * Registry, Tasks, Files and Delivery call only the store and the bus, never back up. No I/O of its
 * own: it takes a clock, a store and a bus.
 */
import { forbidden, type ClawlinkError } from "../../errors";
import type { Agent, FileDeleted, FileHistory, FileInfo, FileLock, FileWritten, Health, Message, RegisterRequest, Registration, SendMessage, Sent, Task, TaskState } from "../../protocol/schemas";
import { LocalBus } from "../bus/local";
import { DEFAULT_LIMITS } from "../limits";
import type { Bus } from "../bus/port";
import { iso, type Clock } from "../clock";
import { newId, newSortableId } from "../ids";
import { MemoryStore } from "../store/memory";
import type { AgentRecord, Effects, FileVersionRecord, Room, Store, Want } from "../store/port";
import { announce } from "./announce";
import { Delivery, type Connection, type Sink, type TaskWatcher } from "./delivery";
import { Files, type PutOptions, type Upload } from "./files";
import type { AdminCore } from "../admin/port";
import { operator } from "./operator";
import { Registry, resolveAgent, type RegisterOptions } from "./registry";
import { TeamLimits } from "./limits";
import { Tasks, type Outcome, type TaskFilter, type TaskPage } from "./tasks";

export interface CoreOptions {
  version?: string;
  store?: Store;
  bus?: Bus;
  clock?: Clock;
  /** An agent not seen for this long is listed as stale. */
  staleAfterMs?: number;
  /** A task's holder whose socket closed this long ago, with no sign of life since, loses its unfinished tasks (default 15 s). */
  holderGraceMs?: number;
  /** How long a non-task message may stay unacknowledged before it is handed out again. */
  ackWindowMs?: number;
  /** Messages waiting per agent before senders get 429. */
  maxQueue?: number;
  maxAgents?: number;
  /** Bytes of every message waiting, relay-wide, before senders get 429. */
  maxQueuedBytes?: number;
  /** Bytes one sender may have waiting across its recipients, with its unfinished tasks, before it gets 429. */
  maxSenderBytes?: number;
  /** Bytes waiting for one recipient before its senders get 429. */
  maxRecipientBytes?: number;
  /** A message left unread this long is dropped; a task expires. */
  messageTtlMs?: number;
  maxFileVersions?: number;
  maxTotalFileBytes?: number;
  /** An agent unseen this long, stale, with nothing queued, in flight or held, is forgotten. */
  forgetAfterMs?: number;
  /** The key agent secrets are derived from; by default the store's (per process in memory, kept by a durable store). */
  secretKey?: Uint8Array;
  /** Finished tasks are kept this long, and at most `maxFinishedTasks` of them. */
  taskRetentionMs?: number;
  maxFinishedTasks?: number;
  /** Bytes of finished tasks kept at most; the oldest finished are forgotten first. */
  maxFinishedBytes?: number;
  /** Called with unexpected errors of work no request waits for (pushes, sweeps). */
  onError?: (err: unknown) => void;
  /** The relays sharing the store (Redis), which health reports; none for a relay on its own. */
  peers?: PeerList;
  /** Called when writing the store starts failing (with the error every write now answers) and when it works again (null). */
  onStoreHealth?: (failure: ClawlinkError | null) => void;
}

export interface PeerList {
  /** Relays up now, this one included. */
  count(): Promise<number>;
  /** Each as `instance url`. */
  list(): Promise<string[]>;
  /** The other relays as of the last heartbeat, each as `instance url`. */
  others(): readonly string[];
  /** Claims relays that are gone and queues again what went out on their connections; returns what it changed. */
  sweep(now: number): Promise<readonly Effects[]>;
  /** Hears when the other relays took this one for gone (and dropped its connections). */
  onForgotten(listener: () => void): void;
  /** Hears when the shared store was found emptied (Redis restarted without persistence). */
  onEmptied(listener: () => void): void;
  /** Hears when another relay wrote its relay key over the one this relay took from the store. */
  onKeyMoved?(listener: () => void): void;
  stop(): Promise<void>;
}

/** What the transports see of the core's records and options: types only, through the façade. */
export type { Outcome } from "./tasks";
export type { AgentRecord, Connection, FileVersionRecord, PutOptions, Sink, TaskWatcher, Upload, Want };

export class Relay {
  readonly version: string;
  /** This relay process among those sharing a store. */
  readonly instance = newId("r", 8);
  readonly clock: Clock;
  private store: Store;
  private bus: Bus;
  private registry: Registry;
  private tasks: Tasks;
  private files: Files;
  private delivery: Delivery;
  private room: Room;
  private sweeping: Promise<void> | undefined;
  private op: AdminCore | undefined;
  private peers: PeerList | undefined;
  private onError: (err: unknown) => void;
  /** Limits counted by every relay on the store together. */
  readonly limits: TeamLimits;

  constructor(opts: CoreOptions = {}) {
    this.version = opts.version ?? "0.0.0";
    this.store = opts.store ?? new MemoryStore();
    this.bus = opts.bus ?? new LocalBus();
    this.clock = opts.clock ?? Date.now;
    this.peers = opts.peers;
    this.onError = opts.onError ?? (() => {});
    const staleAfterMs = opts.staleAfterMs ?? 120_000;
    const d = DEFAULT_LIMITS;
    const room = (this.room = {
      maxQueue: opts.maxQueue ?? d.maxQueue,
      maxQueuedBytes: opts.maxQueuedBytes ?? d.maxQueuedBytes,
      maxSenderBytes: opts.maxSenderBytes ?? d.maxSenderBytes,
      maxRecipientBytes: opts.maxRecipientBytes ?? d.maxRecipientBytes,
    });
    this.registry = new Registry(this.store, this.bus, this.clock, {
      staleAfterMs,
      maxAgents: opts.maxAgents ?? d.maxAgents,
      forgetAfterMs: opts.forgetAfterMs ?? 24 * 3600_000,
      secretKey: opts.secretKey,
      room,
    });
    this.tasks = new Tasks(this.store, this.bus, this.clock, {
      staleAfterMs,
      holderGraceMs: opts.holderGraceMs ?? 15_000,
      room,
      retention: { retentionMs: opts.taskRetentionMs ?? d.taskRetentionMs, maxFinished: opts.maxFinishedTasks ?? d.maxFinishedTasks, maxFinishedBytes: opts.maxFinishedBytes ?? d.maxFinishedBytes },
      messageTtlMs: opts.messageTtlMs ?? d.messageTtlMs,
    });
    // A page's cursor from one relay on a shared store is good on any of them.
    this.registry.ready.then(() => this.registry.relayKey && this.tasks.cursors.derive(this.registry.relayKey)).catch(() => {});
    this.files = new Files(this.store, this.bus, this.clock, { maxVersions: opts.maxFileVersions ?? d.maxFileVersions, maxTotalBytes: opts.maxTotalFileBytes ?? d.maxTotalFileBytes, room });
    this.delivery = new Delivery(this.store, this.bus, this.clock, { instance: this.instance, ackWindowMs: opts.ackWindowMs ?? 60_000, staleAfterMs, room, onError: opts.onError });
    this.store.onHealth?.((failure) => {
      // A failed commit was undone, or the store is back after an outage: what this process shows
      // (pushes, polls, watches) is brought back in line with the store.
      this.delivery.recover();
      this.registry.forget();
      opts.onStoreHealth?.(failure);
    });
    // Events from other relays may have been missed while the bus was away.
    this.bus.onResume?.(() => this.delivery.recover());
    this.limits = new TeamLimits(this.store, this.clock, this.instance, this.peers !== undefined, this.onError);
    this.peers?.onForgotten(() => {
      this.delivery.reattach();
      this.limits.reclaim();
    });
    this.peers?.onEmptied(() => void this.emptied().catch(this.onError));
    this.peers?.onKeyMoved?.(() => void this.adoptKey().catch(this.onError));
  }

  /**
   * The shared store lost everything: the key agents' secrets derive from goes back (`team.ts`: the
   * relays that were running write theirs, the others adopt it), and every socket and watch is closed, so `listen`
   * reconnects and registers again under its id, and a task watch learns that its task is gone.
   */
  private async emptied() {
    this.registry.forget();
    await this.adoptKey();
    this.delivery.closeAll(1012, "the relay's store was emptied (Redis restarted without persistence): register again; unfinished tasks are gone");
  }

  /** Writes this relay's key back where the store lost it, and takes the one the store keeps (another relay of the team may have written it). */
  private async adoptKey() {
    const key = await this.registry.restoreKey();
    if (key) this.tasks.cursors.derive(key);
  }

  // ---------------------------------------------------------------- agents

  /** The agent a bearer secret belongs to (marked seen), or undefined. */
  authenticate(secret: string): Promise<AgentRecord | undefined> {
    return this.registry.authenticate(secret);
  }

  /** The agent of a secret verified moments ago, answered without a store read; undefined when `authenticate` must read it. */
  verifiedAgent(secret: string): AgentRecord | undefined {
    return this.registry.verifiedAgent(secret);
  }

  /** The agent's current record, marked seen; undefined once it is gone (a socket's agent may unregister). */
  touch(agent: AgentRecord): Promise<AgentRecord | undefined> {
    return this.registry.seen(agent);
  }

  /** Whether an agent id is registered (to tell a forgotten identity from a wrong secret). */
  async knows(agentId: string): Promise<boolean> {
    return (await this.store.getAgent(agentId)) !== undefined;
  }

  /** Why the agent of a secret this relay issued is gone, when it lost its name to the identity that held it before a restart. */
  lostName(secret: string): ClawlinkError | undefined {
    const id = this.registry.recognise(secret);
    return id === undefined ? undefined : this.registry.lostName(id);
  }

  /** The id of an agent whose secret this relay issued, known to it or not (it restarted, or forgot the agent). */
  recognise(secret: string): string | undefined {
    return this.registry.recognise(secret);
  }

  async register(req: RegisterRequest, opts: RegisterOptions = {}): Promise<Registration> {
    const { agent, registration } = await this.registry.register(req, opts);
    await this.tasks.assignWaiting(agent.id);
    return registration;
  }

  heartbeat(agent: AgentRecord): Promise<Agent & { pending: number; in_flight: number }> {
    return this.registry.heartbeat(agent);
  }

  unregister(agent: AgentRecord): Promise<void> {
    return this.registry.unregister(agent.id, "its agent unregistered");
  }

  /**
   * Takes back the agents registered through this relay since `since` (the relay's clock), which finds it was
   * never the team's (it made the team's marker on an emptied Redis with another token): they joined without the team's token.
   */
  unregisterCreated(since: number): Promise<void> {
    return this.registry.unregisterCreated(since, "it was registered through a relay that was not the team's (another token), which left");
  }

  listAgents(filter: { cap?: string; all?: boolean } = {}): Promise<Agent[]> {
    return this.registry.list(filter);
  }

  getAgent(idOrName: string): Promise<Agent> {
    return this.registry.get(idOrName);
  }

  /** The agent an id or name stands for (404 when none). */
  resolveAgent(idOrName: string): Promise<AgentRecord> {
    return resolveAgent(this.store, idOrName);
  }

  /** An agent's record as the wire shows it. */
  view(agent: AgentRecord): Agent {
    return this.registry.view(agent);
  }

  async health(): Promise<Health> {
    const [agents, relays] = await Promise.all([this.registry.count(), this.peers?.count()]);
    return { ok: true, version: this.version, agents, store: this.store.describe().kind, ...(relays !== undefined ? { relays } : {}) };
  }

  // ---------------------------------------------------------------- messages

  send(sender: AgentRecord, msg: SendMessage): Promise<Sent> {
    if (msg.from !== undefined && msg.from !== sender.id && msg.from !== sender.name) {
      return Promise.reject(forbidden(`an agent can send only as itself: you are ${sender.id}, the message says from ${msg.from}`, "leave out `from`; the relay fills it in"));
    }
    switch (msg.type) {
      case "task":
        return this.tasks.send(sender, msg);
      case "response":
        return this.tasks.respond(sender, msg);
      case "progress":
        return this.tasks.progress(sender, msg.in_reply_to, msg.note);
      case "broadcast":
        return this.broadcast(sender, msg);
    }
  }

  /**
   * A batch: each message sent as if alone, in the batch's order (each starts once the one before it is
   * done), and what became of each. Plain replies next to each other (the bulk of a busy stream) are
   * queued together in one store step, their recipients looked up first.
   */
  async sendMany(sender: AgentRecord, msgs: readonly SendMessage[]): Promise<Outcome[]> {
    const refused = (error: unknown): Outcome => ({ ok: false, error });
    let found: Awaited<ReturnType<Tasks["recipients"]>>;
    try {
      found = await this.tasks.recipients(msgs);
    } catch (error) {
      // A store that failed refuses every message, as it would each alone.
      return msgs.map(() => refused(error));
    }
    const outcomes: Outcome[] = [];
    let run: Extract<SendMessage, { type: "response" }>[] = [];
    const flush = async () => {
      if (!run.length) return;
      const replies = run;
      run = [];
      outcomes.push(...(await this.tasks.replyMany(sender, replies, found).catch((error) => replies.map(() => refused(error)))));
    };
    for (const msg of msgs) {
      if (Tasks.isPlainReply(msg) && (msg.from === undefined || msg.from === sender.id || msg.from === sender.name)) {
        run.push(msg);
        continue;
      }
      await flush();
      outcomes.push(await this.send(sender, msg).then((sent): Outcome => ({ ok: true, sent }), refused));
    }
    await flush();
    return outcomes;
  }

  /** Queues a copy for every other agent; an agent whose queue is full misses it. */
  private async broadcast(sender: AgentRecord, msg: Extract<SendMessage, { type: "broadcast" }>): Promise<Sent> {
    const id = newSortableId("m");
    const message: Message = { type: "broadcast", id, from: sender.id, to: null, created_at: iso(this.clock()), content: msg.content, topic: msg.topic, tags: msg.tags };
    const { recipients, effects } = await this.store.broadcast(message, sender.id, this.room);
    announce(this.bus, effects);
    return { id, recipients };
  }

  /** Up to `max` messages from the agent's inbox, waiting up to `waitMs` for the first; `ack` settles them at once. */
  async take(agent: AgentRecord, opts: { max: number; waitMs?: number; signal?: AbortSignal; ack?: boolean }): Promise<readonly Message[]> {
    const messages = await this.delivery.take(agent.id, opts.max, opts.waitMs ?? 0, opts.signal);
    if (opts.ack && messages.length) await this.delivery.ack(agent.id, messages.map((m) => m.id), []);
    return messages;
  }

  /** Settles messages, and every message about `taskIds` (tasks whose end the agent saw). */
  ack(agent: AgentRecord, ids: readonly string[], taskIds: readonly string[] = []): Promise<number> {
    return this.delivery.ack(agent.id, ids, taskIds);
  }

  // ---------------------------------------------------------------- tasks

  cancel(agent: AgentRecord, taskId: string, note?: string): Promise<Task> {
    return this.tasks.cancel(agent, taskId, note);
  }

  getTask(agent: AgentRecord, taskId: string): Promise<Task> {
    return this.tasks.get(agent, taskId);
  }

  listTasks(agent: AgentRecord, filter: TaskFilter = {}): Promise<Task[]> {
    return this.tasks.list(agent, filter);
  }

  /** A page of the agent's tasks: at most `limit` and about LIMIT.taskPageBytes, after `cursor` (a next_cursor this relay gave out; 400 for any other), with the next page's cursor. */
  taskPage(agent: AgentRecord, filter: TaskFilter, page: { limit: number; cursor?: string }): Promise<TaskPage> {
    return this.tasks.page(agent, filter, page);
  }

  /** Follows a task the agent sent or holds: its snapshot now and on every change. Resolves with the unwatch. */
  async watchTask(agent: AgentRecord, taskId: string, watcher: TaskWatcher): Promise<() => void> {
    await this.tasks.require(agent, taskId);
    return this.delivery.watch(agent.id, taskId, watcher);
  }

  // ---------------------------------------------------------------- files

  putFile(agent: AgentRecord, key: string, bytes: Uint8Array, opts: PutOptions = {}): Promise<FileWritten> {
    return this.files.put(agent, key, bytes, opts);
  }

  /** Bytes held by uploads in progress on this relay. */
  get uploading(): number {
    return this.files.reserved;
  }

  /** Holds room for an upload of `size` bytes under `key` (0 if not known yet) while it is read; throws 413 or 429 when there is none. */
  reserveUpload(key: string, size: number): Promise<Upload> {
    return this.files.reserve(key, size);
  }

  getFile(key: string, version?: number): Promise<FileVersionRecord> {
    return this.files.get(key, version);
  }

  listFiles(prefix = ""): Promise<FileInfo[]> {
    return this.files.list(prefix);
  }

  fileHistory(key: string): Promise<FileHistory> {
    return this.files.history(key);
  }

  deleteFile(agent: AgentRecord, key: string): Promise<FileDeleted> {
    return this.files.delete(agent, key);
  }

  lockFile(agent: AgentRecord, key: string, ttlS: number): Promise<FileLock> {
    return this.files.lock(agent, key, ttlS);
  }

  unlockFile(agent: AgentRecord, key: string): Promise<FileLock> {
    return this.files.unlock(agent, key);
  }

  // ---------------------------------------------------------------- connections

  /** Attaches a socket of `agent` that messages are pushed to; `want` narrows what it takes. */
  connect(agent: AgentRecord, sink: Sink, want: Want | null = null): Connection {
    const conn = this.delivery.connect(agent.id, sink, want);
    // A listener coming back picks up the tasks that wait for one of its capabilities (one lost by an offline holder).
    if (agent.caps.length > 0) this.tasks.assignWaiting(agent.id).catch(this.onError);
    return conn;
  }

  // ---------------------------------------------------------------- the operator

  /** What the relay's operator reads and may do, for the dashboard. */
  operator(): AdminCore {
    return (this.op ??= operator({ version: this.version, store: this.store, peers: this.peers && (() => this.peers!.others()), bus: this.bus, clock: this.clock, registry: this.registry, tasks: this.tasks, files: this.files }));
  }

  // ---------------------------------------------------------------- time

  /** Runs leases, ttls, retention and stale agents forward to `now`; the server calls it a few times a second. */
  tick(now = this.clock()): Promise<void> {
    return (this.sweeping ??= this.sweep(now).finally(() => (this.sweeping = undefined)));
  }

  private async sweep(now: number) {
    await this.delivery.sweep(now);
    await this.tasks.sweep(now);
    await this.files.sweep(now);
    await this.registry.sweep(now);
    for (const effects of (await this.peers?.sweep(now)) ?? []) announce(this.bus, effects);
  }

  async close() {
    await this.sweeping;
    await this.peers?.stop();
    this.limits.close();
    await this.bus.close();
    await this.store.close();
  }
}
