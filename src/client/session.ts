/** An agent's identity on a relay: registering it, checking it, and keeping it alive across relay restarts. */
import { hostname } from "node:os";
import { loadIdentity, saveIdentity, type Identity } from "../config";
import { sameTeam } from "../quick-checks";
import { ClawlinkError } from "../errors";
import { logger } from "../logger";
import type { Agent } from "../protocol/schemas";
import type { Client } from "./client";
import { printable } from "./render";

/** The parts of a client command's context these functions need. */
export interface Self {
  client: Client;
  home: string;
  /** The saved identity for this relay, if any. */
  identity: Identity | undefined;
  /** The identity saved in the home, whichever relay it belongs to. */
  saved?: Identity;
  /** The identity, or an error telling the agent to register. */
  me(): Identity;
  /** The private CA file in use, saved with a new identity. */
  ca?: string;
}

/** The identity saved in the home under `name`, whichever relay it was registered with. */
export function savedNamed(home: string, name: string): Identity | undefined {
  const found = loadIdentity(home, name);
  return found?.name === name ? found : undefined;
}

/**
 * Registers `name` and saves the identity, with the relay list in use, as the home's default. A name this
 * home already holds keeps its id (and its queued messages) on a list that names one of its relays: that is
 * how an identity adds relays of its team. Its secret never goes to a list that shares no relay with it.
 * Capabilities and description left out keep what the saved identity of that name has.
 */
export async function registerAgent(self: Self, req: { name: string; caps?: string[]; description?: string }): Promise<Agent> {
  const found = self.identity?.name === req.name ? self.identity : savedNamed(self.home, req.name);
  const relays = self.client.relays;
  // Only a relay list that shares a relay with the saved one may be shown the saved secret.
  const saved = found && sameTeam(found.relay, relays) ? found : undefined;
  const elsewhere = found && !saved ? found : undefined;
  const profile = { name: req.name, caps: req.caps ?? found?.caps ?? [], description: req.description ?? found?.description ?? "", machine: hostname() };
  const registration = await self.client.register({ ...profile, ...(saved ? { id: saved.id, secret: saved.secret, ...(saved.claim ? { claim: saved.claim } : {}) } : {}) }).catch((err) => {
    if (elsewhere && err instanceof ClawlinkError && err.code === "name_taken") {
      throw new ClawlinkError(
        err.code,
        err.message,
        `if ${relays} is a relay of ${req.name}'s team, name one of its saved relays too, which keeps its id: \`clawlink register --name ${req.name} --relay ${elsewhere.relay},${relays}\`; otherwise choose another --name`,
      );
    }
    // The relay cannot take the saved id back (it restarted with a new key): this name starts afresh.
    if (!(saved && err instanceof ClawlinkError && err.code === "unrecognized_identity")) throw err;
    logger.warn(printable(`the relay could not take back ${saved.id} (it restarted with a new key); registering ${req.name} afresh`));
    return self.client.register(profile);
  });
  if (elsewhere) {
    logger.warn(
      printable(
        `${req.name} (${elsewhere.id}) was saved for ${elsewhere.relay}, which ${relays} does not name: its secret was not sent, and ${req.name} is registered afresh there (the saved identity now points at ${relays})`,
      ),
    );
  }
  const { secret, claim, ...agent } = registration;
  saveIdentity(self.home, { id: agent.id, name: agent.name, secret, ...(claim ? { claim } : {}), relay: relays, caps: agent.caps, description: agent.description, ca: self.ca, token: self.client.opts.token });
  return agent;
}

export interface Status {
  id: string | null;
  name: string | null;
  relay: string;
  home: string;
  reachable: boolean;
  /** Whether the relay knows this identity (false without one for this relay); null when the relay could not be asked. */
  registered: boolean | null;
  /** An identity saved in this home for another relay than the one in use. */
  other_relay?: { name: string; id: string; relay: string };
  /** With a list of relays: which of them answer now. */
  relays?: { url: string; answers: boolean }[];
  /** Messages waiting in the relay's queue; null when unknown. */
  pending: number | null;
  /** Messages handed to this agent's connections or polls and not yet acknowledged; null when unknown. */
  in_flight: number | null;
  problem?: { code: string; message: string; hint?: string };
}

/**
 * What `whoami` reports: never throws a relay's error, names it as `problem` instead. `error` (for
 * the exit code) is set only when it could not answer: the relay unreachable or refusing it, or a
 * broken setup. Not being registered, here or with this relay, is an answer.
 */
export async function checkSelf(self: Self): Promise<{ status: Status; error?: ClawlinkError; problem?: ClawlinkError }> {
  const me = self.identity;
  let reachable = true;
  // Without an identity for this relay, it is not registered; with one, only the relay can say.
  let registered: boolean | null = me ? null : false;
  let pending: number | null = null;
  let inFlight: number | null = null;
  let problem: ClawlinkError | undefined;
  let answered = false;
  // Failing over would hide relays of the list that are down: each is asked once, at the same time.
  const relays = self.client.list.length > 1 ? (await self.client.probe()).map(({ url, answers }) => ({ url, answers })) : undefined;
  try {
    await self.client.health();
    if (me) {
      const beat = await self.client.heartbeat(me.id);
      pending = beat.pending;
      inFlight = beat.in_flight ?? null;
      registered = true;
    }
  } catch (err) {
    if (!(err instanceof ClawlinkError)) throw err;
    if (err.code === "unreachable" || err.code === "tls") reachable = false;
    // The relay forgot this agent (it restarted in memory): that is an answer, with its next step.
    if (err.code === "not_registered") [registered, answered] = [false, true];
    problem = err;
  }
  if (!me && !problem) {
    try {
      self.me();
    } catch (err) {
      problem = err as ClawlinkError;
      answered = true;
    }
  }
  const other = !me && self.saved ? { name: self.saved.name, id: self.saved.id, relay: self.saved.relay } : undefined;
  const status: Status = {
    id: me?.id ?? null,
    name: me?.name ?? null,
    relay: self.client.relay,
    home: self.home,
    reachable,
    registered,
    ...(other ? { other_relay: other } : {}),
    ...(relays ? { relays } : {}),
    pending,
    in_flight: inFlight,
    ...(problem ? { problem: { code: problem.code, message: problem.message, ...(problem.hint ? { hint: problem.hint } : {}) } } : {}),
  };
  return { status, error: answered ? undefined : problem, problem };
}

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
    const { secret, claim, ...agent } = await client.register({ ...profile, id: identity.id, secret: identity.secret, ...(identity.claim ? { claim: identity.claim } : {}) });
    const kept = { ...identity, secret, ...(claim ? { claim } : {}) };
    // Re-saving a known identity leaves the home's default as it was.
    saveIdentity(home, kept, { makeDefault: false });
    return { agent, identity: kept, reregistered: true };
  } catch (err) {
    if (!(err instanceof ClawlinkError) || err.code !== "unrecognized_identity") throw err;
  }
  const { secret, claim, ...agent } = await client.register(profile);
  const renewed = { ...identity, id: agent.id, secret, ...(claim ? { claim } : { claim: undefined }) };
  saveIdentity(home, renewed, { makeDefault: false });
  client.opts.secret = secret;
  logger.warn(
    printable(
      `the relay restarted without the key that issued ${identity.name}'s secret, so it could not take back ${identity.id}; ` +
        `registered ${identity.name} afresh as ${agent.id} and saved the new identity (what was addressed to ${identity.id} is gone; peers reach you by name)`,
    ),
  );
  return { agent, identity: renewed, reregistered: true, previousId: identity.id };
}
