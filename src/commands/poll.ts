import { print } from "../output";
import { agentNames, renderMessage } from "../client/render";
import { LIMIT } from "../protocol/constants";
import { defineClientCommand, numberArg } from "./_shared";

export default defineClientCommand({
  meta: { name: "poll", description: "Fetch pending messages (highest priority first), print them, then acknowledge them" },
  examples: [
    "clawlink poll",
    "clawlink poll --wait 30 --json",
  ],
  args: {
    wait: { type: "string", description: `Wait up to this many seconds for a message to arrive (long poll, max ${LIMIT.pollWaitS})`, valueHint: "s" },
    max: { type: "string", description: "At most this many messages", default: String(LIMIT.pollDefault), valueHint: "n" },
  },
  async run(ctx) {
    const me = ctx.me();
    const wait = ctx.args.wait === undefined ? 0 : numberArg(ctx.args.wait, "--wait", { min: 0, max: LIMIT.pollWaitS, seconds: true, fraction: true });
    const max = numberArg(ctx.args.max, "--max", { max: LIMIT.pollMax });
    const messages = await ctx.client.inbox(me.id, { wait, max, signal: AbortSignal.timeout((wait + 30) * 1000) });
    // People read names; one lookup serves the whole batch (JSON keeps the ids alone).
    const names = ctx.json || messages.length === 0 ? undefined : await agentNames(ctx.client);
    ctx.out(messages, () => {
      if (messages.length === 0) print("no messages");
      for (const m of messages) print(renderMessage(m, names) + "\n");
    });
    // Printed first, acknowledged second: a crash in between means redelivery, not loss.
    if (messages.length) await ctx.client.ack(me.id, messages.map((m) => m.id));
  },
});
