/** Each Redis script carries the shared Lua definitions it uses, and only those (a script's top level runs on every call). */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { bundle, definitionsOf, GUARD_END } from "../../src/relay/store/redis/bundle";
import { sourceOf, type Operation } from "../../src/relay/store/redis/scripts";

const LUA = join(import.meta.dir, "../../src/relay/store/redis/lua");
const FRAGMENTS = ["_lib.lua", "_inbox.lua", "_tasks.lua", "_files.lua"].map((f) => readFileSync(join(LUA, f), "utf8"));
const OPERATIONS = readdirSync(LUA)
  .filter((f) => f.endsWith(".lua") && !f.startsWith("_"))
  .map((f) => f.slice(0, -".lua".length) as Operation);
const SHARED = FRAGMENTS.flatMap(definitionsOf);
const NAMES = SHARED.flatMap((d) => d.defines);

/** Names a script mentions in its code (comments left out) and the names it defines at its top level. */
function scan(src: string) {
  const code = src.replace(/--[^\n]*/g, "");
  const mentioned = new Set(code.match(/[A-Za-z_][A-Za-z0-9_]*/g));
  const defined = new Set<string>();
  for (const m of code.matchAll(/^local (?:function )?([A-Za-z_][A-Za-z0-9_, ]*)/gm)) for (const n of m[1]!.split(",")) defined.add(n.trim());
  return { mentioned, defined };
}

describe("redis scripts' shared definitions", () => {
  test("every fragment line outside a comment belongs to a definition, and each defines a name", () => {
    expect(NAMES.length).toBeGreaterThan(40);
    for (const d of SHARED) expect(d.defines.every((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n))).toBe(true);
    expect(NAMES).toContain("queue");
    expect(NAMES).toContain("HISTORY_LAST");
  });

  test.each(OPERATIONS)("%s defines every shared name it mentions", (op) => {
    const { mentioned, defined } = scan(sourceOf(op));
    const missing = NAMES.filter((n) => mentioned.has(n) && !defined.has(n));
    expect(missing).toEqual([]);
  });

  test("a guard runs before the shared definitions and uses none of them: the sweeps with nothing due answer from it", () => {
    const guarded = OPERATIONS.filter((op) => sourceOf(op).includes(GUARD_END));
    expect(guarded.sort()).toEqual(["expire_tasks", "requeue_expired"]);
    for (const op of guarded) {
      const src = sourceOf(op);
      const guard = src.slice(0, src.indexOf(GUARD_END));
      expect(NAMES.filter((n) => scan(guard).mentioned.has(n))).toEqual([]);
      expect(src.indexOf("local function key(")).toBeGreaterThan(src.indexOf(GUARD_END));
    }
    const made = bundle(definitionsOf("local function f()\n  return 1\nend"), `local x = 1\n${GUARD_END}\nreturn f()`);
    expect(made).toBe(`local x = 1\n${GUARD_END}\nlocal function f()\n  return 1\nend\nreturn f()`);
  });

  test("a script leaves out what it does not use: ack moves no task, pinned_bytes touches no message", () => {
    expect(sourceOf("ack")).toContain("local function settle(");
    expect(sourceOf("ack")).not.toContain("local function change(");
    expect(sourceOf("pinned_bytes")).not.toContain("local function queue(");
    expect(sourceOf("create_task")).toContain("local function queue(");
  });

  test("definitions keep the fragments' order, so one defined later is never called before it exists", () => {
    const src = sourceOf("transition_task");
    expect(src.indexOf("local function queue(")).toBeLessThan(src.indexOf("local function change("));
    expect(src.indexOf("local function key(")).toBeLessThan(src.indexOf("local function queue("));
  });

  test("a fragment with a statement outside any definition is refused when the scripts are built", () => {
    expect(() => definitionsOf("local function f()\n  return 1\nend\nlocal T = {\n  a = 1,\n}\n")).not.toThrow();
    expect(() => definitionsOf("local function f()\nend\nredis.call('DEL', 'x')\n")).toThrow("a shared Lua fragment has a top-level line outside any definition: redis.call('DEL', 'x')");
    expect(() => definitionsOf("redis.call('DEL', 'x')\nlocal function f()\nend\n")).toThrow("a shared Lua fragment has a top-level line outside any definition: redis.call('DEL', 'x')");
  });

  test("a name mentioned only in a comment or a string pulls in nothing", () => {
    const defs = definitionsOf("local function a()\n  return 1\nend\nlocal function b()\n  return a()\nend\n");
    expect(bundle(defs, "-- a\nreturn 'a'")).toBe("-- a\nreturn 'a'");
    // A `--` inside a string starts no comment: what follows it on the line still counts.
    expect(bundle(defs, 'local s = "--" .. a()')).toBe('local function a()\n  return 1\nend\nlocal s = "--" .. a()');
    expect(bundle(defs, "return b()")).toBe("local function a()\n  return 1\nend\nlocal function b()\n  return a()\nend\n\nreturn b()");
  });
});
