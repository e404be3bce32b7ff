import { existsSync, statSync } from "node:fs";
import { FileKey } from "../protocol/schemas";
import { missingFile } from "./_input";
import { defineClientCommand, parseArg, usage } from "./_shared";

export default defineClientCommand({
  meta: { name: "file-put", description: "Share a file under a key (from --file, or stdin)" },
  examples: [
    "clawlink file-put --key reports/review.md --file review.md",
    "echo \"draft\" | clawlink file-put --key notes/plan.md",
  ],
  args: {
    key: { type: "string", description: "Relative path to store it under, e.g. reports/q3.md", required: true, valueHint: "key" },
    file: { type: "string", description: "File to upload; omit (or '-') to read stdin", valueHint: "path" },
  },
  async run(ctx) {
    ctx.me();
    const key = parseArg(FileKey, ctx.args.key, "--key");
    const path = ctx.args.file;
    let body: Blob;
    if (path === undefined || path === "-") {
      if (process.stdin.isTTY) throw usage("nothing to upload: pass --file PATH or pipe the content in");
      body = new Blob([await Bun.stdin.bytes()]);
    } else {
      if (!existsSync(path) || !statSync(path).isFile()) throw missingFile(path);
      body = Bun.file(path);
    }
    const info = await ctx.client.putFile(key, body);
    ctx.out(info, `stored ${info.key} (${info.size} bytes, sha256 ${info.sha256.slice(0, 12)}…)`);
  },
});
