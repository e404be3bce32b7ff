/** The agents: registering, names, who is online, and recognising an agent by its secret. */
import { ClawlinkError, conflict, forbidden, notFound } from "../../errors";
import type { Agent, RegisterRequest, Registration } from "../../protocol/schemas";
import type { Bus } from "../bus/port";
import type { Clock } from "../clock";
import { newId, newSecret, safeEqual, sha256Hex } from "../ids";
import type { AgentRecord, Store } from "../store/port";
import { announce } from "./announce";
import { agentView, isOnline } from "./views";

export interface RegistryOptions {
  /** An agent not seen for this long is listed as stale, and its name may be taken over. */
  staleAfterMs: number;
  maxAgents: number;
  /** An agent stale this long with nothing waiting for it is forgotten; never when left out. */
  forgetAfterMs?: number;
}

/** A request within this long of the last one does not mark its agent seen again: one write a second at most. */
const SEEN_GRANULARITY_MS = 1000;

export function unknownAgent(idOrName: string): never {
  throw notFound("unknown_agent", `no agent is registered as "${idOrName}"`, "run `clawlink discover --all` to see the registered agents' ids and names");
}

/** Finds an agent by id, then by name. */
export async function resolveAgent(store: Store, idOrName: string): Promise<AgentRecord> {
  return (await store.findAgent(idOrName)) ?? unknownAgent(idOrName);
}

export class Registry {
  constructor(
    private store: Store,
    private bus: Bus,
    private clock: Clock,
    readonly opts: RegistryOptions,
  ) {}

  /** The agent a bearer secret belongs to, marked seen; undefined for any other value. */
  async authenticate(secret: string): Promise<AgentRecord | undefined> {
    const dot = secret.indexOf(".");
    if (dot <= 0) return undefined;
    const agent = await this.store.getAgent(secret.slice(0, dot));
    if (!agent || !safeEqual(agent.secretHash, sha256Hex(secret))) return undefined;
    const now = this.clock();
    return now - agent.lastSeen < SEEN_GRANULARITY_MS ? agent : await this.store.touchAgent(agent.id, now);
  }

  /** Marks an agent seen now; its current record, or undefined when it is gone. */
  async seen(agent: AgentRecord): Promise<AgentRecord | undefined> {
    const now = this.clock();
    if (now - agent.lastSeen < SEEN_GRANULARITY_MS) return (await this.store.getAgent(agent.id));
    return await this.store.touchAgent(agent.id, now);
  }

  async register(req: RegisterRequest): Promise<{ agent: AgentRecord; registration: Registration }> {
    const now = this.clock();
    let id = req.id;
    let secret: string;
    if (id !== undefined) {
      // Registering an identity again: the caller must hold its secret, whether or not the relay still knows it.
      if (!req.secret || !req.secret.startsWith(`${id}.`)) {
        throw forbidden(`re-registering agent ${id} needs its secret`, "register without --id to get a new identity");
      }
      secret = req.secret;
    } else {
      id = newId("a");
      secret = newSecret(id);
    }
    const r = await this.store.claimName(
      { id, name: req.name, caps: [...new Set(req.caps)], description: req.description, machine: req.machine, secretHash: sha256Hex(secret) },
      now,
      { staleBefore: now - this.opts.staleAfterMs, maxAgents: this.opts.maxAgents, takeOver: true, note: "its name was taken over after it went stale" },
    );
    if (!r.ok) {
      switch (r.refused) {
        case "wrong_secret":
          throw forbidden(`the secret does not match agent ${id}`, "register under a new name, or use the identity file that registered it");
        case "name_taken":
          throw conflict(
            "name_taken",
            `the name "${req.name}" belongs to agent ${r.holder.id} on ${r.holder.machine || "another machine"}, seen ${Math.round((now - r.holder.lastSeen) / 1000)}s ago`,
            "choose another --name, or unregister that agent first",
          );
        case "too_many_agents":
          throw new ClawlinkError("too_many_agents", 429, `the relay holds its maximum of ${this.opts.maxAgents} agents`, "unregister agents that are gone, or start the relay with a higher --max-agents");
      }
    }
    if (r.replaced) this.bus.publish({ type: "unregistered", agent: r.replaced.id });
    announce(this.bus, r.effects);
    return { agent: r.agent, registration: { ...this.view(r.agent, now), secret } };
  }

  /** Marks the agent seen, and keeps that across a restart. */
  async heartbeat(agent: AgentRecord): Promise<Agent & { pending: number }> {
    const now = this.clock();
    const rec = (await this.store.touchAgent(agent.id, now, true)) ?? agent;
    return { ...this.view(rec, now), pending: await this.store.countWaiting(agent.id) };
  }

  async unregister(agentId: string, why: string) {
    const gone = await this.store.unregisterAgent(agentId, this.clock(), why);
    if (!gone) return;
    this.bus.publish({ type: "unregistered", agent: agentId });
    announce(this.bus, gone.effects);
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

  /** Forgets agents stale for a long while with nothing waiting for them. */
  async sweep(now: number) {
    if (this.opts.forgetAfterMs === undefined) return;
    const hours = Math.round(this.opts.forgetAfterMs / 3_600_000);
    const { agents, effects } = await this.store.forgetAgents(now - this.opts.forgetAfterMs, 1000, now, `it was not seen for ${hours}h and was forgotten`);
    for (const a of agents) this.bus.publish({ type: "unregistered", agent: a.id });
    announce(this.bus, effects);
  }
}
