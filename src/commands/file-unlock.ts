import { keyArg, parseKey } from "./_files";
import { defineClientCommand } from "./_shared";

export default defineClientCommand({
  meta: { name: "file-unlock", description: "End your lease on a key so others can write it again" },
  examples: ["clawlink file-unlock --key reports/review.md"],
  args: { key: keyArg },
  async run(ctx) {
    ctx.me();
    const key = parseKey(ctx.args.key);
    const lock = await ctx.client.unlockFile(key);
    ctx.out(lock, `unlocked ${lock.key}`);
  },
});
