/**
 * Puts in front of one operation's script only the shared definitions (`local function f`, `local X =`
 * of the `_*.lua` fragments) it uses, directly or through another definition, in the fragments' order.
 * A script's top level runs on every call, so each definition it does not need costs every call.
 */

/** One top-level definition of a fragment: its text (with the comment above it), the names it defines and the names it uses. */
interface Definition {
  text: string;
  defines: string[];
  uses: Set<string>;
}

const NAME = /[A-Za-z_][A-Za-z0-9_]*/g;

/** The names a piece of Lua mentions outside its comments and string literals (strings first: one may hold `--`). */
function namesIn(lua: string): Set<string> {
  const code = lua.replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, '""').replace(/--[^\n]*/g, "");
  return new Set(code.match(NAME) ?? []);
}

/** A fragment as its top-level definitions: each starts at a `local` in the first column and goes on indented, to its `end`. */
export function definitionsOf(fragment: string): Definition[] {
  const out: Definition[] = [];
  let comment: string[] = [];
  let current: string[] | null = null;
  const close = () => {
    if (!current) return;
    const head = current.find((l) => l.startsWith("local "))!;
    const fn = /^local function ([A-Za-z_][A-Za-z0-9_]*)/.exec(head);
    const defines = fn ? [fn[1]!] : head.slice("local ".length).split("=")[0]!.split(",").map((n) => n.trim());
    const text = current.join("\n");
    out.push({ text, defines, uses: namesIn(text) });
    current = null;
  };
  for (const line of fragment.split("\n")) {
    if (line.startsWith("local ")) {
      close();
      current = [...comment, line];
      comment = [];
    } else if (line.startsWith("--")) {
      // A comment in the first column is about the definition below it.
      close();
      comment.push(line);
    } else if (current && (line.trim() === "" || /^(\s|end\b|[})])/.test(line))) {
      current.push(line);
    } else if (line.trim() !== "") {
      throw new Error(`a shared Lua fragment has a top-level line outside any definition: ${line}`);
    }
  }
  close();
  return out;
}

/**
 * Where a body's guard ends: what comes before this line runs before the shared definitions are made, so
 * a call it answers (a sweep with nothing due) costs none of them; it uses none of them either.
 */
export const GUARD_END = "-- (the shared definitions go here)";

/** The script of one operation: its guard, if any, then the definitions its body needs, transitively, then the body. */
export function bundle(definitions: readonly Definition[], body: string): string {
  const at = body.indexOf(`${GUARD_END}\n`);
  const guard = at < 0 ? [] : [body.slice(0, at + GUARD_END.length)];
  if (at >= 0) body = body.slice(at + GUARD_END.length + 1);
  const byName = new Map<string, number>();
  definitions.forEach((d, i) => d.defines.forEach((n) => byName.set(n, i)));
  const needed = new Set<number>();
  const visit = (names: Iterable<string>) => {
    for (const n of names) {
      const i = byName.get(n);
      if (i === undefined || needed.has(i)) continue;
      needed.add(i);
      visit(definitions[i]!.uses);
    }
  };
  visit(namesIn(body));
  const kept = definitions.filter((_, i) => needed.has(i)).map((d) => d.text);
  return [...guard, ...kept, body].join("\n");
}
