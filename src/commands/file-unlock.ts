import { keyArg, parseKey } from "./_files";
import { defineClientCommand } from "./_shared";

export default defineClientCommand({
  meta: { name: "file-unlock", description: "End your lease on a key so others can write it again; a key not locked is not an error (exit 0, nothing to do)" },
  examples: ["clawlink file-unlock --key reports/review.md"],
  args: { key: keyArg },
  async run(ctx) {
    ctx.me();
    const key = parseKey(ctx.args.key);
    const r = await ctx.client.releaseFile(key);
    ctx.out(r, r.unlocked ? `unlocked ${r.key}` : `${key} was not locked: nothing to unlock (a lease also ends by itself when its ttl runs out)`);
  },
});
