import { renderFiles } from "../client/render";
import { defineClientCommand } from "./_shared";

export default defineClientCommand({
  meta: { name: "file-list", description: "List the shared files: each key's latest version, size, who wrote it and when, and who holds a lease on it" },
  examples: [
    "clawlink file-list",
    "clawlink file-list --prefix reports/ --json",
  ],
  args: {
    prefix: { type: "string", description: "Only keys that start with this", valueHint: "prefix" },
  },
  async run(ctx) {
    const files = await ctx.client.files(ctx.args.prefix);
    ctx.out(files, ctx.json ? "" : renderFiles(files));
  },
});
