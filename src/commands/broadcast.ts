import { LIMIT } from "../protocol/constants";
import { defineClientCommand, list, textArg, usage } from "./_shared";

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
    const topic = textArg(ctx.args.topic, "--topic", LIMIT.topicLength);
    const tags = list(ctx.args.tags);
    if (tags.length > LIMIT.tags) throw usage(`--tags: must be at most ${LIMIT.tags} tags, not ${tags.length}`, "fix --tags; the command's --help lists what each option takes");
    for (const tag of tags) textArg(tag, "--tags", LIMIT.tagLength, "a tag ");
    const sent = await ctx.client.send({ type: "broadcast", content: ctx.args.content, topic, tags });
    ctx.out({ id: sent.id, recipients: sent.recipients ?? 0 }, `broadcast ${sent.id} to ${sent.recipients ?? 0} agent(s)`);
  },
});
