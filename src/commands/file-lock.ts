import { shellArg } from "../errors";
import { LIMIT } from "../protocol/constants";
import { keyArg, parseKey } from "./_files";
import { defineClientCommand, secondsArg } from "./_shared";

export default defineClientCommand({
  meta: {
    name: "file-lock",
    description: "Take a lease on a key: for --ttl seconds only you can put or delete it (others fail with exit 6). Run again to renew; `file-unlock` ends it early",
  },
  examples: ["clawlink file-lock --key reports/review.md --ttl 600", "clawlink file-lock --key reports/review.md --json"],
  args: {
    key: keyArg,
    ttl: { type: "string", description: `Seconds the lease lasts (1-${LIMIT.lockTtlS})`, default: "300", valueHint: "s" },
  },
  async run(ctx) {
    ctx.me();
    const key = parseKey(ctx.args.key);
    const ttl = secondsArg(ctx.args.ttl, "--ttl", { value: LIMIT.lockTtlS, said: `${LIMIT.lockTtlS} (a day)` });
    const lock = await ctx.client.lockFile(key, ttl);
    ctx.out(lock, `locked ${key} until ${lock.until}: only you can write it until then, or until \`clawlink file-unlock --key ${shellArg(key)}\``);
  },
});
