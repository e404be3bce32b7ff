import { ClawlinkError } from "../errors";
import { defineClientCommand } from "./_shared";

export default defineClientCommand({
  meta: { name: "whoami", description: "Show this agent's identity, whether the relay is reachable, and how many messages wait" },
  examples: [
    "clawlink whoami --json",
  ],
  args: {},
  async run(ctx) {
    const me = ctx.me();
    let reachable = true;
    let registered = false;
    let pending: number | null = null;
    let problem: string | undefined;
    try {
      await ctx.client.health();
      pending = (await ctx.client.heartbeat(me.id)).pending;
      registered = true;
    } catch (err) {
      if (!(err instanceof ClawlinkError)) throw err;
      if (err.code === "unreachable") reachable = false;
      problem = `${err.message}${err.hint ? ` (${err.hint})` : ""}`;
    }
    const info = { id: me.id, name: me.name, relay: ctx.client.relay, home: ctx.home, reachable, registered, pending };
    ctx.out(
      info,
      [
        `name      ${me.name}`,
        `id        ${me.id}`,
        `relay     ${ctx.client.relay} (${reachable ? "reachable" : "NOT reachable"})`,
        `home      ${ctx.home}`,
        `pending   ${pending ?? "unknown"}`,
        ...(problem ? [`problem   ${problem}`] : []),
      ].join("\n"),
    );
    return reachable && registered ? 0 : reachable ? 4 : 3;
  },
});
