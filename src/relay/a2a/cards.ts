/** Agent Cards: the relay's (skills = the capabilities of its online agents) and one per registered agent. */
import { A2A_VERSION } from "../../protocol/a2a";
import type { Agent } from "../../protocol/schemas";

/** The path segment of the relay's own endpoint; `relay` is reserved, so no agent is ever called that. */
export const RELAY_ENDPOINT = "relay";

/** `open`: a relay without a token, where a caller needs no credential (and acts as the shared sender). */
function common(origin: string, endpoint: string, version: string, open: boolean) {
  const url = `${origin}/a2a/${encodeURIComponent(endpoint)}`;
  return {
    version,
    supportedInterfaces: [
      { url, protocolBinding: "JSONRPC", protocolVersion: A2A_VERSION },
      { url, protocolBinding: "HTTP+JSON", protocolVersion: A2A_VERSION },
    ],
    provider: { organization: "ClawLink relay", url: origin },
    capabilities: { streaming: true, pushNotifications: false, extendedAgentCard: false },
    securitySchemes: {
      bearer: {
        httpAuthSecurityScheme: {
          scheme: "Bearer",
          description: open
            ? "optional on this relay: a ClawLink agent's secret (you act as that agent); without one you act as the shared sender a2a"
            : "the relay token (you act as the shared sender a2a), or a ClawLink agent's secret (you act as that agent)",
        },
      },
    },
    securityRequirements: open ? [] : [{ schemes: { bearer: { list: [] } } }],
    defaultInputModes: ["text/plain", "application/json"],
    defaultOutputModes: ["text/plain"],
  };
}

export function agentCard(agent: Agent, origin: string, version: string, open: boolean) {
  const skills = agent.caps.length
    ? agent.caps.map((cap) => ({ id: cap, name: cap, description: `${agent.name} takes tasks that need ${cap}`, tags: [cap] }))
    : [{ id: "task", name: "task", description: `${agent.name} takes a task described in words`, tags: ["task"] }];
  return {
    name: agent.name,
    description: agent.description || `The ClawLink agent ${agent.name}: each message becomes a task for it, and its answer comes back as the task's artifact.`,
    ...common(origin, agent.name, version, open),
    skills,
  };
}

/** `online` are the agents seen lately; their names stay out of a card anyone may read. */
export function relayCard(online: Agent[], origin: string, version: string, open: boolean) {
  const counts = new Map<string, number>();
  for (const a of online) for (const cap of a.caps) counts.set(cap, (counts.get(cap) ?? 0) + 1);
  return {
    name: "ClawLink relay",
    description:
      'A relay of ClawLink agents. A message sent here with "skill": "CAPABILITY" in its metadata goes to the least busy online agent with that skill; each agent also has its own card at /a2a/NAME/.well-known/agent-card.json.',
    ...common(origin, RELAY_ENDPOINT, version, open),
    skills: [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([cap, n]) => ({
      id: cap,
      name: cap,
      description: `${n} online agent${n === 1 ? "" : "s"} take${n === 1 ? "s" : ""} tasks that need ${cap}`,
      tags: [cap],
    })),
  };
}
