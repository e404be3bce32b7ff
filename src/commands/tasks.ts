import { agentNames, renderTasks } from "../client/render";
import { shellArg } from "../errors";
import { LIMIT } from "../protocol/constants";
import { TASK_STATES, TaskState } from "../protocol/schemas";
import { defineClientCommand, numberArg, parseArg, usage } from "./_shared";

export default defineClientCommand({
  meta: { name: "tasks", description: `List the tasks you sent and the tasks you hold, oldest first, ${LIMIT.taskPageDefault} at a time` },
  examples: [
    "clawlink tasks",
    "clawlink tasks --sent --state working --json",
    "clawlink tasks --limit 500 --cursor CURSOR",
  ],
  args: {
    state: { type: "string", description: `Only tasks in this state (${TASK_STATES.join(", ")})`, valueHint: TASK_STATES.join("|") },
    sent: { type: "boolean", description: "Only tasks you sent" },
    held: { type: "boolean", description: "Only tasks you hold" },
    limit: { type: "string", description: `At most this many tasks (1-${LIMIT.taskPageMax}, default ${LIMIT.taskPageDefault})`, valueHint: "n" },
    cursor: { type: "string", description: "Start after the previous page: the next_cursor it gave (same filters)", valueHint: "cursor" },
  },
  async run(ctx) {
    const me = ctx.me();
    const { sent, held } = ctx.args;
    if (sent && held) throw usage("pass --sent or --held, not both");
    const state = ctx.args.state === undefined ? undefined : parseArg(TaskState, ctx.args.state, "--state");
    const limit = ctx.args.limit === undefined ? undefined : numberArg(ctx.args.limit, "--limit", { max: LIMIT.taskPageMax });
    const page = await ctx.client.tasks({ state, role: sent ? "sent" : held ? "held" : undefined, limit, cursor: ctx.args.cursor });
    const again = [state && `--state ${state}`, sent && "--sent", held && "--held", limit && `--limit ${limit}`].filter(Boolean).join(" ");
    const next = page.next_cursor === null ? "" : `more tasks: clawlink tasks ${again ? `${again} ` : ""}--cursor ${shellArg(page.next_cursor)}\n`;
    // Names are looked up for a person only; --json keeps the ids.
    ctx.out(page, ctx.json ? "" : renderTasks(page.tasks, me.id, await agentNames(ctx.client)) + next);
  },
});
