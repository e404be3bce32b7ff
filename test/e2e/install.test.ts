/** Getting clawlink as a user does: npm from the packed tarballs, install.sh from a web server, the released skill. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { CliProcess, cleanup, runCli, spawnRelay, tempHome } from "../_helpers";

const root = join(import.meta.dir, "..", "..");
const hostOs = process.platform === "win32" ? "windows" : process.platform;
const platform = `clawlink-${hostOs}-${process.arch}`;
const version = pkg.version;
let release: string;

beforeAll(async () => {
  // The host's binary from `npm test`'s build, packed the way `npm run pack` packs all five (gzip level 1 to stay quick).
  release = join(tempHome(), "release");
  const pack = Bun.spawn([process.execPath, join(root, "scripts", "pack.ts"), "--host", "--no-build", "--fast", "--out", release], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(pack.stdout).text(), new Response(pack.stderr).text(), pack.exited]);
  if (code !== 0) throw new Error(`pack failed (${code}):\n${out}\n${err}`);
}, 180_000);
afterAll(cleanup);

function sums(): Map<string, string> {
  return new Map(
    readFileSync(join(release, "SHA256SUMS"), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(/\s+/).reverse() as [string, string]),
  );
}

const sha256 = (path: string) => new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");

test("the release holds the binary, the npm tarballs, install.sh and SKILL.md, each in SHA256SUMS", () => {
  const files = readdirSync(release).sort();
  expect(files).toEqual(["SHA256SUMS", "SKILL.md", `clawlink-${version}.tgz`, platform, `${platform}-${version}.tgz`, "install.sh"].sort());
  for (const [name, hash] of sums()) expect({ name, hash: sha256(join(release, name)) }).toEqual({ name, hash });
});

test("the released SKILL.md has an npm entry and a download entry per platform, with the tarball's sha256", async () => {
  const skill = readFileSync(join(release, "SKILL.md"), "utf8");
  const front = Bun.YAML.parse(skill.split("---")[1]!) as any;
  const install = front.metadata.openclaw.install;
  expect(install[0]).toEqual({ id: "node", kind: "node", package: "clawlink", bins: ["clawlink"], label: "Install clawlink (npm)" });
  const tgz = `${platform}-${version}.tgz`;
  expect(install[1]).toMatchObject({
    id: `download-${hostOs}-${process.arch}`,
    kind: "download",
    url: `https://github.com/clawlink/clawlink/releases/download/v${version}/${tgz}`,
    sha256: sums().get(tgz),
    archive: "tar.gz",
    stripComponents: 2,
    bins: ["clawlink"],
  });
  // Past the frontmatter it is the repository's skill, word for word.
  const repoSkill = readFileSync(join(root, "SKILL.md"), "utf8");
  expect(skill.split("\n---\n").slice(1).join("\n---\n")).toBe(repoSkill.split("\n---\n").slice(1).join("\n---\n"));
});

describe("npm", () => {
  let prefix: string;
  let bin: string[];

  beforeAll(async () => {
    prefix = tempHome();
    bin = [join(prefix, "bin", "clawlink")];
    // --offline: nothing may come from the registry; the other platforms' optional packages are simply skipped.
    const npm = Bun.spawn(
      ["npm", "install", "-g", "--prefix", prefix, "--offline", "--no-audit", "--no-fund", join(release, `clawlink-${version}.tgz`), join(release, `${platform}-${version}.tgz`)],
      { stdout: "pipe", stderr: "pipe", env: { ...process.env, npm_config_cache: join(prefix, ".npm") } },
    );
    const [out, err, code] = await Promise.all([new Response(npm.stdout).text(), new Response(npm.stderr).text(), npm.exited]);
    if (code !== 0) throw new Error(`npm install failed (${code}):\n${out}\n${err}`);
  }, 180_000);

  test("the installed clawlink is the launcher, and it runs this platform's binary", async () => {
    expect(readFileSync(join(prefix, "lib", "node_modules", "clawlink", "bin", "clawlink.js"), "utf8")).toStartWith("#!/usr/bin/env node");
    const r = await runCli(["--version"], { command: bin });
    expect(r).toMatchObject({ code: 0, stdout: `${version}\n` });
    const bad = await runCli(["nope", "--json"], { command: bin });
    expect(bad.code).toBe(2);
    expect(bad.json.error.message).toBe('unknown command "nope"');
  });

  test("a relay and a delegate round trip run through the launcher, and SIGTERM reaches the relay", async () => {
    const { relay, url } = await spawnRelay([], undefined, 0, bin);
    const alice = tempHome();
    const bob = tempHome();
    expect((await runCli(["register", "--name", "alice"], { home: alice, relay: url, command: bin })).code).toBe(0);
    expect((await runCli(["register", "--name", "bob"], { home: bob, relay: url, command: bin })).code).toBe(0);
    const worker = new CliProcess(["listen", "--exec", "echo pong from the npm install", "--respond", "--type", "task"], { home: bob, relay: url, command: bin });
    await worker.waitFor(/listening as bob/);
    const r = await runCli(["delegate", "--to", "bob", "--task", "ping", "--wait", "--timeout", "20"], { home: alice, relay: url, command: bin });
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: "pong from the npm install\n" });
    expect(await worker.stop()).toBe(0);
    // The launcher passes SIGTERM on; the relay stops cleanly and the launcher exits with its code.
    expect(await relay.stop("SIGTERM")).toBe(0);
    await relay.waitFor(/SIGTERM: stopping/);
  });

  test("the launcher passes the binary's exit code through", async () => {
    const r = await runCli(["discover", "--json", "--relay", "http://127.0.0.1:1"], { home: tempHome(), command: bin });
    expect(r.code).toBe(3);
    expect(r.json.error.code).toBe("unreachable");
  });

  test.skipIf(process.platform !== "linux")("the binary stays in the launcher's process group, so the terminal's job control reaches both", async () => {
    const { relay } = await spawnRelay([], undefined, 0, bin);
    const launcher = relay.proc.pid;
    const stat = (pid: number | string) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    const children = readFileSync(`/proc/${launcher}/task/${launcher}/children`, "utf8").trim().split(" ");
    expect(children.length).toBe(1);
    // Fields after the name: state ppid pgrp session: the same group and session as the launcher.
    expect(stat(children[0]!).slice(2, 4)).toEqual(stat(launcher).slice(2, 4));
    expect(await relay.stop("SIGTERM")).toBe(0);
  });

  test.skipIf(!Bun.which("setsid"))("a SIGINT sent to the launcher by another process reaches the binary", async () => {
    // In a session of its own, as under a process supervisor: no terminal sent the binary anything.
    const { relay } = await spawnRelay([], undefined, 0, ["setsid", ...bin]);
    expect(await relay.stop("SIGINT")).toBe(0);
    await relay.waitFor(/SIGINT: stopping/);
  });

  test.skipIf(!Bun.which("script"))("Ctrl-C on a terminal reaches the binary once", async () => {
    // exec: the shell that script starts would otherwise take the Ctrl-C too, and exit 130 for it.
    const proc = Bun.spawn(["script", "-qfec", `exec ${bin[0]} relay --port 0`, "/dev/null"], {
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp", TERM: "xterm" },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    let screen = "";
    const read = (async () => {
      for await (const chunk of proc.stdout) screen += new TextDecoder().decode(chunk);
    })();
    const started = Date.now();
    while (!/127\.0\.0\.1:\d+/.test(screen) && Date.now() - started < 10_000) await Bun.sleep(50);
    proc.stdin.write("\x03");
    proc.stdin.flush();
    // A second SIGINT would kill the relay mid-stop (exit 130); one stops it cleanly.
    expect(await proc.exited).toBe(0);
    await read;
    expect(screen.match(/SIGINT: stopping/g)).toHaveLength(1);
  });

  test("without its platform package, the launcher says which one is missing and how to get it", async () => {
    const bare = tempHome();
    const npm = Bun.spawn(["npm", "install", "-g", "--prefix", bare, "--offline", "--no-audit", "--no-fund", join(release, `clawlink-${version}.tgz`)], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, npm_config_cache: join(bare, ".npm") },
    });
    expect(await npm.exited).toBe(0);
    const r = await runCli(["--version"], { command: [join(bare, "bin", "clawlink")] });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: the package ${platform}, which holds clawlink's binary for this platform, is not installed`);
    expect(r.stderr).toContain(`hint: reinstall without --omit=optional or --no-optional: npm install -g clawlink@${version}`);
  }, 60_000);
});

describe("install.sh", () => {
  /** Serves the release folder, with a file changed or left out. */
  function serve(opts: { tamper?: string; missing?: string } = {}) {
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        const name = decodeURIComponent(new URL(req.url).pathname.slice(1));
        const path = join(release, name);
        if (name.includes("/") || name === opts.missing || !existsSync(path)) return new Response("not found", { status: 404 });
        const bytes = await Bun.file(path).bytes();
        if (name === opts.tamper) bytes[bytes.length - 1]! ^= 0xff;
        return new Response(bytes);
      },
    });
    return { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) };
  }

  async function install(url: string) {
    const home = tempHome();
    const dir = join(home, "bin");
    const proc = Bun.spawn(["sh", join(release, "install.sh")], {
      env: { PATH: process.env.PATH!, HOME: home, CLAWLINK_DOWNLOAD_URL: url, CLAWLINK_INSTALL_DIR: dir },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr, dir };
  }

  test("as released: downloads, checks the sha256, installs, and says how to put it on PATH", async () => {
    const server = serve();
    try {
      const r = await install(server.url);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      expect(r.stdout).toContain(`installed clawlink ${version} to ${join(r.dir, "clawlink")} (sha256 verified)`);
      expect(r.stdout).toContain(`${r.dir} is not on your PATH`);
      expect(sha256(join(r.dir, "clawlink"))).toBe(sums().get(platform)!);
      expect((await runCli(["--version"], { command: [join(r.dir, "clawlink")] })).stdout).toBe(`${version}\n`);
    } finally {
      server.stop();
    }
  });

  test("a tampered binary is refused: nothing installed, exit non-zero, the mismatch named", async () => {
    const server = serve({ tamper: platform });
    try {
      const r = await install(server.url);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`error: the sha256 of the downloaded ${platform} is `);
      expect(r.stderr).toContain(`but SHA256SUMS says ${sums().get(platform)}`);
      expect(r.stderr).toContain("nothing was installed");
      expect(existsSync(r.dir) ? readdirSync(r.dir) : []).toEqual([]);
    } finally {
      server.stop();
    }
  });

  test("a missing binary or SHA256SUMS fails with the address that failed, and installs nothing", async () => {
    for (const missing of [platform, "SHA256SUMS"]) {
      const server = serve({ missing });
      try {
        const r = await install(server.url);
        expect({ missing, code: r.code }).toEqual({ missing, code: 1 });
        expect(r.stderr).toContain(`error: could not download ${server.url}/${missing}`);
        expect(existsSync(r.dir) ? readdirSync(r.dir) : []).toEqual([]);
      } finally {
        server.stop();
      }
    }
  });

  test("is shellcheck-clean POSIX sh", async () => {
    if (!Bun.which("shellcheck")) {
      // CI installs it (.ci/run); anywhere else a missing linter is said out loud, never passed over quietly.
      if (process.env.CI) throw new Error("shellcheck is not installed, and CI must run it: apt-get install shellcheck");
      console.warn("\n*** SKIPPED: shellcheck is not installed, so install.sh was not linted (apt-get install shellcheck) ***\n");
      return;
    }
    const proc = Bun.spawn(["shellcheck", "--shell=sh", "--severity=style", join(root, "scripts", "install.sh")], { stdout: "pipe", stderr: "pipe" });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect({ code, out }).toEqual({ code: 0, out: "" });
  });
});
