import { countingStream, progressWanted, ProgressBar, PROGRESS_MIN_BYTES } from "../client/progress";
import { checkUpload, keyArg, parseKey, parseVersion } from "./_files";
import { defineClientCommand, usage } from "./_shared";

export default defineClientCommand({
  meta: {
    name: "file-put",
    description:
      "Store a file (--file PATH, or stdin) as the key's next version. Safe co-editing: `file-get` it, edit, then put with --if-version N (the version you read); if someone wrote since, it fails with exit 6 and writes nothing, and --merge merges text edits instead",
  },
  examples: [
    "clawlink file-put --key reports/review.md --file review.md",
    "echo \"draft\" | clawlink file-put --key notes/plan.md",
    "clawlink file-put --key reports/review.md --file review.md --if-version 3",
    "clawlink file-put --key reports/review.md --file review.md --if-version 3 --merge",
  ],
  args: {
    key: keyArg,
    file: { type: "string", description: "File to upload (a regular file; symlinks are followed); omit (or '-') to read stdin", valueHint: "path" },
    "if-version": { type: "string", description: "Write only if the latest version is still N (0: only if the key is new); else exit 6, nothing written", valueHint: "n" },
    merge: { type: "boolean", description: "With --if-version: if others wrote since N, merge your text edit with theirs line by line; overlapping edits exit 6 and show the conflicting lines" },
  },
  async run(ctx) {
    ctx.me();
    const key = parseKey(ctx.args.key);
    const ifVersion = ctx.args["if-version"] === undefined ? undefined : parseVersion(ctx.args["if-version"], "--if-version", 0);
    if (ctx.args.merge && ifVersion === undefined) throw usage("--merge needs --if-version N: the version your edit started from", "put with --if-version N --merge, where N is the version you fetched");
    const path = ctx.args.file;
    let body: Blob;
    if (path === undefined || path === "-") {
      if (process.stdin.isTTY) throw usage("nothing to upload: pass --file PATH or pipe the content in");
      body = new Blob([await Bun.stdin.bytes()]);
    } else {
      checkUpload(path);
      body = Bun.file(path);
    }
    const opts = { ifVersion, merge: Boolean(ctx.args.merge) };
    let w;
    if (body.size > PROGRESS_MIN_BYTES && progressWanted(ctx.json)) {
      const bar = new ProgressBar(`put ${key}`, body.size);
      try {
        w = await ctx.client.putFile(key, () => countingStream(body, (n) => bar.update(n)), { ...opts, size: body.size });
      } finally {
        bar.finish();
      }
    } else w = await ctx.client.putFile(key, body, opts);
    const sums = `${w.size} bytes, sha256 ${w.sha256.slice(0, 12)}…`;
    ctx.out(
      w,
      !w.created
        ? `${w.key} already holds this content as version ${w.version} (${sums}); no new version`
        : w.merged
          ? `merged your edit (made on version ${ifVersion}) with the changes since: stored ${w.key} as version ${w.version} (${sums})`
          : `stored ${w.key} as version ${w.version} (${sums})`,
    );
  },
});
