import { renderTasks } from "../client/render";
import { TaskState } from "../protocol/schemas";
import { defineClientCommand, parseArg, usage } from "./_shared";

export default defineClientCommand({
  meta: { name: "tasks", description: "List the tasks you sent and the tasks you hold" },
  examples: [
    "clawlink tasks",
    "clawlink tasks --sent --state working --json",
  ],
  args: {
    state: { type: "string", description: "Only tasks in this state (queued, delivered, working, completed, failed, canceled, expired)", valueHint: "state" },
    sent: { type: "boolean", description: "Only tasks you sent" },
    held: { type: "boolean", description: "Only tasks you hold" },
  },
  async run(ctx) {
    const me = ctx.me();
    if (ctx.args.sent && ctx.args.held) throw usage("pass --sent or --held, not both");
    const state = ctx.args.state === undefined ? undefined : parseArg(TaskState, ctx.args.state, "--state");
    const tasks = await ctx.client.tasks({ state, role: ctx.args.sent ? "sent" : ctx.args.held ? "held" : undefined });
    ctx.out(tasks, renderTasks(tasks, me.id));
  },
});
