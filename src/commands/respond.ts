import { readTextArg } from "./_input";
import { defineClientCommand, usage } from "./_shared";

export default defineClientCommand({
  meta: { name: "respond", description: "Answer a task (or reply to any message) with a result" },
  examples: [
    "clawlink respond --msg-id t_01jd5k8m2x4q7f --result \"Found 2 bugs: ...\"",
    "clawlink respond --msg-id t_01jd5k8m2x4q7f --result-file review.md",
    "clawlink respond --msg-id t_01jd5k8m2x4q7f --status failed --result \"cannot access the repo\"",
  ],
  args: {
    "msg-id": { type: "string", description: "Id of the task (or message) you are answering", required: true, valueHint: "id", alias: ["id"] },
    result: { type: "string", description: "The answer, as text", valueHint: "text" },
    "result-file": { type: "string", description: "Read the answer from a file ('-' for stdin) instead of --result", valueHint: "path" },
    status: { type: "enum", options: ["completed", "failed"], description: "How the task ended", default: "completed" },
    to: { type: "string", description: "Recipient; needed only when replying to a broadcast", valueHint: "agent" },
  },
  async run(ctx) {
    ctx.me();
    const result = await readTextArg(ctx.args.result, ctx.args["result-file"], "--result");
    if (result === undefined) throw usage("pass --result TEXT or --result-file PATH");
    const sent = await ctx.client.send({
      type: "response",
      in_reply_to: ctx.args["msg-id"],
      result,
      status: ctx.args.status as "completed" | "failed",
      ...(ctx.args.to ? { to: ctx.args.to } : {}),
    });
    ctx.out(sent, `sent response ${sent.id} to ${sent.to}`);
  },
});
