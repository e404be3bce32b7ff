/**
 * Makes a release in dist/release/ (`npm run pack`):
 *   clawlink-<os>-<arch>[.exe]           the five binaries
 *   clawlink-<version>.tgz               the npm package `clawlink`: a small Node launcher
 *   clawlink-<os>-<arch>-<version>.tgz   one npm package per platform, holding its binary; SKILL.md's
 *                                        download entries point at these too
 *   SHA256SUMS, install.sh, SKILL.md     the skill with a download entry (and its sha256) per platform
 * Flags: --host (this machine's target only), --no-build (take the binaries from dist/, built by
 * scripts/build.ts), --fast (gzip level 1, for the tests), --out DIR (instead of dist/release).
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { skillWithDownloads, type Download } from "./_skill";
import { tarGz, type Entry } from "./_tar";
import { TARGETS, binaryName, compile, isHost, root, sha256, type Target } from "./_targets";

const argv = process.argv.slice(2);
const at = argv.indexOf("--out");
const out = resolve(at >= 0 ? argv[at + 1]! : join(root, "dist", "release"));
const targets = TARGETS.filter((t) => !argv.includes("--host") || isHost(t));
const level = argv.includes("--fast") ? 1 : 6;
const version = pkg.version;

/** `https://github.com/OWNER/NAME/releases/download/vX.Y.Z`, from package.json's repository. */
const repo = /github\.com\/([^/]+\/[^/.]+)/.exec(pkg.repository.url)?.[1];
if (!repo) throw new Error(`package.json's repository.url does not name a GitHub repository: ${pkg.repository.url}`);
const releaseUrl = `https://github.com/${repo}/releases/download/v${version}`;

const npmName = (t: Target) => `clawlink-${t.os}-${t.arch}`;
const shared = { version, repository: pkg.repository, homepage: `https://github.com/${repo}#readme` };
const text = (s: string) => new TextEncoder().encode(s);
const manifest = (m: object) => text(JSON.stringify(m, null, 2) + "\n");

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const downloads: Download[] = [];
for (const t of targets) {
  const started = performance.now();
  const binary = join(out, binaryName(t));
  if (argv.includes("--no-build")) {
    const built = join(root, "dist", binaryName(t));
    if (!existsSync(built)) throw new Error(`--no-build: ${built} is missing; run \`bun scripts/build.ts${targets.length === 1 ? " --host" : ""}\` first`);
    copyFileSync(built, binary);
  } else await compile(t, binary);
  chmodSync(binary, 0o755);
  const exe = t.os === "windows" ? ".exe" : "";
  const entries: Entry[] = [
    {
      path: "package/package.json",
      mode: 0o644,
      data: manifest({
        name: npmName(t),
        ...shared,
        description: `The clawlink binary for ${t.os} ${t.arch}. Install the clawlink package, which picks this one for you.`,
        os: [t.os === "windows" ? "win32" : t.os],
        cpu: [t.arch],
        // Bun's Linux builds link against glibc: on musl npm skips this package and the launcher says why.
        ...(t.os === "linux" ? { libc: ["glibc"] } : {}),
        preferUnplugged: true,
      }),
    },
    { path: "package/README.md", mode: 0o644, data: text(`# ${npmName(t)}\n\nThe \`clawlink\` binary for ${t.os} ${t.arch}. Install [clawlink](https://www.npmjs.com/package/clawlink) instead: \`npm install -g clawlink\`.\n`) },
    { path: `package/bin/clawlink${exe}`, mode: 0o755, data: readFileSync(binary) },
  ];
  const tgz = `${npmName(t)}-${version}.tgz`;
  writeFileSync(join(out, tgz), tarGz(entries, level));
  downloads.push({ target: t, url: `${releaseUrl}/${tgz}`, sha256: sha256(join(out, tgz)) });
  console.log(`packed ${binaryName(t)} and ${tgz} (${((performance.now() - started) / 1000).toFixed(1)}s)`);
}

writeFileSync(
  join(out, `clawlink-${version}.tgz`),
  tarGz(
    [
      {
        path: "package/package.json",
        mode: 0o644,
        data: manifest({
          name: "clawlink",
          ...shared,
          description: pkg.description,
          keywords: ["agents", "ai", "relay", "mcp", "openclaw", "claude", "codex"],
          bin: { clawlink: "bin/clawlink.js" },
          // Every platform, whichever were built here: npm installs only the one that fits, in lockstep.
          optionalDependencies: Object.fromEntries(TARGETS.map((t) => [npmName(t), version])),
          engines: { node: ">=18" },
        }),
      },
      { path: "package/README.md", mode: 0o644, data: readFileSync(join(root, "README.md")) },
      { path: "package/bin/clawlink.js", mode: 0o755, data: readFileSync(join(import.meta.dir, "npm", "launcher.cjs")) },
    ],
    level,
  ),
);

copyFileSync(join(import.meta.dir, "install.sh"), join(out, "install.sh"));
chmodSync(join(out, "install.sh"), 0o755);
writeFileSync(join(out, "SKILL.md"), skillWithDownloads(readFileSync(join(root, "SKILL.md"), "utf8"), downloads));

const files = readdirSync(out).filter((f) => f !== "SHA256SUMS").sort();
writeFileSync(join(out, "SHA256SUMS"), files.map((f) => `${sha256(join(out, f))}  ${f}`).join("\n") + "\n");
console.log(`clawlink ${version}: ${files.length} files and SHA256SUMS in ${out}`);
