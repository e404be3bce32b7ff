/** The local paths file-put reads and file-get writes: new files 0600, no overwriting or writing through links without --force. */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

const mode = (path: string) => statSync(path).mode & 0o777;
const mkfifo = (path: string) => expect(Bun.spawnSync(["mkfifo", path]).exitCode).toBe(0);

describe("file-get --output and file-put --file", async () => {
  const { url } = await spawnRelay();
  const home = tempHome();
  const dir = tempHome();
  const as = { home, relay: url };
  await runCli(["register", "--name", "alice"], as);
  await runCli(["file-put", "--key", "team/secret-plan.md"], { ...as, stdin: "the plan\n" });
  const get = (...flags: string[]) => runCli(["file-get", "--key", "team/secret-plan.md", ...flags], as);

  test("a new --output file is created with mode 0600, not as the umask would have it", async () => {
    const out = join(dir, "new.md");
    const r = await get("--output", out);
    expect(r.code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe("the plan\n");
    expect(mode(out)).toBe(0o600);
  });

  test("an existing file is not overwritten without --force; with it, it keeps its mode", async () => {
    const out = join(dir, "existing.md");
    writeFileSync(out, "mine\n");
    chmodSync(out, 0o640);
    const r = await get("--output", out);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: --output ${out} already exists; file-get does not overwrite a file unless told to`);
    expect(r.stderr).toContain("hint: pass --force to replace it (it keeps its mode), or choose another path");
    expect(readFileSync(out, "utf8")).toBe("mine\n");
    const forced = await get("--output", out, "--force", "--json");
    expect(forced.code).toBe(0);
    expect(forced.json).toMatchObject({ key: "team/secret-plan.md", output: out });
    expect(readFileSync(out, "utf8")).toBe("the plan\n");
    expect(mode(out)).toBe(0o640);
  });

  test("a symbolic link is not written through; --force replaces the link itself, never its target", async () => {
    const target = join(dir, "victim.txt");
    writeFileSync(target, "do not touch\n");
    const link = join(dir, "link.md");
    symlinkSync(target, link);
    const r = await get("--output", link);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: --output ${link} is a symbolic link (to ${target}); file-get does not write through links`);
    expect(r.stderr).toContain("hint: choose another path, or pass --force to replace the link itself with the file (what it points to is left alone)");
    const forced = await get("--output", link, "--force");
    expect(forced.code).toBe(0);
    expect(readFileSync(target, "utf8")).toBe("do not touch\n");
    expect(lstatSync(link).isSymbolicLink()).toBe(false);
    expect(readFileSync(link, "utf8")).toBe("the plan\n");
    expect(mode(link)).toBe(0o600);
    // A dangling link is a link too.
    const dangling = join(dir, "dangling.md");
    symlinkSync(join(dir, "nowhere"), dangling);
    expect((await get("--output", dangling)).code).toBe(2);
  });

  test("a named pipe as --output is refused even with --force; --force alone is a usage error", async () => {
    const fifo = join(dir, "pipe.out");
    mkfifo(fifo);
    const r = await get("--output", fifo, "--force");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: --output ${fifo} is a named pipe, not a regular file; file-get writes only files`);
    expect(r.stderr).toContain("hint: leave out --output to write to stdout, and redirect that");
    const alone = await get("--force");
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain("error: --force goes with --output");
  });

  test("file-put --file reads any regular file the user names, through links, and refuses folders and pipes", async () => {
    const real = join(dir, "upload.md");
    writeFileSync(real, "uploaded\n");
    const link = join(dir, "upload-link.md");
    symlinkSync(real, link);
    const ok = await runCli(["file-put", "--key", "up.md", "--file", link, "--json"], as);
    expect(ok.code).toBe(0);
    expect(ok.json).toMatchObject({ key: "up.md", size: 9 });

    const folder = join(dir, "folder");
    mkdirSync(folder);
    const f = await runCli(["file-put", "--key", "up.md", "--file", folder], as);
    expect(f.code).toBe(2);
    expect(f.stderr).toContain(`error: --file ${folder} is a folder`);
    expect(f.stderr).toContain(`hint: name a file in it, e.g. --file ${join(folder, "FILE")}`);

    const fifo = join(dir, "pipe.in");
    mkfifo(fifo);
    const p = await runCli(["file-put", "--key", "up.md", "--file", fifo], as);
    expect(p.code).toBe(2);
    expect(p.stderr).toContain(`error: --file ${fifo} is a named pipe, not a regular file`);
    expect(p.stderr).toContain(`hint: to upload what it produces, pipe it in: clawlink file-put --key KEY < ${fifo}`);

    const missing = await runCli(["file-put", "--key", "up.md", "--file", join(dir, "nope.md")], as);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`error: no such file: ${join(dir, "nope.md")}`);
  });
});
