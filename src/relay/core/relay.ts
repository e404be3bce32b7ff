/**
 * The relay's core, seen from its transports: one method per thing a client can do. Each
 * validates, applies the rules, commits through the store, and only then resolves. Below it,
 * Registry, Tasks, Files and Delivery call only the store and the bus, never back up. No I/O of its
 * own: it takes a clock, a store and a bus. Its options, with each part's defaults, are in `options.ts`;
 * its file operations in `_relay-files.ts`, which Relay extends.
 */
import { forbidden, type ClawlinkError } from "../../errors";
import type { Agent, Health, Message, RegisterRequest, Registration, SendMessage, Sent, Task } from "../../protocol/schemas";
import { LocalBus } from "../bus/local";
import type { Bus } from "../bus/port";
import { iso, type Clock } from "../clock";
import { newId, newSortableId } from "../ids";
import { MemoryStore } from "../store/memory";
import { unlessStoreUnavailable, type AgentRecord, type FileVersionRecord, type Room, type Store, type Want } from "../store/port";
import { announce } from "./announce";
import { Delivery, type Connection, type Sink, type TaskWatcher } from "./delivery";
import { Files, type PutOptions, type Upload } from "./files";
import type { AdminCore } from "../admin/port";
import { operator } from "./operator";
import { partOptions, type CoreOptions, type PeerList } from "./options";
import { RelayFiles } from "./_relay-files";
import { Registry, resolveAgent, type RegisterOptions } from "./registry";
import { TeamLimits } from "./limits";
import { Tasks, type Outcome, type TaskFilter, type TaskPage } from "./tasks";

/** What the transports see of the core's records and options: types only, through the façade. */
export type { Outcome } from "./tasks";
export type { CoreOptions, PeerList } from "./options";
export type { AgentRecord, Connection, FileVersionRecord, PutOptions, Sink, TaskWatcher, Upload, Want };

export class Relay extends RelayFiles {
  readonly version: string;
  /** This relay process among those sharing a store. */
  readonly instance = newId("r", 8);
  readonly clock: Clock;
  private store: Store;
  private bus: Bus;
  private registry: Registry;
  private tasks: Tasks;
  private delivery: Delivery;
  private room: Room;
  private sweeping: Promise<void> | undefined;
  private op: AdminCore | undefined;
  private peers: PeerList | undefined;
  private onError: (err: unknown) => void;
  /** Limits counted by every relay on the store together. */
  readonly limits: TeamLimits;

  constructor(opts: CoreOptions = {}) {
    super();
    this.version = opts.version ?? "0.0.0";
    this.store = opts.store ?? new MemoryStore();
    this.bus = opts.bus ?? new LocalBus();
    this.clock = opts.clock ?? Date.now;
    this.peers = opts.peers;
    this.onError = opts.onError ?? (() => {});
    const parts = partOptions(opts, this.instance);
    this.room = parts.room;
    this.registry = new Registry(this.store, this.bus, this.clock, parts.registry);
    this.tasks = new Tasks(this.store, this.bus, this.clock, parts.tasks);
    // A page's cursor from one relay on a shared store is good on any of them.
    this.registry.ready.then(() => this.registry.relayKey && this.tasks.cursors.derive(this.registry.relayKey)).catch(() => {});
    this.files = new Files(this.store, this.bus, this.clock, parts.files);
    this.delivery = new Delivery(this.store, this.bus, this.clock, parts.delivery);
    this.store.onHealth?.((failure) => {
      // A failed commit was undone, or the store is back after an outage: what this process shows
      // (pushes, polls, watches) is brought back in line with the store.
      if (failure) this.delivery.recover();
      else this.delivery.storeBack();
      this.registry.forget();
      opts.onStoreHealth?.(failure);
    });
    // Events from other relays may have been missed while the bus was away.
    this.bus.onResume?.(() => this.delivery.busBack());
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
    // Registered by now: a store that refuses the hand-over leaves the waiting tasks to the agent's first socket (`connect`), rather than fail what it confirms.
    await this.tasks.assignWaiting(agent.id).catch(unlessStoreUnavailable);
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

  // ---------------------------------------------------------------- files: putFile, getFile, lockFile... in _relay-files.ts

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
    this.delivery.stop();
    await this.sweeping;
    await this.peers?.stop();
    this.limits.close();
    await this.bus.close();
    await this.store.close();
  }
}
