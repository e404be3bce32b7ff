/** The platforms clawlink ships for, and the one build call that makes a binary for each. */
import { $ } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const TARGETS = [
  { os: "linux", arch: "x64" },
  { os: "linux", arch: "arm64" },
  { os: "darwin", arch: "x64" },
  { os: "darwin", arch: "arm64" },
  { os: "windows", arch: "x64" },
] as const;
export type Target = (typeof TARGETS)[number];

export const root = join(import.meta.dir, "..");
const hostOs = process.platform === "win32" ? "windows" : process.platform;
export const isHost = (t: Target) => t.os === hostOs && t.arch === process.arch;

export const binaryName = (t: Target) => `clawlink-${t.os}-${t.arch}${t.os === "windows" ? ".exe" : ""}`;

export const sha256 = (path: string) => new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");

/**
 * How every release binary is compiled; benches build their comparison programs with the same flags.
 * --compile-jit-policy=100 keeps a one-shot command's run-once code in the interpreter rather than paying
 * to JIT-compile it; long-running commands set the normal policy back as they start (src/cli.ts).
 */
export const COMPILE_FLAGS = ["--minify", "--bytecode", "--format=esm", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", "--compile-jit-policy=100"];

/**
 * Compiles src/cli.ts for one target. --splitting keeps each command's code in its own chunk inside the
 * binary, loaded only when that command runs: a one-shot client command does not pay for the relay's start-up.
 */
export async function compile(t: Target, outfile: string) {
  await $`${process.execPath} build src/cli.ts --compile --target=bun-${t.os}-${t.arch} --outfile ${outfile} --splitting ${COMPILE_FLAGS}`.cwd(root).quiet();
}
