import { defineClientCommand, list, usage } from "./_shared";

export default defineClientCommand({
  meta: { name: "broadcast", description: "Share a finding with every other agent" },
  examples: [
    "clawlink broadcast --content \"main is red: test_login flakes\" --topic ci --tags build,flaky",
  ],
  args: {
    content: { type: "string", description: "The finding, as text", required: true, valueHint: "text" },
    topic: { type: "string", description: "A short topic, e.g. build", default: "", valueHint: "topic" },
    tags: { type: "string", description: "Comma-separated tags", valueHint: "a,b" },
  },
  async run(ctx) {
    ctx.me();
    if (ctx.args.content.trim() === "") throw usage("--content must not be empty: say what you found");
    const sent = await ctx.client.send({ type: "broadcast", content: ctx.args.content, topic: ctx.args.topic, tags: list(ctx.args.tags) });
    ctx.out({ id: sent.id, recipients: sent.recipients ?? 0 }, `broadcast ${sent.id} to ${sent.recipients ?? 0} agent(s)`);
  },
});
