/** Keeping a saved identity alive on a relay that may have restarted. */
import { hostname } from "node:os";
import { saveIdentity, type Identity } from "../config";
import { ClawlinkError } from "../errors";
import type { Agent } from "../protocol/schemas";
import type { Client } from "./client";

/** Heartbeats the agent; if the relay has forgotten it, registers it again under the same id and secret. */
export async function ensureRegistered(client: Client, identity: Identity, home: string): Promise<{ agent: Agent; reregistered: boolean }> {
  try {
    return { agent: await client.heartbeat(identity.id), reregistered: false };
  } catch (err) {
    if (!(err instanceof ClawlinkError) || err.code !== "not_registered") throw err;
  }
  const { secret, ...agent } = await client.register({
    id: identity.id,
    secret: identity.secret,
    name: identity.name,
    caps: identity.caps,
    description: identity.description,
    machine: hostname(),
  });
  // Re-saving a known identity leaves the home's default as it was.
  saveIdentity(home, { ...identity, secret }, { makeDefault: false });
  return { agent, reregistered: true };
}
