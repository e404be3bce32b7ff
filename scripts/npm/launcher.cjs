#!/usr/bin/env node
// The `clawlink` command of the npm package: runs the binary from this platform's package
// (an optionalDependency that npm installs only where its os and cpu match), passing everything through.
"use strict";
const { spawn } = require("node:child_process");
const { dirname, join } = require("node:path");
const pkg = require("../package.json");

const os = process.platform === "win32" ? "windows" : process.platform;
const name = `clawlink-${os}-${process.arch}`;
const supported = Object.keys(pkg.optionalDependencies || {});

function fail(message, hint) {
  process.stderr.write(`error: ${message}\nhint: ${hint}\n`);
  process.exit(1);
}

function isMusl() {
  try {
    return process.platform === "linux" && !process.report.getReport().header.glibcVersionRuntime;
  } catch {
    return false;
  }
}

let binary;
try {
  const platformPkg = require.resolve(`${name}/package.json`);
  binary = join(dirname(platformPkg), "bin", os === "windows" ? "clawlink.exe" : "clawlink");
  const version = require(platformPkg).version;
  if (version !== pkg.version) process.stderr.write(`warning: clawlink ${pkg.version} is running the binary of ${name} ${version}; reinstall to match: npm install -g clawlink@${pkg.version}\n`);
} catch {
  const manual = "or download the binary for your system from the release page and check it against SHA256SUMS (see README)";
  if (!supported.includes(name)) fail(`clawlink has no prebuilt binary for ${process.platform}-${process.arch}; the npm package covers ${supported.map((s) => s.slice(9)).join(", ")}`, `build it from source (npm install && npm run build), ${manual}`);
  if (isMusl()) fail(`the prebuilt Linux binaries need glibc, and this system uses musl (Alpine?)`, `use a glibc-based image (Debian, Ubuntu), ${manual}`);
  fail(`the package ${name}, which holds clawlink's binary for this platform, is not installed`, `reinstall without --omit=optional or --no-optional: npm install -g clawlink@${pkg.version}`);
}

// On POSIX the binary gets its own session, so a Ctrl-C reaches it once (from here) rather than twice.
const posix = process.platform !== "win32";
const child = spawn(binary, process.argv.slice(2), { stdio: "inherit", detached: posix });
const signals = posix ? ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR2", "SIGWINCH"] : ["SIGINT", "SIGBREAK"];
for (const signal of signals) {
  process.on(signal, () => {
    // On Windows the console sends Ctrl-C to the binary itself; the launcher only stays alive for its exit code.
    if (posix && child.exitCode === null && child.signalCode === null) child.kill(signal);
  });
}
child.on("error", (err) => fail(`cannot run ${binary}: ${err.message}`, `reinstall: npm install -g clawlink@${pkg.version}`));
child.on("exit", (code, signal) => {
  if (signal) {
    // End the same way the binary did, so whoever waits on this process sees the signal.
    for (const s of signals) process.removeAllListeners(s);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code === null ? 1 : code);
});
