import { printable } from "../client/render";
import { progressWanted, ProgressBar, PROGRESS_MIN_BYTES } from "../client/progress";
import { describeResponse, readVerified, saveVerified } from "../client/transfer";
import { ClawlinkError } from "../errors";
import { printError } from "../output";
import { checkOutput, keyArg, parseKey, parseVersion } from "./_files";
import { defineClientCommand, usage } from "./_shared";

export default defineClientCommand({
  meta: {
    name: "file-get",
    description:
      "Fetch a shared file (the latest version, or --version N) to --output PATH or stdout; the sha256 is checked and a mismatch fails without writing. Note the version you got: put your edit back with `file-put --if-version N`",
  },
  examples: [
    "clawlink file-get --key reports/review.md",
    "clawlink file-get --key reports/review.md --output review.md --json",
    "clawlink file-get --key reports/review.md --output review.md --force",
    "clawlink file-get --key reports/review.md --version 3",
  ],
  args: {
    key: keyArg,
    version: { type: "string", description: "Fetch this older version (see file-history)", valueHint: "n" },
    output: { type: "string", description: "Write here instead of stdout: a new file, mode 0600 (streamed; written only once the sha256 matches). An existing file or a symbolic link is refused unless --force", valueHint: "path" },
    force: { type: "boolean", description: "With --output: replace an existing file (it keeps its mode), or a symbolic link itself (never what it points to)" },
  },
  async run(ctx) {
    const key = parseKey(ctx.args.key);
    const version = ctx.args.version === undefined ? undefined : parseVersion(ctx.args.version, "--version", 1);
    if (ctx.args.force && !ctx.args.output) throw usage("--force goes with --output", "pass --output PATH --force to replace an existing file");
    const mode = ctx.args.output ? checkOutput(ctx.args.output, key, Boolean(ctx.args.force)) : undefined;
    const res = await ctx.client.getFile(key, version);
    const what = `"${key}"${version === undefined ? "" : ` version ${version}`}`;
    const size = describeResponse(res).size;
    const bar = size > PROGRESS_MIN_BYTES && progressWanted(ctx.json) ? new ProgressBar(`get ${key}`, size) : undefined;
    const onBytes = bar && ((n: number) => bar.update(n));
    if (ctx.args.output) {
      const meta = await saveVerified(res, ctx.args.output, what, onBytes, mode).finally(() => bar?.finish());
      // With --json, stdout carries a summary instead of the bytes.
      ctx.out({ key, ...meta, output: ctx.args.output }, () => printError(printable(`wrote ${key} version ${meta.version} (${meta.size} bytes, sha256 verified) to ${ctx.args.output}`)));
      return;
    }
    const { meta, bytes } = await readVerified(res, what, onBytes).finally(() => bar?.finish());
    if (ctx.json) {
      let content: string;
      try {
        content = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch {
        throw new ClawlinkError("usage", `${what} is binary, so --json cannot carry its content`, "pass --output PATH to save it (the summary is still printed as JSON)");
      }
      ctx.out({ key, ...meta, content });
      return;
    }
    await Bun.write(Bun.stdout, bytes);
  },
});
