import { renderAgents } from "../client/render";
import { defineClientCommand, parseArg } from "./_shared";

export default defineClientCommand({
  meta: { name: "discover", description: "List the agents on the relay (online ones; --all adds stale ones)" },
  examples: [
    "clawlink discover",
    "clawlink discover --cap python --json",
    "clawlink discover --all",
  ],
  args: {
    cap: { type: "string", description: "Only agents with this capability", valueHint: "cap" },
    all: { type: "boolean", description: "Include stale agents (not seen for 120 s)" },
  },
  async run(ctx) {
    const cap = ctx.args.cap === undefined ? undefined : parseArg((await import("../protocol/schemas")).Capability, ctx.args.cap.toLowerCase(), "--cap");
    // Listing needs no identity, but every command that acts as one would refuse this relay: say so now.
    const saved = !ctx.identity ? ctx.saved : undefined;
    if (saved) {
      ctx.warn(
        `listing ${ctx.client.relays} without an identity: the saved identity "${saved.name}" was registered with ${saved.relay}, so commands that act as ${saved.name} (tasks, delegate, poll) refuse this relay`,
        `if it belongs to the same team (one Redis), add it to ${saved.name}'s relays: \`clawlink register --name ${saved.name} --relay ${saved.relay},${ctx.client.relays}\` (keeps its id)`,
      );
    }
    const agents = await ctx.client.agents({ cap, all: ctx.args.all });
    ctx.out(
      agents,
      agents.length === 0 && cap ? `no ${ctx.args.all ? "" : "online "}agent has the capability "${cap}"${ctx.args.all ? "" : " (--all includes stale ones)"}` : ctx.json ? "" : renderAgents(agents),
    );
  },
});
