import { ClawlinkError } from "../errors";
import { keyArg, parseKey } from "./_files";
import { defineClientCommand } from "./_shared";

export default defineClientCommand({
  meta: { name: "file-unlock", description: "End your lease on a key so others can write it again; a key not locked is not an error (exit 0, nothing to do)" },
  examples: ["clawlink file-unlock --key reports/review.md"],
  args: { key: keyArg },
  async run(ctx) {
    ctx.me();
    const key = parseKey(ctx.args.key);
    try {
      const lock = await ctx.client.unlockFile(key);
      ctx.out({ ...lock, unlocked: true }, `unlocked ${lock.key}`);
    } catch (err) {
      // The end a cleanup step wants is reached already: the lease ran out, or was never taken.
      if (!(err instanceof ClawlinkError && err.code === "not_locked")) throw err;
      ctx.out({ key, unlocked: false, reason: "not_locked", message: err.message }, `${key} was not locked: nothing to unlock (a lease also ends by itself when its ttl runs out)`);
    }
  },
});
