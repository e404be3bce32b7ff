/** Reading a command's config and identity without node:fs, and building their paths without node:path: the same answers as those modules give. */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { joinPath, pathExists, readTextFile, resolvePath } from "../../src/local-files";
import { cleanup, tempHome } from "../_helpers";

afterAll(cleanup);

test("joinPath and resolvePath give what node:path gives, for normal paths and odd ones", () => {
  const dirs = ["/home/me/.clawlink", "/", "/a//b", "/a/./b", "/a/../b", "/a/b/", "relative/home", ".", "/a/b..c", "/a/.hidden", "//", "/.", "/..", "/a/.", "/a/..", "/...", "/a/..b", "", "a"];
  const names = ["identities", "me.json", "../up.json", "a/b.json", ".", "..", "x..json", "", "...", "/abs"];
  for (const dir of dirs) {
    expect({ dir, resolved: resolvePath(dir) }).toEqual({ dir, resolved: resolve(dir) });
    for (const name of names) expect({ dir, name, joined: joinPath(dir, name) }).toEqual({ dir, name, joined: join(dir, name) });
  }
});

test("readTextFile reads as node:fs does, says undefined for a missing file, and throws node:fs's error otherwise", () => {
  const dir = tempHome();
  const bom = join(dir, "bom.json");
  writeFileSync(bom, "\ufeff{}\n");
  expect(readTextFile(bom)).toBe(readFileSync(bom, "utf8"));
  const empty = join(dir, "empty");
  writeFileSync(empty, "");
  expect(readTextFile(empty)).toBe("");
  expect(readTextFile(join(dir, "missing"))).toBeUndefined();
  expect(readTextFile(join(dir, "missing-dir", "file"))).toBeUndefined();
  expect(() => readTextFile(dir)).toThrow(expect.objectContaining({ code: "EISDIR" }));
  if (process.getuid?.() !== 0) {
    const locked = join(dir, "locked");
    writeFileSync(locked, "secret");
    chmodSync(locked, 0o000);
    expect(() => readTextFile(locked)).toThrow(expect.objectContaining({ code: "EACCES" }));
  }
});

test("pathExists sees files, empty files and folders, and not what is missing", () => {
  const dir = tempHome();
  mkdirSync(join(dir, "sub"));
  writeFileSync(join(dir, "empty"), "");
  expect([pathExists(dir), pathExists(join(dir, "sub")), pathExists(join(dir, "empty")), pathExists(join(dir, "none"))]).toEqual([true, true, true, false]);
});
