import { agentNames, renderTask } from "../client/render";
import { defineClientCommand } from "./_shared";

export default defineClientCommand({
  meta: { name: "task", description: "Show one task: state, history of transitions, assignee, attempts, result" },
  examples: [
    "clawlink task --id t_01jd5k8m2x4q7f",
  ],
  args: {
    id: { type: "string", description: "The task id (as printed by delegate)", required: true, valueHint: "id", alias: ["msg-id"] },
  },
  async run(ctx) {
    ctx.me();
    const task = await ctx.client.task(ctx.args.id);
    ctx.out(task, ctx.json ? "" : renderTask(task, await agentNames(ctx.client)));
  },
});
