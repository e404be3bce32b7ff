import { printError } from "../output";
import { FileKey } from "../protocol/schemas";
import { defineClientCommand, parseArg } from "./_shared";

export default defineClientCommand({
  meta: { name: "file-get", description: "Fetch a shared file to --output PATH, or to stdout" },
  examples: [
    "clawlink file-get --key reports/review.md",
    "clawlink file-get --key reports/review.md --output review.md",
  ],
  args: {
    key: { type: "string", description: "The file's key", required: true, valueHint: "key" },
    output: { type: "string", description: "Write here instead of stdout", valueHint: "path" },
  },
  async run(ctx) {
    const key = parseArg(FileKey, ctx.args.key, "--key");
    const res = await ctx.client.getFile(key);
    if (ctx.args.output) {
      const size = await Bun.write(ctx.args.output, res);
      // With --json, stdout carries a summary instead of the bytes.
      ctx.out({ key, size, sha256: res.headers.get("x-clawlink-sha256"), output: ctx.args.output }, () => printError(`wrote ${size} bytes to ${ctx.args.output}`));
      return;
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    await Bun.write(Bun.stdout, bytes);
  },
});
