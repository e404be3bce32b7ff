/** Keeping a saved identity alive on a relay that may have restarted. */
import { hostname } from "node:os";
import { saveIdentity, type Identity } from "../config";
import { ClawlinkError } from "../errors";
import { logger } from "../logger";
import type { Agent } from "../protocol/schemas";
import type { Client } from "./client";

export interface Session {
  agent: Agent;
  /** The identity in use now: a new one when the relay could not take the old one back. */
  identity: Identity;
  reregistered: boolean;
  /** The id this agent had before the relay made it register afresh. */
  previousId?: string;
}

/**
 * Heartbeats the agent. If the relay has forgotten it, registers it again under the same id and secret;
 * if the relay cannot recognise that secret (it restarted with a new key), registers the name afresh
 * and saves the new identity.
 */
export async function ensureRegistered(client: Client, identity: Identity, home: string): Promise<Session> {
  try {
    return { agent: await client.heartbeat(identity.id), identity, reregistered: false };
  } catch (err) {
    if (!(err instanceof ClawlinkError) || err.code !== "not_registered") throw err;
  }
  const profile = { name: identity.name, caps: identity.caps, description: identity.description, machine: hostname() };
  try {
    const { secret, ...agent } = await client.register({ ...profile, id: identity.id, secret: identity.secret });
    // Re-saving a known identity leaves the home's default as it was.
    saveIdentity(home, { ...identity, secret }, { makeDefault: false });
    return { agent, identity, reregistered: true };
  } catch (err) {
    if (!(err instanceof ClawlinkError) || err.code !== "unrecognized_identity") throw err;
  }
  const { secret, ...agent } = await client.register(profile);
  const renewed = { ...identity, id: agent.id, secret };
  saveIdentity(home, renewed, { makeDefault: false });
  client.opts.secret = secret;
  logger.warn(
    `the relay restarted without the key that issued ${identity.name}'s secret, so it could not take back ${identity.id}; ` +
      `registered ${identity.name} afresh as ${agent.id} and saved the new identity (what was addressed to ${identity.id} is gone; peers reach you by name)`,
  );
  return { agent, identity: renewed, reregistered: true, previousId: identity.id };
}
