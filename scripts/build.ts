/**
 * Compiles clawlink into one self-contained executable per platform, plus SHA256SUMS.
 *   bun scripts/build.ts            every target
 *   bun scripts/build.ts --host     only this machine's (what the tests use)
 * `npm run pack` (scripts/pack.ts) makes the release from these: archives, npm packages, install.sh.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { TARGETS, binaryName, compile, isHost, root, sha256 } from "./_targets";

const dist = join(root, "dist");
const targets = TARGETS.filter((t) => !process.argv.includes("--host") || isHost(t));

mkdirSync(dist, { recursive: true });
const sums: string[] = [];
for (const t of targets) {
  const name = binaryName(t);
  const started = performance.now();
  await compile(t, join(dist, name));
  sums.push(`${sha256(join(dist, name))}  ${name}`);
  console.log(`built dist/${name} (${((performance.now() - started) / 1000).toFixed(1)}s)`);
}
writeFileSync(join(dist, "SHA256SUMS"), sums.join("\n") + "\n");
console.log(`clawlink ${pkg.version}: ${targets.length} binaries, checksums in dist/SHA256SUMS`);
