import { FileKey } from "../protocol/schemas";
import { defineClientCommand, parseArg } from "./_shared";

export default defineClientCommand({
  meta: { name: "file-rm", description: "Delete a shared file" },
  examples: [
    "clawlink file-rm --key notes/plan.md",
  ],
  args: {
    key: { type: "string", description: "The file's key", required: true, valueHint: "key" },
  },
  async run(ctx) {
    ctx.me();
    const key = parseArg(FileKey, ctx.args.key, "--key");
    await ctx.client.deleteFile(key);
    ctx.out({ key, deleted: true }, `deleted ${key}`);
  },
});
