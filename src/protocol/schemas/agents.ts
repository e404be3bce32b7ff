/** Agents: registering, the record the relay keeps and shows, the heartbeat, and the relay's health. */
import * as v from "valibot";
import { Deferred, built, whenRead } from "../deferred";
import { Text } from "./_fields";
import { AgentId, AgentName, Capability, Id, NewAgentName, Timestamp } from "./primitives";

export const RegisterRequest = new Deferred(() => v.object({
  name: built(NewAgentName),
  caps: v.optional(v.pipe(v.array(Capability), v.maxLength(64, "at most 64 capabilities")), []),
  description: v.optional(Text(2000, "description"), ""),
  machine: v.optional(Text(255, "machine"), ""),
  /** Re-register an existing identity (keeping its id); needs that agent's secret in `secret`. */
  id: v.optional(AgentId),
  secret: v.optional(v.pipe(v.string(), v.maxLength(256))),
  /** The name claim the relay issued with this name (`Registration.claim`): after an in-memory restart it takes the name back from whoever registered it since. */
  claim: v.optional(v.pipe(v.string(), v.maxLength(128))),
}), whenRead);
export type RegisterRequest = v.InferOutput<typeof RegisterRequest>;

/**
 * listening: an inbox socket is open (tasks arrive at once); online: seen over HTTP in the last 30 s
 * (`--cap` routes to both); idle: its socket closed, or quiet for 30 s, but seen within 2 minutes
 * (not routed to); stale: not seen for longer.
 */
export const AgentStatus = new Deferred(() => v.picklist(["listening", "online", "idle", "stale"]), whenRead);
export type AgentStatus = v.InferOutput<typeof AgentStatus>;

export const Agent = new Deferred(() => v.object({
  id: Id,
  name: AgentName,
  caps: v.array(v.string()),
  description: v.string(),
  machine: v.string(),
  status: built(AgentStatus),
  connected: v.boolean(),
  registered_at: Timestamp,
  last_seen: Timestamp,
}), whenRead);
export type Agent = v.InferOutput<typeof Agent>;

/** The register response: the record plus the agent's secret, shown once. */
export const Registration = new Deferred(() => v.object({ ...Agent.entries, secret: v.string(), claim: v.optional(v.string()) }), whenRead);
export type Registration = v.InferOutput<typeof Registration>;

export const AgentList = new Deferred(() => v.object({ agents: v.array(built(Agent)) }), whenRead);

/** The heartbeat response: the agent's record, how many messages wait for it, and how many were handed out and not yet acknowledged. */
export const Heartbeat = new Deferred(() => v.object({ ...Agent.entries, pending: v.number(), in_flight: v.optional(v.number()) }), whenRead);

export const Health = new Deferred(() => v.object({
  ok: v.boolean(),
  version: v.string(),
  agents: v.number(),
  /** Where the relay keeps its state. */
  store: v.optional(v.picklist(["memory", "sqlite", "redis"])),
  /** Relays sharing the store, this one included (Redis only). */
  relays: v.optional(v.number()),
}), whenRead);
export type Health = v.InferOutput<typeof Health>;
