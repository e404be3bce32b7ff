/** A task too long for the command line (a single argument stops at 128 KiB on Linux) comes from a file or stdin. */
import { afterAll, describe, expect, test } from "bun:test";
import { symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, member, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

describe("delegate --task-file", async () => {
  const { url } = await spawnRelay();
  const boss = await member(url, "boss");
  const worker = await member(url, "worker");
  const long = `Review this log:\n${"line of log\n".repeat(20_000)}`;

  test("a 240 KB task from a file, and one from stdin, arrive whole", async () => {
    const path = join(tempHome(), "task.md");
    writeFileSync(path, long);
    const fromFile = await runCli(["delegate", "--to", "worker", "--task-file", path, "--json"], boss);
    expect(fromFile.code).toBe(0);
    const fromStdin = await runCli(["delegate", "--to", "worker", "--task-file", "-", "--json"], { ...boss, stdin: "from stdin" });
    expect(fromStdin.code).toBe(0);
    const got = (await runCli(["poll", "--json"], worker)).json;
    expect(got.map((m: any) => [m.id, m.task])).toEqual([[fromFile.json.id, long], [fromStdin.json.id, "from stdin"]]);
  });

  test("neither, both, a missing file, a folder or an empty file: exit 2, and nothing is sent", async () => {
    const folder = tempHome();
    const empty = join(folder, "empty.md");
    writeFileSync(empty, " \n");
    for (const [flags, message] of [
      [[], "pass --task TEXT or --task-file PATH"],
      [["--task", "x", "--task-file", empty], "pass --task or --task-file, not both"],
      [["--task-file", join(tempHome(), "missing.md")], "no such file"],
      [["--task-file", folder], `--task-file ${folder} is a folder`],
      [["--task-file", empty], "--task must not be empty"],
    ] as const) {
      const r = await runCli(["delegate", "--to", "worker", ...flags, "--json"], boss);
      expect(r.code).toBe(2);
      expect(r.json.error.code).toBe("usage");
      expect(r.json.error.message).toContain(message);
    }
    expect((await runCli(["poll", "--json"], worker)).json).toEqual([]);
    // respond reads --result-file the same way.
    const r = await runCli(["respond", "--msg-id", "t_1", "--result-file", folder, "--json"], boss);
    expect(r.code).toBe(2);
    expect(r.json.error).toMatchObject({ code: "usage", message: `--result-file ${folder} is a folder` });
  });

  test("a file or stdin larger than any relay takes is refused before it is read whole: exit 2, and nothing is sent", async () => {
    // A task holds at most 1,000,000 characters, and a character is at most 3 bytes of UTF-8 (4 for two UTF-16 units).
    const dir = tempHome();
    const huge = join(dir, "huge.log");
    writeFileSync(huge, "x".repeat(4_000_000));
    const long = join(dir, "long.log");
    writeFileSync(long, "x".repeat(1_000_001));
    // A device reports no size, and cannot be polled as a pipe can: read up to the cap all the same.
    const endless = join(dir, "endless.log");
    symlinkSync("/dev/zero", endless);
    for (const [flags, stdin, message] of [
      [["--task-file", huge], undefined, `--task-file ${huge} is too large: 4000000 bytes, and a task holds at most 1000000 characters (3000003 bytes), on any relay`],
      [["--task-file", endless], undefined, `--task-file ${endless} is too large: over 3000003 bytes`],
      [["--task-file", "-"], "x".repeat(3_000_004), "--task-file - (stdin) is too large: over 3000003 bytes"],
      [["--task-file", long], undefined, `--task-file ${long} is too large: 1000001 characters`],
    ] as const) {
      const r = await runCli(["delegate", "--to", "worker", ...flags, "--json"], { ...boss, ...(stdin ? { stdin } : {}) });
      expect(r.code).toBe(2);
      expect(r.json.error.code).toBe("too_large");
      expect(r.json.error.message).toContain(message);
      expect(r.json.error.hint).toContain("clawlink file-put");
    }
    expect((await runCli(["poll", "--json"], worker)).json).toEqual([]);
    const r = await runCli(["respond", "--msg-id", "t_1", "--result-file", huge, "--json"], boss);
    expect(r.code).toBe(2);
    expect(r.json.error.message).toContain(`--result-file ${huge} is too large: 4000000 bytes, and a result holds at most 1000000 characters`);
  });
});
