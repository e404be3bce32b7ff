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

// The binary stays in the launcher's process group, so the terminal's Ctrl-C, Ctrl-Z and resize reach it as
// they reach any command, and job control (Ctrl-Z, fg, bg) stops and resumes both together.
const posix = process.platform !== "win32";
const child = spawn(binary, process.argv.slice(2), { stdio: "inherit" });
// Sent by the terminal to the whole foreground group, the binary included: passed on only when they came from elsewhere.
const fromTerminal = posix ? ["SIGINT", "SIGQUIT", "SIGHUP"] : [];
const signals = posix ? [...fromTerminal, "SIGTERM", "SIGUSR2"] : ["SIGINT", "SIGBREAK"];

/** True when this process is in its terminal's foreground group: a SIGINT then came from the keyboard, to the binary too. */
function inForeground() {
  try {
    // /proc/self/stat: "pid (comm) state ppid pgrp session tty_nr tpgid ..."
    const fields = require("node:fs").readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ");
    return fields[2] === fields[5];
  } catch {
    try {
      const [tpgid, pgid] = require("node:child_process").execFileSync("ps", ["-o", "tpgid=,pgid=", "-p", String(process.pid)], { encoding: "utf8" }).trim().split(/\s+/);
      return tpgid === pgid;
    } catch {
      return Boolean(process.stdin.isTTY);
    }
  }
}

for (const signal of signals) {
  process.on(signal, () => {
    // On Windows the console sends Ctrl-C to the binary itself; the launcher only stays alive for its exit code.
    if (!posix || child.exitCode !== null || child.signalCode !== null) return;
    if (fromTerminal.includes(signal) && inForeground()) return;
    child.kill(signal);
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
