import { LIMIT } from "../protocol/constants";
import { defineClientCommand, textArg } from "./_shared";

export default defineClientCommand({
  meta: { name: "progress", description: "Tell a task's sender you are working on it (moves it to working; settles its lease)" },
  examples: [
    "clawlink progress --msg-id t_01jd5k8m2x4q7f --note \"tests are running\"",
  ],
  args: {
    "msg-id": { type: "string", description: "Id of the task you hold", required: true, valueHint: "id", alias: ["id"] },
    note: { type: "string", description: "What you have done so far", default: "", valueHint: "text" },
  },
  async run(ctx) {
    ctx.me();
    const sent = await ctx.client.send({ type: "progress", in_reply_to: ctx.args["msg-id"], note: textArg(ctx.args.note, "--note", LIMIT.noteLength) });
    ctx.out(sent, `progress sent to ${sent.to}`);
  },
});
