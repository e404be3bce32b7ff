import { hostname } from "node:os";
import { fetchCard, A2AClient, pickInterface } from "../client/a2a";
import { forwardTask } from "../client/bridge";
import { Client } from "../client/client";
import { followInbox } from "../client/stream";
import { listIdentities, saveIdentity, type Identity } from "../config";
import { printable } from "../client/render";
import { logger } from "../logger";
import { AGENT_NAME_RE, CAP_RE, NAME_HINT, NewAgentName } from "../protocol/schemas";
import type { AgentCard } from "../protocol/a2a";
import { defineClientCommand, parseArg } from "./_shared";

/** A card's name as a ClawLink agent name: letters, digits, '.', '_' and '-'. */
function nameFrom(card: AgentCard): string {
  const slug = card.name.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 64).replace(/-+$/, "");
  return AGENT_NAME_RE.test(slug) ? slug : "a2a-agent";
}

/** The card's skills as capabilities: each skill's id, lowercased and cut to what a capability may hold. */
function capsFrom(card: AgentCard): string[] {
  const caps = card.skills.map((s) => s.id.toLowerCase().replace(/[^a-z0-9._:/-]+/g, "-").replace(/^[^a-z0-9]+/, "").slice(0, 64));
  return [...new Set(caps.filter((c) => CAP_RE.test(c)))].slice(0, 64);
}

export default defineClientCommand({
  meta: { name: "a2a-bridge", description: "Register an external A2A agent (by its Agent Card) as a ClawLink agent and forward the tasks it gets; runs until stopped" },
  longRunning: true,
  examples: [
    "clawlink a2a-bridge --card http://localhost:10000/.well-known/agent-card.json",
    "clawlink a2a-bridge --card https://agents.example.com/planner --name planner --agent-token \"$PLANNER_TOKEN\"",
  ],
  args: {
    card: { type: "string", description: "The agent's Agent Card URL (or its base URL; /.well-known/agent-card.json is added)", required: true, valueHint: "url" },
    name: { type: "string", description: "Register under this name (default: the card's name)", valueHint: "name" },
    "agent-token": { type: "string", description: "Bearer token the A2A agent wants (env CLAWLINK_A2A_TOKEN); --token is the relay's", valueHint: "token" },
  },
  async run(ctx) {
    const agentToken = ctx.args["agent-token"] || process.env.CLAWLINK_A2A_TOKEN || undefined;
    const name = ctx.args.name === undefined ? undefined : parseArg(NewAgentName, ctx.args.name, "--name", NAME_HINT);
    const card = await fetchCard(ctx.args.card, agentToken);
    const agent = new A2AClient(pickInterface(card, ctx.args.card), agentToken);
    const me = name ?? nameFrom(card);

    // The bridge keeps its identity in this home (so a restart keeps its id and queued tasks) without becoming the default.
    const saved = listIdentities(ctx.home).find((i) => i.name === me && i.relay === ctx.client.relay);
    const { secret, claim, ...registered } = await ctx.client.register({
      name: me,
      caps: capsFrom(card),
      description: (card.description || `A2A agent ${card.name}`).slice(0, 2000),
      machine: hostname(),
      ...(saved ? { id: saved.id, secret: saved.secret, ...(saved.claim ? { claim: saved.claim } : {}) } : {}),
    });
    const identity: Identity = { id: registered.id, name: registered.name, secret, ...(claim ? { claim } : {}), relay: ctx.client.relay, caps: registered.caps, description: registered.description, ca: ctx.ca, token: ctx.client.opts.token };
    saveIdentity(ctx.home, identity, { makeDefault: false });
    logger.info(printable(`registered ${registered.name} (${registered.id}) for ${card.name} at ${agent.iface.url} (${agent.iface.protocolBinding}); caps ${registered.caps.join(",") || "none"}`));
    ctx.out({ agent: registered, card: { name: card.name, url: agent.iface.url, binding: agent.iface.protocolBinding } });

    const client = new Client({ ...ctx.client.opts, secret });
    const stopped = new AbortController();
    const bridge = { agent, name: card.name, relay: client, stopping: () => stopped.signal.aborted, signal: stopped.signal };
    return await followInbox({
      client,
      me: identity,
      home: ctx.home,
      doing: `bridging ${card.name}`,
      handle: async (m) => {
        if (m.type === "task") await forwardTask(bridge, m);
      },
      onStop: () => stopped.abort(),
    });
  },
});
