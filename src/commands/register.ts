import { registerAgent, savedNamed } from "../client/session";
import { Capability, NAME_HINT, NewAgentName } from "../protocol/schemas";
import { defineClientCommand, list, parseArg } from "./_shared";

export default defineClientCommand({
  meta: { name: "register", description: "Join the relay as an agent; saves the identity so later commands need no flags" },
  examples: [
    "clawlink register --name reviewer --caps code-review,python --description \"Reviews Python changes\"",
    "CLAWLINK_HOME=/tmp/agent2 clawlink register --name tester --caps testing",
  ],
  args: {
    name: { type: "string", description: "Unique agent name, e.g. reviewer (not starting with a_, and not relay or a2a)", required: true, valueHint: "name" },
    caps: { type: "string", description: "Comma-separated capabilities, e.g. code-review,python (stored lowercase); left out when registering a saved name again, its capabilities stay", valueHint: "a,b" },
    description: { type: "string", description: "What this agent does, in a sentence", valueHint: "text" },
  },
  async run(ctx) {
    const name = parseArg(NewAgentName, ctx.args.name, "--name", NAME_HINT);
    // One at a time, so the error names the capability that is wrong, not its place in the list.
    // Left out, the saved identity's capabilities stay (`--caps ""` clears them): registering again to change relays keeps them.
    const caps = ctx.args.caps === undefined ? undefined : list(ctx.args.caps).map((c) => parseArg(Capability, c.toLowerCase(), `--caps: "${c}"`, "fix --caps: capabilities are words separated by commas, e.g. --caps code-review,python"));
    const before = savedNamed(ctx.home, name);
    const agent = await registerAgent(ctx, { name, caps, description: ctx.args.description });
    // Registered again from another relay list: say what the identity now uses, and that it kept its id.
    const moved = before && before.id === agent.id && before.relay !== ctx.client.relays ? `; its relays were ${before.relay} and are now ${ctx.client.relays}` : "";
    ctx.out(agent, `registered ${agent.name} as ${agent.id} with ${ctx.client.relay}${moved}\n(identity saved in ${ctx.home})`);
  },
});
