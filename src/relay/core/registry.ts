/** The agents: registering, names, who is online, and recognising an agent by its secret. */
import { ClawlinkError, conflict, forbidden, notFound } from "../../errors";
import { AGENT_ID_RE, type Agent, type RegisterRequest, type Registration } from "../../protocol/schemas";
import type { Bus } from "../bus/port";
import type { Clock } from "../clock";
import { newId, safeEqual, sha256Hex } from "../ids";
import { agentSecret, claimedAt, nameClaim, randomKey, secretId } from "../keys";
import type { AgentRecord, Room, Store } from "../store/port";
import { announce } from "./announce";
import { agentView, isOnline } from "./views";

export interface RegistryOptions {
  /** An agent not seen for this long is listed as stale, and its name may be taken over. */
  staleAfterMs: number;
  maxAgents: number;
  /** An agent unseen this long, stale, with nothing queued, in flight or held, is forgotten. */
  forgetAfterMs: number;
  /** The key agent secrets are derived from; by default the store's (per process in memory, kept by a durable store). */
  secretKey?: Uint8Array;
  /** Where the status messages about the tasks of an agent that left fit. */
  room: Room;
}

export interface RegisterOptions {
  /** Whether this registration may take a stale agent's name (with a token set, only the token may). */
  takeOver?: boolean;
}

/** Agents whose name was reclaimed, remembered so their next request says why they are gone. */
const MAX_RECLAIMED = 1000;
/** New agents this process remembers having made, newest kept: what it takes back if it finds it was never the team's. */
const MAX_CREATED = 10_000;

/** How often forgotten agents are looked for, at most. */
const FORGET_SWEEP_MS = 15_000;

/** A request within this long of the last one does not mark its agent seen again: one write a second at most. */
const SEEN_GRANULARITY_MS = 1000;
/** Agents remembered as verified at most; past it the memory starts afresh. */
const VERIFIED_MAX = 4096;
/** How long a verified agent is answered from memory, at most, when no event about it arrives (one lost between relays). */
export const VERIFIED_MS = SEEN_GRANULARITY_MS;

/** An agent whose secret matched its record, answered from memory until `until`. */
interface Verified {
  readonly secret: string;
  readonly hash: string;
  readonly agent: AgentRecord;
  readonly until: number;
}

/** Events after which an agent's record (its secret, its connections, or the agent itself) may have changed. */
const CHANGES_AGENT = new Set(["registered", "unregistered", "connected", "disconnected"]);

export function unknownAgentError(idOrName: string): ClawlinkError {
  return notFound("unknown_agent", `no agent is registered as "${idOrName}"`, "run `clawlink discover --all` to see the registered agents' ids and names");
}

export function unknownAgent(idOrName: string): never {
  throw unknownAgentError(idOrName);
}

/** Finds an agent by id when the value is shaped like one, otherwise by name. */
export async function resolveAgent(store: Store, idOrName: string): Promise<AgentRecord> {
  return (await store.findAgent(idOrName)) ?? unknownAgent(idOrName);
}

export class Registry {
  private key: Uint8Array | undefined;
  /** Resolves once the relay key is loaded (from the store, which may keep it). */
  readonly ready: Promise<void>;
  /** Agents restored by a durable store were not watched while it was down: their idle time counts from the start. */
  private readonly startedAt: number;
  private nextForgetSweep = 0;
  /** Only a store that forgets everything at a restart (memory) lets a name claim from before it take a name back. */
  private readonly reclaims: boolean;
  private readonly reclaimed = new Map<string, { name: string; by: string }>();
  /** Agents made through this process (new ids), with when, in order. */
  private readonly created = new Map<string, number>();
  /**
   * Agents whose secret matched their record, by id: a busy agent's requests skip the store's read and
   * the hash for up to VERIFIED_MS, and any event that may have changed the record drops it at once.
   */
  private readonly verified = new Map<string, Verified>();
  /** Counts what dropped verified agents, so a read that an event overtook is not remembered. */
  private forgets = 0;

  constructor(
    private store: Store,
    private bus: Bus,
    private clock: Clock,
    readonly opts: RegistryOptions,
  ) {
    this.startedAt = clock();
    this.reclaims = store.describe().kind === "memory";
    this.ready = (opts.secretKey ? Promise.resolve(opts.secretKey) : store.relayKey(randomKey())).then((key) => {
      this.key = key;
    });
    bus.subscribe((e) => {
      if (CHANGES_AGENT.has(e.type)) this.forget((e as { agent: string }).agent);
    });
    // Events from other relays may have been missed: nothing remembered is trusted.
    bus.onResume?.(() => this.forget());
  }

  /** Drops what is remembered of one agent's verification, or of every agent's (the store was emptied or away). */
  forget(agentId?: string) {
    this.forgets++;
    if (agentId === undefined) this.verified.clear();
    else this.verified.delete(agentId);
  }

  /** After the store lost everything: writes this relay's key back (unless it comes from a key file) and takes the one kept, which another relay may have written first. */
  async restoreKey(): Promise<Uint8Array | undefined> {
    if (this.opts.secretKey || !this.key) return undefined;
    this.key = await this.store.relayKey(this.key);
    return this.key;
  }

  /** The key agents' secrets derive from, once read from the store (shared by every relay on it). */
  get relayKey(): Uint8Array | undefined {
    return this.key;
  }

  /** The id of an agent whose secret this relay issued (known to it or not), or undefined. */
  recognise(secret: string): string | undefined {
    const id = secretId(secret);
    return this.key && AGENT_ID_RE.test(id) && safeEqual(secret, agentSecret(this.key, id)) ? id : undefined;
  }

  /**
   * The agent a bearer secret belongs to, marked seen; undefined for any other value. An agent verified
   * in the last VERIFIED_MS is answered from memory, unless an event about it (registered again,
   * unregistered, connected, disconnected) arrived since; a wrong secret always reads the store.
   */
  async authenticate(secret: string): Promise<AgentRecord | undefined> {
    return this.verifiedAgent(secret) ?? this.check(secret);
  }

  /** The agent of a secret verified in the last VERIFIED_MS, answered from memory; undefined when the store must be read (`authenticate`). */
  verifiedAgent(secret: string): AgentRecord | undefined {
    const known = this.verified.get(secretId(secret));
    return known !== undefined && this.clock() < known.until && safeEqual(known.secret, secret) ? known.agent : undefined;
  }

  private async check(secret: string): Promise<AgentRecord | undefined> {
    const id = secretId(secret);
    if (!id) return undefined;
    const now = this.clock();
    const known = this.verified.get(id);
    const same = known !== undefined && safeEqual(known.secret, secret);
    const forgets = this.forgets;
    const agent = await this.store.getAgent(id);
    if (!agent) return undefined;
    const hash = same ? known.hash : sha256Hex(secret);
    // The record is compared every time it is read, so a secret replaced by a new registration stops working.
    if (!safeEqual(agent.secretHash, hash)) return undefined;
    const rec = now - agent.lastSeen < SEEN_GRANULARITY_MS ? agent : await this.store.touchAgent(agent.id, now);
    if (!rec || !safeEqual(rec.secretHash, hash)) return undefined;
    // Remembered only when no event about any agent arrived during the reads: the record may be older than it.
    if (forgets === this.forgets) this.keepVerified(secret, hash, rec, now);
    return rec;
  }

  private keepVerified(secret: string, hash: string, agent: AgentRecord, readAt: number) {
    // Bounded, and only secrets that matched a record, so a flood of made-up secrets cannot grow it.
    if (!this.verified.has(agent.id) && this.verified.size >= VERIFIED_MAX) this.verified.clear();
    // Never past the next write of lastSeen, which then reads the record again.
    this.verified.set(agent.id, { secret, hash, agent, until: Math.min(readAt + VERIFIED_MS, agent.lastSeen + SEEN_GRANULARITY_MS) });
  }

  /** Marks an agent seen now; its current record, or undefined when it is gone. */
  async seen(agent: AgentRecord): Promise<AgentRecord | undefined> {
    const now = this.clock();
    if (now - agent.lastSeen < SEEN_GRANULARITY_MS) return (await this.store.getAgent(agent.id));
    return await this.store.touchAgent(agent.id, now);
  }

  async register(req: RegisterRequest, opts: RegisterOptions = {}): Promise<{ agent: AgentRecord; registration: Registration }> {
    await this.ready;
    const now = this.clock();
    let id = req.id;
    let secret: string;
    if (id !== undefined) {
      // Registering an identity again: the caller proves it with the agent's secret, which a relay that forgot
      // the agent checks against the key it derives secrets from.
      if (!req.secret) throw forbidden(`re-registering agent ${id} needs its secret`, "register without an id to get a new identity");
      secret = req.secret;
    } else {
      id = newId("a");
      secret = agentSecret(this.key!, id);
    }
    const takeOver = opts.takeOver !== false;
    const recognised = this.recognise(secret) === id;
    // A claim made before this process started proves a name this in-memory relay forgot; one made since proves nothing new.
    const since = recognised && this.reclaims && req.claim ? claimedAt(this.key!, id, req.name, req.claim) : undefined;
    const reclaim = since !== undefined && since < this.startedAt ? { since, note: `its name was reclaimed by agent ${id}, which held it before the relay restarted` } : undefined;
    const r = await this.store.claimName(
      { id, name: req.name, caps: [...new Set(req.caps)], description: req.description, machine: req.machine, secretHash: sha256Hex(secret) },
      now,
      { staleBefore: now - this.opts.staleAfterMs, maxAgents: this.opts.maxAgents, takeOver, allowNew: recognised, note: "its name was taken over after it went stale", room: this.opts.room, ...(reclaim ? { reclaim } : {}) },
    );
    if (!r.ok) {
      switch (r.refused) {
        case "wrong_secret":
          throw forbidden(`the secret does not match agent ${id}`, "register under a new name, or use the identity file that registered it");
        case "unknown_id":
          throw new ClawlinkError(
            "unrecognized_identity",
            `the relay does not know agent ${id} and did not issue this secret: its key changed (a relay without --key-file or --data makes a new one at each start)`,
            "register afresh under the same name (`clawlink heartbeat` and `listen` do it by themselves); peers that used the old id need the new one",
          );
        case "name_taken": {
          const ago = Math.round((now - r.holder.lastSeen) / 1000);
          if (r.stale && !takeOver) {
            throw forbidden(
              `the name "${req.name}" belongs to agent ${r.holder.id}, not seen for ${ago}s; only a registration with the relay token can take over a stale agent's name`,
              "pass the relay token with --token (or CLAWLINK_TOKEN), or choose another --name",
            );
          }
          const when = r.holder.conns.length > 0 ? "connected now" : `seen ${ago}s ago`;
          throw conflict("name_taken", `the name "${req.name}" belongs to agent ${r.holder.id} on ${r.holder.machine || "another machine"}, ${when}`, "choose another --name, or unregister that agent first");
        }
        case "too_many_agents":
          throw new ClawlinkError("too_many_agents", `the relay holds its maximum of ${this.opts.maxAgents} agents`, "unregister agents that are gone, or start the relay with a higher --max-agents");
      }
    }
    this.reclaimed.delete(id);
    if (req.id === undefined) {
      this.created.set(id, now);
      if (this.created.size > MAX_CREATED) this.created.delete(this.created.keys().next().value!);
    }
    if (r.replaced && r.reclaimed) this.remember(r.replaced.id, { name: req.name, by: id });
    if (r.replaced) this.bus.publish({ type: "unregistered", agent: r.replaced.id, ...(r.reclaimed ? { reclaimedBy: id } : {}) });
    this.bus.publish({ type: "registered", agent: r.agent.id });
    announce(this.bus, r.effects);
    // Every relay has dropped what it verified of the agent replaced before this answer goes out.
    if (r.replaced) await this.bus.flush?.();
    return { agent: r.agent, registration: { ...this.view(r.agent, now), secret, claim: nameClaim(this.key!, id, r.agent.name, now) } };
  }

  /** Why an agent the relay does not hold is gone, when it lost its name to the identity that held it before a restart. */
  lostName(agentId: string): ClawlinkError | undefined {
    const r = this.reclaimed.get(agentId);
    if (!r) return undefined;
    return conflict(
      "name_reclaimed",
      `agent ${agentId} was removed: the name "${r.name}" was reclaimed by agent ${r.by}, which held it before the relay restarted`,
      "register under another name (`clawlink register --name NEW`)",
    );
  }

  private remember(agentId: string, why: { name: string; by: string }) {
    this.reclaimed.set(agentId, why);
    // Insertion order is age order.
    if (this.reclaimed.size > MAX_RECLAIMED) this.reclaimed.delete(this.reclaimed.keys().next().value!);
  }

  /** Marks the agent seen, and keeps that across a restart; says how many messages wait for it and how many it has not acknowledged. */
  async heartbeat(agent: AgentRecord): Promise<Agent & { pending: number; in_flight: number }> {
    const now = this.clock();
    const rec = (await this.store.touchAgent(agent.id, now, true)) ?? agent;
    const [pending, inFlight] = await Promise.all([this.store.countWaiting(agent.id), this.store.countInFlight(agent.id)]);
    return { ...this.view(rec, now), pending, in_flight: inFlight };
  }

  async unregister(agentId: string, why: string) {
    const gone = await this.store.unregisterAgent(agentId, this.clock(), why, this.opts.room);
    if (!gone) return;
    this.bus.publish({ type: "unregistered", agent: agentId });
    announce(this.bus, gone.effects);
    // Every relay refuses the agent before its caller hears it is gone.
    await this.bus.flush?.();
  }

  /** Unregisters the agents this process made since `since`: it let them join a team whose token it did not hold. */
  async unregisterCreated(since: number, why: string) {
    for (const [id, at] of [...this.created]) if (at >= since) await this.unregister(id, why);
  }

  async list(filter: { cap?: string; all?: boolean }): Promise<Agent[]> {
    const now = this.clock();
    const out: Agent[] = [];
    for (const rec of await this.store.listAgents()) {
      if (filter.cap && !rec.caps.includes(filter.cap)) continue;
      if (!filter.all && !isOnline(rec, now, this.opts.staleAfterMs)) continue;
      out.push(this.view(rec, now));
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(idOrName: string): Promise<Agent> {
    return this.view(await resolveAgent(this.store, idOrName));
  }

  count() {
    return this.store.countAgents();
  }

  view(rec: AgentRecord, now = this.clock()): Agent {
    return agentView(rec, now, this.opts.staleAfterMs);
  }

  /** Forgets agents stale and idle for `forgetAfterMs`, so abandoned registrations do not fill the registry for good. */
  async sweep(now: number) {
    if (now < this.nextForgetSweep) return;
    this.nextForgetSweep = now + Math.min(FORGET_SWEEP_MS, this.opts.forgetAfterMs / 4);
    const cutoff = now - this.opts.forgetAfterMs;
    if (this.startedAt > cutoff) return;
    const { agents, effects } = await this.store.forgetAgents(cutoff + 1, 1000, now, "it was forgotten after being stale", this.opts.room);
    for (const a of agents) this.bus.publish({ type: "unregistered", agent: a.id });
    announce(this.bus, effects);
  }
}
