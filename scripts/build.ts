/**
 * Compiles clawlink into one self-contained executable per platform, plus SHA256SUMS.
 *   bun scripts/build.ts            every target
 *   bun scripts/build.ts --host     only this machine's (what the tests use)
 */
import { $ } from "bun";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };

const TARGETS = [
  { os: "linux", arch: "x64" },
  { os: "linux", arch: "arm64" },
  { os: "darwin", arch: "x64" },
  { os: "darwin", arch: "arm64" },
  { os: "windows", arch: "x64" },
] as const;

const root = join(import.meta.dir, "..");
const dist = join(root, "dist");
const hostOs = process.platform === "win32" ? "windows" : process.platform;
const hostOnly = process.argv.includes("--host");
const targets = TARGETS.filter((t) => !hostOnly || (t.os === hostOs && t.arch === process.arch));

const binaryName = (os: string, arch: string) => `clawlink-${os}-${arch}${os === "windows" ? ".exe" : ""}`;

// --splitting keeps each command's code in its own chunk inside the binary, loaded only when that
// command runs: a one-shot client command does not pay for the relay's start-up.
mkdirSync(dist, { recursive: true });
const sums: string[] = [];
for (const { os, arch } of targets) {
  const name = binaryName(os, arch);
  const started = performance.now();
  await $`${process.execPath} build src/cli.ts --compile --target=bun-${os}-${arch} --outfile ${join(dist, name)} --splitting --minify --bytecode --format=esm --no-compile-autoload-dotenv --no-compile-autoload-bunfig`
    .cwd(root)
    .quiet();
  const hash = new Bun.CryptoHasher("sha256").update(readFileSync(join(dist, name))).digest("hex");
  sums.push(`${hash}  ${name}`);
  console.log(`built dist/${name} (${((performance.now() - started) / 1000).toFixed(1)}s)`);
}
writeFileSync(join(dist, "SHA256SUMS"), sums.join("\n") + "\n");
console.log(`clawlink ${pkg.version}: ${targets.length} binaries, checksums in dist/SHA256SUMS`);
