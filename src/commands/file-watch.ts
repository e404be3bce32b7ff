import { renderMessage } from "../client/render";
import { followInbox } from "../client/stream";
import { defineClientCommand } from "./_shared";

export default defineClientCommand({
  meta: {
    name: "file-watch",
    description:
      "Print co-editors' changes to shared files as they happen (put, delete, lock, unlock), only for keys under --key PREFIX; runs until stopped. Other messages stay in your inbox for poll or listen",
  },
  longRunning: true,
  examples: ["clawlink file-watch --key reports/", "clawlink file-watch --json"],
  args: {
    key: { type: "string", description: "Only keys that start with this, e.g. reports/ (default: every key)", valueHint: "prefix" },
  },
  async run(ctx) {
    const prefix = ctx.args.key ?? "";
    return await followInbox({
      client: ctx.client,
      me: ctx.me(),
      home: ctx.home,
      files: prefix,
      doing: prefix ? `watching files under ${prefix}` : "watching files",
      handle: (m) => ctx.out(m, renderMessage(m)),
    });
  },
});
