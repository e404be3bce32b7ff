import { renderStatus } from "../client/render";
import { checkSelf } from "../client/session";
import { EXIT, exitCodeFor } from "../errors";
import { defineClientCommand } from "./_shared";

export default defineClientCommand({
  meta: {
    name: "whoami",
    description: "Show this agent's identity, whether the relay is reachable, and how many messages wait (works before registering too)",
  },
  examples: ["clawlink whoami --json"],
  args: {},
  async run(ctx) {
    const { status, error } = await checkSelf(ctx);
    ctx.out(status, ctx.json ? "" : renderStatus(status));
    return error ? exitCodeFor(error) : EXIT.ok;
  },
});
