import { defineClientCommand, list, usage } from "./_shared";

export default defineClientCommand({
  meta: { name: "ack", description: "Acknowledge messages by id: they will not be delivered again (for a task: settles its lease)" },
  examples: [
    "clawlink ack --msg-id m_01jd5k8m2x4q7f,m_01jd5k8m2x4q7g",
  ],
  args: {
    "msg-id": { type: "string", description: "One id, or several comma-separated", required: true, valueHint: "id[,id]", alias: ["id"] },
  },
  async run(ctx) {
    const me = ctx.me();
    const ids = list(ctx.args["msg-id"]);
    if (ids.length === 0) throw usage("--msg-id needs at least one id");
    const r = await ctx.client.ack(me.id, ids);
    ctx.out(r, `acknowledged ${r.acked} of ${ids.length}`);
  },
});
