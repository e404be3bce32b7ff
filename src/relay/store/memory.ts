/**
 * The memory store: the Store port over plain maps. Every operation runs to its end before it
 * returns (nothing in it awaits), which is what makes it atomic; its promise is already settled.
 * The durable store (sqlite.ts) is this store plus a journal of the rows each operation changed.
 * Its layers: the state and message bookkeeping (`_memory-state.ts`), task operations
 * (`_memory-tasks.ts`), message operations (`_memory-messages.ts`, which change tasks as claims and leases
 * run out), and here agents, limits and files.
 */
import type { Message } from "../../protocol/schemas";
import { safeEqual } from "../ids";
import { metaOf } from "./_files";
import type { Slot } from "./_inbox";
import { Counters } from "./_limits";
import { Changes, type Live } from "./_memory-state";
import { MemoryMessages } from "./_memory-messages";
import { NO_EFFECTS, type AgentRecord, type ClaimedName, type FileRules, type NameRules, type NewAgent, type NewFileVersion, type Room, type Store } from "./port";
import { frozen, isFinal } from "./rules";

export class MemoryStore extends MemoryMessages implements Store {
  private relayKeyValue: Uint8Array | undefined;
  /** Limits' counters: live state of this process, which a durable store neither writes nor reads back. */
  private counters = new Counters();

  // ---------------------------------------------------------------- agents

  async getAgent(id: string) {
    return this.agents.get(id);
  }
  async getAgentByName(name: string) {
    const id = this.names.get(name);
    return id === undefined ? undefined : this.agents.get(id);
  }
  async findAgent(idOrName: string) {
    return this.resolve(idOrName);
  }

  async listAgents() {
    return [...this.agents.values()];
  }
  async countAgents() {
    return this.agents.size;
  }

  async claimName(agent: NewAgent, now: number, rules: NameRules): Promise<ClaimedName> {
    const known = this.agents.get(agent.id);
    if (known && !safeEqual(known.secretHash, agent.secretHash)) return { ok: false, refused: "wrong_secret" };
    if (!known && !rules.allowNew) return { ok: false, refused: "unknown_id" };
    const holderId = this.names.get(agent.name);
    const holder = holderId !== undefined && holderId !== agent.id ? this.agents.get(holderId) : undefined;
    const reclaimed = holder !== undefined && rules.reclaim !== undefined && (holder.claimSince ?? -Infinity) < rules.reclaim.since;
    if (holder && !reclaimed) {
      const stale = holder.conns.length === 0 && holder.lastSeen < rules.staleBefore;
      if (!stale || !rules.takeOver) return { ok: false, refused: "name_taken", holder, stale };
    }
    const count = this.agents.size - (holder ? 1 : 0);
    if (!known && count >= rules.maxAgents) return { ok: false, refused: "too_many_agents", count };
    const fx = new Changes();
    if (holder) this.drop(holder.id, now, reclaimed ? rules.reclaim!.note : rules.note, rules.room, fx);
    // A taken-over name keeps the standing its stale holder had; a renamed agent starts without one.
    const claimSince = rules.reclaim?.since ?? (holder ? holder.claimSince : known?.name === agent.name ? known.claimSince : null) ?? null;
    const record: AgentRecord = frozen({
      ...agent,
      claimSince,
      caps: frozen([...agent.caps]),
      registeredAt: known?.registeredAt ?? now,
      lastSeen: now,
      conns: known?.conns ?? frozen([]),
    });
    if (known && known.name !== agent.name && this.names.get(known.name) === known.id) this.names.delete(known.name);
    this.agents.set(agent.id, record);
    this.names.set(agent.name, agent.id);
    this.agentChanged(agent.id, true);
    return { ok: true, agent: record, created: !known, replaced: holder ?? null, reclaimed, effects: fx.effects };
  }

  async touchAgent(id: string, now: number, keep = false) {
    const rec = this.agents.get(id);
    if (!rec) return undefined;
    const next = frozen({ ...rec, lastSeen: Math.max(rec.lastSeen, now) });
    this.agents.set(id, next);
    this.agentChanged(id, keep);
    return next;
  }

  async unregisterAgent(id: string, now: number, note: string, room: Room) {
    const fx = new Changes();
    const agent = this.drop(id, now, note, room, fx);
    return agent ? { agent, effects: fx.effects } : undefined;
  }

  async forgetAgents(staleBefore: number, limit: number, now: number, note: string, room: Room) {
    const out: AgentRecord[] = [];
    const fx = new Changes();
    for (const rec of this.agents.values()) {
      if (out.length >= limit) break;
      if (rec.conns.length > 0 || rec.lastSeen >= staleBefore) continue;
      // Unread broadcasts go with it: they were for whoever listened then.
      const inbox = this.inboxes.get(rec.id);
      if ((inbox && !inbox.idle) || this.tasks.heldBy(rec.id) > 0) continue;
      this.drop(rec.id, now, note, room, fx);
      out.push(rec);
    }
    return { agents: out, effects: fx.effects };
  }

  /** Removes an agent and what waits for it; the unfinished tasks it held fail. */
  private drop(id: string, now: number, note: string, room: Room, fx: Changes): AgentRecord | undefined {
    const agent = this.agents.get(id);
    if (!agent) return undefined;
    this.agents.delete(id);
    if (this.names.get(agent.name) === id) this.names.delete(agent.name);
    const inbox = this.inboxes.get(id);
    if (inbox) {
      for (const s of [...inbox.queued()]) this.settle(inbox.take(s));
      for (const msgId of [...inbox.flying.keys()]) this.settle(inbox.land(msgId)!);
      this.inboxes.delete(id);
      this.flyingAgents.delete(id);
    }
    this.agentChanged(id, true);
    for (const taskId of [...this.tasks.of(id)]) {
      const task = this.tasks.get(taskId)!;
      if (task.to === id && !isFinal(task.state)) this.change(task, { state: "failed", note: `assignee left: ${note}`, at: now }, room, fx);
    }
    this.tasks.forgetHolder(id);
    return agent;
  }

  async attachConnection(agentId: string, conn: string, now?: number) {
    const rec = this.agents.get(agentId);
    if (!rec) return undefined;
    const since = rec.conns.length === 0 && now !== undefined ? { connectedAt: now, disconnectedAt: null, lastSeen: Math.max(rec.lastSeen, now) } : {};
    const agent = frozen({ ...rec, ...since, conns: frozen([...rec.conns, conn]) });
    this.agents.set(agentId, agent);
    this.agentChanged(agentId, false);
    return agent;
  }

  async detachConnection(agentId: string, conn: string, now?: number) {
    const rec = this.agents.get(agentId);
    if (!rec) return NO_EFFECTS;
    const conns = frozen(rec.conns.filter((c) => c !== conn));
    // Seen until its last socket closed; from then on the holder's grace runs.
    const since = conns.length === 0 && rec.conns.length > 0 && now !== undefined ? { connectedAt: null, disconnectedAt: now, lastSeen: Math.max(rec.lastSeen, now) } : {};
    this.agents.set(agentId, frozen({ ...rec, ...since, conns }));
    this.agentChanged(agentId, false);
    const fx = new Changes();
    const inbox = this.inboxes.get(agentId);
    if (inbox) {
      const ids: string[] = [];
      for (const s of inbox.flying.values()) if (s.conn === conn) ids.push(s.msg.id);
      this.requeueSlots(agentId, inbox, ids, fx);
    }
    return fx.effects;
  }

  /** What lives only in this process and is never written down: connections, last seen, messages out on sockets. */
  protected liveState(): Live {
    const agents = new Map<string, Pick<AgentRecord, "conns" | "lastSeen">>();
    for (const a of this.agents.values()) agents.set(a.id, { conns: a.conns, lastSeen: a.lastSeen });
    const flights: Live["flights"] = [];
    for (const inbox of this.inboxes.values()) for (const s of inbox.flying.values()) if (s.conn !== null) flights.push({ to: s.to, id: s.msg.id, conn: s.conn, until: s.until });
    return { agents, flights };
  }

  /** Puts live state back over records read again from disk: sockets keep what they were handed. */
  protected revive(live: Live) {
    for (const [id, l] of live.agents) {
      const rec = this.agents.get(id);
      if (rec) this.agents.set(id, frozen({ ...rec, conns: l.conns, lastSeen: Math.max(rec.lastSeen, l.lastSeen) }));
    }
    const byAgent = Map.groupBy(live.flights, (f) => f.to);
    for (const [to, flights] of byAgent) {
      const inbox = this.inboxes.get(to);
      if (!inbox) continue;
      const wanted = new Map(flights.map((f) => [f.id, f]));
      for (const s of [...inbox.queued()]) {
        const f = wanted.get(s.msg.id);
        if (f) inbox.fly(inbox.take(s), f.until, f.conn);
      }
      if (inbox.flying.size > 0) this.flyingAgents.add(to);
    }
  }

  // ---------------------------------------------------------------- limits

  async hit(key: string, windowMs: number, max: number, now: number) {
    return this.counters.hit(key, windowMs, max, now);
  }
  async holdConnection(identity: string, conn: string, max: number) {
    return this.counters.holdConnection(identity, conn, max);
  }
  async releaseConnection(identity: string, conn: string) {
    this.counters.releaseConnection(identity, conn);
  }

  describe(): { kind: "memory" | "sqlite" | "redis"; path?: string } {
    return { kind: "memory" };
  }

  async relayKey(fresh: Uint8Array) {
    return (this.relayKeyValue ??= fresh);
  }

  /** Puts back an agent a durable store kept; its connections were on a relay that is gone. */
  protected restoreAgent(agent: AgentRecord) {
    // When its sockets opened and closed was about a relay that is gone: until it connects again, its leases alone speak for it.
    this.agents.set(agent.id, frozen({ ...agent, caps: frozen([...agent.caps]), conns: frozen([]), connectedAt: null, disconnectedAt: null }));
    this.names.set(agent.name, agent.id);
  }

  /** Puts back a message a durable store kept: queued, or in flight from a poll until `until`. */
  protected restoreMessage(seq: number, to: string, priority: Slot["priority"], msg: Message, until: number | null, bytes?: number) {
    if (!this.agents.has(to)) {
      this.seq = Math.max(this.seq, seq + 1);
      return;
    }
    // It keeps the sequence number it was given, and so its place among the others (they come in order).
    this.seq = seq;
    const slot = this.queue({ to, priority, msg }, null, new Changes(), bytes) as Slot;
    if (until === null) return;
    const inbox = this.inboxes.get(to)!;
    inbox.fly(inbox.take(slot), until, null);
    this.flyingAgents.add(to);
  }

  // ---------------------------------------------------------------- files

  async getFileHead(key: string) {
    return this.files.heads.get(key);
  }
  async getFileVersion(key: string, version: number) {
    return this.files.version(key, version);
  }
  async listFileVersions(key: string) {
    return (this.files.versions.get(key) ?? []).map(metaOf);
  }
  async listFiles(prefix: string, now: number) {
    return this.files.list(prefix, now);
  }
  async pinnedBytes(key: string) {
    return this.files.pinnedExcept(key);
  }
  async putFileVersionIf(key: string, expected: number, file: NewFileVersion, rules: FileRules) {
    return this.files.putIf(key, expected, file, rules);
  }
  async deleteFileIf(key: string, actorId: string, actorName: string, now: number) {
    return this.files.deleteIf(key, actorId, actorName, now);
  }
  async getLease(key: string, now: number) {
    return this.files.liveLock(key, now);
  }
  async takeLease(key: string, holderId: string, holderName: string, now: number, until: number) {
    return this.files.take(key, holderId, holderName, now, until);
  }
  async releaseLease(key: string, holderId: string | null, now: number) {
    return this.files.release(key, holderId, now);
  }
  async expireLeases(now: number) {
    return this.files.expire(now);
  }

  async close() {}
}
