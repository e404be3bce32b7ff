import { ClawlinkError, EXIT, exitCodeFor } from "../errors";
import { defineClientCommand } from "./_shared";

export default defineClientCommand({
  meta: {
    name: "whoami",
    description: "Show this agent's identity, whether the relay is reachable, and how many messages wait (works before registering too)",
  },
  examples: ["clawlink whoami --json"],
  args: {},
  async run(ctx) {
    const me = ctx.identity;
    let reachable = true;
    let registered = false;
    let pending: number | null = null;
    let problem: ClawlinkError | undefined;
    try {
      await ctx.client.health();
      if (me) {
        pending = (await ctx.client.heartbeat(me.id)).pending;
        registered = true;
      }
    } catch (err) {
      if (!(err instanceof ClawlinkError)) throw err;
      if (err.code === "unreachable" || err.code === "tls") reachable = false;
      problem = err;
    }
    if (!me && reachable && !problem) {
      try {
        ctx.me();
      } catch (err) {
        problem = err as ClawlinkError;
      }
    }
    const info = {
      id: me?.id ?? null,
      name: me?.name ?? null,
      relay: ctx.client.relay,
      home: ctx.home,
      reachable,
      registered,
      pending,
      ...(problem ? { problem: { code: problem.code, message: problem.message, ...(problem.hint ? { hint: problem.hint } : {}) } } : {}),
    };
    ctx.out(
      info,
      [
        `name      ${me?.name ?? "(not registered in this home)"}`,
        `id        ${me?.id ?? "-"}`,
        `relay     ${ctx.client.relay} (${reachable ? "reachable" : "NOT reachable"})`,
        `home      ${ctx.home}`,
        `pending   ${pending ?? "unknown"}`,
        ...(problem ? [`problem   ${problem.message}`, ...(problem.hint ? [`next      ${problem.hint}`] : [])] : []),
      ].join("\n"),
    );
    return problem ? exitCodeFor(problem) : EXIT.ok;
  },
});
