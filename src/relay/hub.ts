/**
 * The relay's core: the agent registry and message routing, with the task lifecycle in tasks.ts.
 * No I/O: transports call it, and it reaches connections only through the Sink interface.
 * Time comes from an injected clock.
 */
import { ClawlinkError, conflict, forbidden, notFound } from "../errors";
import {
  AGENT_ID_RE,
  type Agent,
  type Message,
  type Priority,
  type RegisterRequest,
  type Registration,
  type SendMessage,
  type Sent,
} from "../protocol/schemas";
import { Budgets, sizeOf } from "./budget";
import { Delivery, type Sink } from "./delivery";
import { DEFAULT_LIMITS } from "./limits";
import { CoreEvents } from "./events";
import { newId, newSortableId, safeEqual, sha256Hex } from "./ids";
import { agentSecret } from "./keys";
import { Tasks } from "./tasks";
import { iso } from "./views";
import type { Entry } from "./queue";
import { MemoryStore, type AgentRecord, type Store } from "./store";

export interface HubOptions {
  version?: string;
  store?: Store;
  clock?: () => number;
  /** An agent not seen for this long is listed as stale. */
  staleAfterMs?: number;
  /** How long a non-task message may stay unacknowledged before it is handed out again. */
  ackWindowMs?: number;
  /** Messages waiting (queued or unacknowledged) per agent before senders get 429. */
  maxQueue?: number;
  maxAgents?: number;
  /** The key agent secrets are derived from; by default the store's (per process in memory, kept by a durable store). */
  secretKey?: Uint8Array;
  /** An agent unseen this long, stale, with nothing queued, in flight or held, is forgotten. */
  forgetAfterMs?: number;
  /** Bytes of every message waiting or unacknowledged, relay-wide. */
  maxQueuedBytes?: number;
  /** Bytes of one agent's messages waiting or unacknowledged. */
  maxSenderBytes?: number;
  /** How long a finished task is kept. */
  taskRetentionMs?: number;
  /** Finished tasks kept at most, relay-wide; the oldest finished are forgotten first. */
  maxFinishedTasks?: number;
}

export interface RegisterOptions {
  /** Whether this registration may take a stale agent's name (with a token set, only the token may). */
  takeOver?: boolean;
}

/** How often forgotten agents are looked for, at most. */
const FORGET_SWEEP_MS = 15_000;

export class Hub {
  readonly version: string;
  readonly store: Store;
  readonly clock: () => number;
  readonly delivery: Delivery;
  private staleAfterMs: number;
  private ackWindowMs: number;
  private maxQueue: number;
  private maxAgents: number;
  private secretKey: Uint8Array;
  private forgetAfterMs: number;
  private nextForgetSweep = 0;
  /** Agents restored by a durable store were not watched while it was down: their time counts from the start. */
  private readonly startedAt: number;
  private seq = 0;
  readonly tasks: Tasks;
  readonly budgets: Budgets;
  /** What changed, for whoever watches (the dashboard). */
  readonly events = new CoreEvents((effect) => this.store.afterCommit(effect));

  constructor(opts: HubOptions = {}) {
    this.version = opts.version ?? "0.0.0";
    this.store = opts.store ?? new MemoryStore();
    this.clock = opts.clock ?? Date.now;
    this.staleAfterMs = opts.staleAfterMs ?? 120_000;
    this.ackWindowMs = opts.ackWindowMs ?? 60_000;
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.maxAgents = opts.maxAgents ?? 10_000;
    this.secretKey = opts.secretKey ?? this.store.secretKey();
    this.forgetAfterMs = opts.forgetAfterMs ?? 24 * 3600_000;
    this.startedAt = this.clock();
    this.budgets = new Budgets(this.store.ledger, {
      maxQueuedBytes: opts.maxQueuedBytes ?? DEFAULT_LIMITS.maxQueuedBytes,
      maxSenderBytes: opts.maxSenderBytes ?? DEFAULT_LIMITS.maxSenderBytes,
    });
    this.delivery = new Delivery(this.store, this.clock, {
      leaseMs: (e) => (e.msg.type === "task" ? e.msg.lease_s * 1000 : this.ackWindowMs),
      onHandOut: (e, now) => this.tasks.handOut(e, now),
    });
    this.seq = this.store.lastSeq + 1;
    this.tasks = new Tasks({
      store: this.store,
      clock: this.clock,
      delivery: this.delivery,
      budgets: this.budgets,
      enqueue: (msg, to, priority, size) => this.enqueue(msg, to, priority, size),
      resolveAgent: (idOrName) => this.resolveAgent(idOrName),
      admit: (to, from, size, replacing) => this.admit(to, from, size, replacing),
      fits: (to, from, size, replacing) => this.fits(to, from, size, replacing),
      events: this.events,
      isOnline: (rec, now) => this.isOnline(rec, now),
      retentionMs: opts.taskRetentionMs ?? DEFAULT_LIMITS.taskRetentionMs,
      maxFinished: opts.maxFinishedTasks ?? DEFAULT_LIMITS.maxFinishedTasks,
    });
    // A failed commit put the records back to what is on disk: rebuild what is derived from them.
    this.store.subscribe({
      rolledBack: () => {
        this.tasks.reload();
        this.delivery.recover();
      },
    });
  }

  // ------------------------------------------------------------ agents

  /** Resolves a bearer secret to its agent, or undefined. */
  authenticate(secret: string): AgentRecord | undefined {
    const dot = secret.indexOf(".");
    if (dot <= 0) return undefined;
    const agent = this.store.getAgent(secret.slice(0, dot));
    if (!agent || !safeEqual(agent.secretHash, sha256Hex(secret))) return undefined;
    agent.lastSeen = this.clock();
    return agent;
  }

  /** The id of an agent the relay does not hold but whose secret it issued (it restarted, or forgot the agent), or undefined. */
  recognise(secret: string): string | undefined {
    const id = secret.slice(0, Math.max(0, secret.indexOf(".")));
    return AGENT_ID_RE.test(id) && safeEqual(secret, agentSecret(this.secretKey, id)) ? id : undefined;
  }

  register(req: RegisterRequest, opts: RegisterOptions = {}): Registration {
    const now = this.clock();
    let id = req.id;
    let secret: string;
    let registeredAt = now;
    if (id !== undefined) {
      // Re-registering an identity: the caller proves it with the agent's secret, which a relay that forgot
      // the agent checks against the key it derives secrets from.
      if (!req.secret) throw forbidden(`re-registering agent ${id} needs its secret`, "register without an id to get a new identity");
      const known = this.store.getAgent(id);
      if (known) {
        if (!safeEqual(known.secretHash, sha256Hex(req.secret))) {
          throw forbidden(`the secret does not match agent ${id}`, "register under a new name, or use the identity file that registered it");
        }
        registeredAt = known.registeredAt;
      } else if (this.recognise(req.secret) !== id) {
        throw new ClawlinkError(
          "unrecognized_identity",
          403,
          `the relay does not know agent ${id} and did not issue this secret: its key changed (a relay without --key-file or --data makes a new one at each start)`,
          "register afresh under the same name (`clawlink heartbeat` and `listen` do it by themselves); peers that used the old id need the new one",
        );
      }
      secret = req.secret;
    } else {
      id = newId("a");
      secret = agentSecret(this.secretKey, id);
    }
    const holder = this.store.getAgentByName(req.name);
    if (holder && holder.id !== id) {
      if (this.isOnline(holder, now)) {
        throw conflict(
          "name_taken",
          `the name "${req.name}" belongs to agent ${holder.id} on ${holder.machine || "another machine"}, ${this.delivery.isConnected(holder.id) ? "connected now" : `seen ${Math.round((now - holder.lastSeen) / 1000)}s ago`}`,
          "choose another --name, or unregister that agent first",
        );
      }
      if (opts.takeOver === false) {
        throw forbidden(
          `the name "${req.name}" belongs to agent ${holder.id}, not seen for ${Math.round((now - holder.lastSeen) / 1000)}s; only a registration with the relay token can take over a stale agent's name`,
          "pass the relay token with --token (or CLAWLINK_TOKEN), or choose another --name",
        );
      }
      this.unregister(holder.id, "its name was taken over after it went stale");
    }
    if (!this.store.getAgent(id) && this.store.agentCount() >= this.maxAgents) {
      throw new ClawlinkError("too_many_agents", 429, `the relay holds its maximum of ${this.maxAgents} agents`, "unregister agents that are gone, or start the relay with a higher --max-agents");
    }
    const record: AgentRecord = {
      id,
      name: req.name,
      caps: [...new Set(req.caps)],
      description: req.description,
      machine: req.machine,
      secretHash: sha256Hex(secret),
      registeredAt,
      lastSeen: now,
    };
    this.store.putAgent(record);
    this.tasks.agentRegistered(record);
    if (this.events.watched) this.events.emit({ type: "registered", agent: id });
    return { ...this.view(record), secret };
  }

  heartbeat(agent: AgentRecord): Agent {
    agent.lastSeen = this.clock();
    // Other requests only touch lastSeen in memory; a heartbeat is kept, so a restarted relay still counts it.
    this.store.putAgent(agent);
    return this.view(agent);
  }

  unregister(agentId: string, why = "its agent unregistered") {
    const agent = this.store.getAgent(agentId);
    if (!agent) return;
    this.store.afterCommit(() => this.delivery.closeAll(agentId, 4001, "unregistered"));
    this.tasks.agentLeft(agentId, why);
    this.store.deleteAgent(agentId);
    if (this.events.watched) this.events.emit({ type: "unregistered", agent: agentId });
  }

  listAgents(filter: { cap?: string; all?: boolean } = {}): Agent[] {
    const now = this.clock();
    const out: Agent[] = [];
    for (const rec of this.store.listAgents()) {
      if (filter.cap && !rec.caps.includes(filter.cap)) continue;
      if (!filter.all && !this.isOnline(rec, now)) continue;
      out.push(this.view(rec, now));
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  agentCount() {
    return this.store.agentCount();
  }

  /** Finds an agent by id when the value is shaped like one, otherwise by name: a name never stands for another agent's id. */
  resolveAgent(idOrName: string): AgentRecord {
    const agent = AGENT_ID_RE.test(idOrName) ? this.store.getAgent(idOrName) : this.store.getAgentByName(idOrName);
    if (!agent) {
      throw notFound("unknown_agent", `no agent is registered as "${idOrName}"`, "run `clawlink discover --all` to see the registered agents' ids and names");
    }
    return agent;
  }

  view(rec: AgentRecord, now = this.clock()): Agent {
    return {
      id: rec.id,
      name: rec.name,
      caps: rec.caps,
      description: rec.description,
      machine: rec.machine,
      status: this.isOnline(rec, now) ? "online" : "stale",
      connected: this.delivery.isConnected(rec.id),
      registered_at: iso(rec.registeredAt),
      last_seen: iso(this.delivery.isConnected(rec.id) ? now : rec.lastSeen),
    };
  }

  private isOnline(rec: AgentRecord, now: number) {
    return this.delivery.isConnected(rec.id) || now - rec.lastSeen < this.staleAfterMs;
  }

  pendingCount(agentId: string) {
    return this.store.queueLength(agentId);
  }

  /** Messages handed out (to any of the agent's connections, or a poll) and not yet acknowledged. */
  inFlightCount(agentId: string) {
    let n = 0;
    for (const _ of this.store.listInflight(agentId)) n++;
    return n;
  }

  // ------------------------------------------------------------ messages

  send(sender: AgentRecord, msg: SendMessage): Sent {
    if (msg.from !== undefined && msg.from !== sender.id && msg.from !== sender.name) {
      throw forbidden(`an agent can send only as itself: you are ${sender.id}, the message says from ${msg.from}`, "leave out `from`; the relay fills it in");
    }
    switch (msg.type) {
      case "task":
        return this.tasks.send(sender, msg);
      case "response":
        return this.respond(sender, msg);
      case "progress":
        return this.tasks.progress(sender, msg.in_reply_to, msg.note);
      case "broadcast": {
        const id = newSortableId("m");
        const recipients = this.notify(
          { type: "broadcast", id, from: sender.id, to: null, created_at: iso(this.clock()), content: msg.content, topic: msg.topic, tags: msg.tags },
          sender.id,
        );
        return { id, recipients };
      }
    }
  }

  /** Queues one message (a broadcast, a file change) for every agent but `except`; an agent it does not fit (a full queue, a spent budget) misses it. */
  notify(msg: Message, except: string | null = null): number {
    const size = sizeOf(msg);
    let recipients = 0;
    for (const rec of this.store.listAgents()) {
      if (rec.id === except || !this.fits(rec.id, msg.from, size)) continue;
      this.enqueue(msg, rec.id, "normal", size);
      recipients++;
    }
    return recipients;
  }

  /** Messages an agent has waiting: queued, or handed out and not yet acknowledged. */
  private waiting(agentId: string) {
    return this.store.queueLength(agentId) + this.store.inflightCount(agentId);
  }

  /** Whether a message of `size` bytes from `from` fits `to`'s queue and the byte budgets; one it replaces makes room. */
  private fits(to: string, from: string, size: number, replacing?: Entry): boolean {
    if (!replacing && this.waiting(to) >= this.maxQueue) return false;
    return this.budgets.fits(from, size, freedBy(replacing, from));
  }

  /** Throws 429 unless a message of `size` bytes from `from` fits `to`'s queue and the byte budgets. */
  private admit(to: AgentRecord, from: string, size: number, replacing?: Entry) {
    const waiting = replacing ? 0 : this.waiting(to.id);
    if (waiting >= this.maxQueue) {
      throw new ClawlinkError(
        "queue_full",
        429,
        `${to.name}'s queue is full (${waiting} messages waiting)`,
        `retry later, or send to another agent; ${to.name} must poll or listen to drain it`,
        { "Retry-After": "1" },
      );
    }
    this.budgets.check(from, size, freedBy(replacing, from));
  }

  private enqueue(msg: Message, to: string, priority: Priority, size = sizeOf(msg)) {
    // An agent that unregistered has no queue: what is still addressed to it would wait there forever.
    if (!this.store.getAgent(to)) return;
    this.delivery.route({ msg, to, priority, seq: this.seq++, size });
    if (this.events.watched) this.events.emit({ type: "queued", agent: to, message: msg, priority });
  }

  private respond(sender: AgentRecord, msg: Extract<SendMessage, { type: "response" }>): Sent {
    const task = this.store.getTask(msg.in_reply_to);
    if (task) return this.tasks.respond(sender, task, msg);
    // A reply to a broadcast or any other message: a plain response to a named agent.
    if (msg.to === undefined) throw this.tasks.missing(sender, msg.in_reply_to, "to reply to a broadcast, also pass --to AGENT");
    const to = this.resolveAgent(msg.to);
    const id = newSortableId("m");
    const reply: Message = { type: "response", id, from: sender.id, to: to.id, created_at: iso(this.clock()), in_reply_to: msg.in_reply_to, status: msg.status, result: msg.result };
    const size = sizeOf(reply);
    this.admit(to, sender.id, size);
    this.enqueue(reply, to.id, "normal", size);
    return { id, to: to.id };
  }

  /** Acknowledge messages; settles the lease of tasks among them. */
  ack(agent: AgentRecord, ids: string[], taskIds: string[] = []): number {
    let n = 0;
    for (const id of ids) if (this.delivery.ack(agent.id, id)) n++;
    // `delegate --wait` saw its task end: clear the inbox of what concerned it.
    for (const taskId of taskIds) n += this.tasks.clearInboxOf(agent, taskId);
    return n;
  }

  take(agent: AgentRecord, max: number): Message[] {
    return this.delivery.take(agent.id, max);
  }

  // ------------------------------------------------------------ time

  /** Runs leases and ttls forward to `now`; the server calls it a few times a second. */
  tick(now = this.clock()) {
    for (const item of this.delivery.expired(now)) {
      const msg = item.entry.msg;
      if (msg.type === "task" && !this.tasks.leaseRanOut(msg.id, now)) continue;
      this.delivery.route(item.entry);
    }
    this.tasks.expireQueued(now);
    if (now >= this.nextForgetSweep) {
      this.nextForgetSweep = now + Math.min(FORGET_SWEEP_MS, this.forgetAfterMs / 4);
      this.forgetIdle(now);
    }
    this.tasks.forgetFinished(now);
  }

  /** Forgets agents stale and idle for `forgetAfterMs`, so abandoned registrations do not fill the registry for good. */
  private forgetIdle(now: number) {
    for (const rec of [...this.store.listAgents()]) {
      if (this.isOnline(rec, now) || now - Math.max(rec.lastSeen, this.startedAt) < this.forgetAfterMs) continue;
      if (this.store.queueLength(rec.id) > 0 || [...this.store.listInflight(rec.id)].length > 0 || this.tasks.holdsUnfinished(rec.id)) continue;
      this.unregister(rec.id, "it was forgotten after being stale");
    }
  }
}

/** Bytes a replaced message gives back to `from`'s budget (none when someone else sent it). */
const freedBy = (replacing: Entry | undefined, from: string) => (replacing && replacing.msg.from === from ? replacing.size : 0);
