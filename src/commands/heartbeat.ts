import { ensureRegistered } from "../client/session";
import { defineClientCommand } from "./_shared";

export default defineClientCommand({
  meta: { name: "heartbeat", description: "Mark this agent online; re-registers it with the same id if the relay forgot it, taking back its name from anyone who registered it since an in-memory relay restarted. Exit 6 if this agent lost its name that way" },
  examples: [
    "clawlink heartbeat",
  ],
  args: {},
  async run(ctx) {
    const { agent, reregistered, previousId } = await ensureRegistered(ctx.client, ctx.me(), ctx.home);
    ctx.out(
      { ...agent, reregistered, ...(previousId ? { previous_id: previousId } : {}) },
      reregistered ? `the relay had forgotten ${agent.name}; registered again as ${agent.id}` : `${agent.name} (${agent.id}) is online`,
    );
  },
});
