import { keyArg, parseKey } from "./_files";
import { defineClientCommand } from "./_shared";

export default defineClientCommand({
  meta: { name: "file-rm", description: "Delete a shared file with all its versions (putting the key again continues its version numbers)" },
  examples: ["clawlink file-rm --key notes/plan.md"],
  args: { key: keyArg },
  async run(ctx) {
    ctx.me();
    const key = parseKey(ctx.args.key);
    const gone = await ctx.client.deleteFile(key);
    ctx.out(gone, `deleted ${key} (its last version was ${gone.version})`);
  },
});
