import { hostname } from "node:os";
import { saveIdentity } from "../config";
import { ClawlinkError } from "../errors";
import { Capability, NewAgentName } from "../protocol/schemas";
import * as v from "valibot";
import { defineClientCommand, list, logger, parseArg } from "./_shared";

export default defineClientCommand({
  meta: { name: "register", description: "Join the relay as an agent; saves the identity so later commands need no flags" },
  examples: [
    "clawlink register --name reviewer --caps code-review,python --description \"Reviews Python changes\"",
    "CLAWLINK_HOME=/tmp/agent2 clawlink register --name tester --caps testing",
  ],
  args: {
    name: { type: "string", description: "Unique agent name, e.g. reviewer (not starting with a_, and not relay or a2a)", required: true, valueHint: "name" },
    caps: { type: "string", description: "Comma-separated capabilities, e.g. code-review,python (stored lowercase)", valueHint: "a,b" },
    description: { type: "string", description: "What this agent does, in a sentence", valueHint: "text" },
  },
  async run(ctx) {
    const name = parseArg(NewAgentName, ctx.args.name, "--name");
    const caps = parseArg(v.array(Capability), list(ctx.args.caps).map((c) => c.toLowerCase()), "--caps");
    // Re-registering a name this home already holds keeps its id (and its queued messages).
    const saved = ctx.identity?.name === name ? ctx.identity : undefined;
    const profile = { name, caps, description: ctx.args.description ?? saved?.description ?? "", machine: hostname() };
    const registration = await ctx.client.register({ ...profile, ...(saved ? { id: saved.id, secret: saved.secret } : {}) }).catch((err) => {
      // The relay restarted with a new key and cannot take the saved id back: this name starts afresh.
      if (!(saved && err instanceof ClawlinkError && err.code === "unrecognized_identity")) throw err;
      logger.warn(`the relay could not take back ${saved.id} (it restarted with a new key); registering ${name} afresh`);
      return ctx.client.register(profile);
    });
    const { secret, ...agent } = registration;
    saveIdentity(ctx.home, { id: agent.id, name: agent.name, secret, relay: ctx.client.relay, caps: agent.caps, description: agent.description, ca: ctx.ca, token: ctx.client.opts.token });
    ctx.out(agent, `registered ${agent.name} as ${agent.id} with ${ctx.client.relay}\n(identity saved in ${ctx.home})`);
  },
});
