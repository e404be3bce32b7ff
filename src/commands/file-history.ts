import { renderHistory } from "../client/render";
import { keyArg, parseKey } from "./_files";
import { defineClientCommand } from "./_shared";

export default defineClientCommand({
  meta: { name: "file-history", description: "List the versions the relay keeps of a shared file, newest first: author, time, size and sha256 (fetch one with `file-get --version N`)" },
  examples: ["clawlink file-history --key reports/review.md", "clawlink file-history --key reports/review.md --json"],
  args: { key: keyArg },
  async run(ctx) {
    const history = await ctx.client.fileHistory(parseKey(ctx.args.key));
    ctx.out(history.versions, ctx.json ? "" : renderHistory(history.versions));
  },
});
