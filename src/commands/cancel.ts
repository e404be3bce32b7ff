import { defineClientCommand } from "./_shared";

export default defineClientCommand({
  meta: { name: "cancel", description: "Cancel a task you sent that has not finished; its holder is told" },
  examples: [
    "clawlink cancel --msg-id t_01jd5k8m2x4q7f",
  ],
  args: {
    "msg-id": { type: "string", description: "The task id", required: true, valueHint: "id", alias: ["id"] },
  },
  async run(ctx) {
    ctx.me();
    const task = await ctx.client.cancel(ctx.args["msg-id"]);
    ctx.out(task, `task ${task.id} canceled`);
  },
});
