/** The three-way merge the relay runs for `file-put --if-version N --merge`. */
import { describe, expect, test } from "bun:test";
import { blameConflicts, matchLines, merge3, renderConflicts, splitLines } from "../../src/relay/core/merge";

/** A small seeded generator, so a failing case can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

function lcsLength(a: string[], b: string[]): number {
  const dp = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) dp[i]![j] = a[i - 1] === b[j - 1] ? dp[i - 1]![j - 1]! + 1 : Math.max(dp[i - 1]![j]!, dp[i]![j - 1]!);
  return dp[a.length]![b.length]!;
}

const lines = (...xs: string[]) => xs.map((x) => x + "\n").join("");

describe("splitLines", () => {
  test("keeps line endings, so joining gives the text back", () => {
    for (const text of ["", "a", "a\n", "a\nb", "a\r\nb\r\n", "\n\n", "x\n\ny"]) expect(splitLines(text).join("")).toBe(text);
    expect(splitLines("a\nb")).toEqual(["a\n", "b"]);
  });
});

describe("matchLines", () => {
  test("finds a longest common subsequence, with pairs that increase and agree", () => {
    const next = rng(7);
    for (let round = 0; round < 400; round++) {
      const gen = () => Array.from({ length: Math.floor(next() * 14) }, () => "abcd"[Math.floor(next() * 4)]!);
      const a = gen();
      const b = gen();
      const match = matchLines(a, b);
      let last = -1;
      let count = 0;
      match.forEach((j, i) => {
        if (j < 0) return;
        expect(j).toBeGreaterThan(last);
        expect(b[j]).toBe(a[i]!);
        last = j;
        count++;
      });
      expect(count).toBe(lcsLength(a, b));
    }
  });

  test("stops at its budget on unrelated texts and still answers", () => {
    const a = Array.from({ length: 20_000 }, (_, i) => `a${i}`);
    const b = Array.from({ length: 20_000 }, (_, i) => `b${i}`);
    const started = performance.now();
    expect(matchLines(a, b, 1_000_000).every((j) => j === -1)).toBe(true);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe("merge3", () => {
  const base = lines("title", "intro", "one", "two", "three", "outro");

  test("edits of different lines are both kept", () => {
    const ours = lines("TITLE", "intro", "one", "two", "three", "outro");
    const theirs = lines("title", "intro", "one", "two", "three", "OUTRO");
    expect(merge3(base, ours, theirs)).toEqual({ clean: true, text: lines("TITLE", "intro", "one", "two", "three", "OUTRO") });
  });

  test("an insertion and a deletion elsewhere are both kept", () => {
    const ours = lines("title", "intro", "new", "one", "two", "three", "outro");
    const theirs = lines("title", "intro", "one", "two", "outro");
    expect(merge3(base, ours, theirs)).toEqual({ clean: true, text: lines("title", "intro", "new", "one", "two", "outro") });
  });

  test("when only one side changed, that side wins; the same change on both sides is kept once", () => {
    const edited = lines("title", "intro", "ONE", "two", "three", "outro");
    expect(merge3(base, base, edited)).toEqual({ clean: true, text: edited });
    expect(merge3(base, edited, base)).toEqual({ clean: true, text: edited });
    expect(merge3(base, edited, edited)).toEqual({ clean: true, text: edited });
  });

  test("different edits of the same line conflict, and the conflict names all three versions of it", () => {
    const ours = lines("title", "intro", "one", "two (ours)", "three", "outro");
    const theirs = lines("title", "intro", "one", "two (theirs)", "three", "outro");
    const r = merge3(base, ours, theirs);
    expect(r).toEqual({
      clean: false,
      conflicts: [{ base: { start: 4, lines: ["two\n"] }, ours: { start: 4, lines: ["two (ours)\n"] }, theirs: { start: 4, lines: ["two (theirs)\n"] } }],
    });
    if (r.clean) return;
    expect(renderConflicts(r.conflicts, { ours: "version 2 (bob)", base: "version 1", theirs: "yours" })).toBe(
      [
        "@@ line 4 of version 1; line 4 of version 2 (bob); line 4 of yours @@",
        "<<<<<<< version 2 (bob)",
        "two (ours)",
        "||||||| version 1",
        "two",
        "=======",
        "two (theirs)",
        ">>>>>>> yours",
      ].join("\n"),
    );
  });

  test("edits of adjacent lines merge: one side changes a line, the other the next", () => {
    const ours = lines("title", "intro", "ONE", "two", "three", "outro");
    const theirs = lines("title", "intro", "one", "TWO", "three", "outro");
    expect(merge3(base, ours, theirs)).toEqual({ clean: true, text: lines("title", "intro", "ONE", "TWO", "three", "outro") });
  });

  test("adjacent edits merge whatever their shape: a line removed beside one changed, lines added after a changed one", () => {
    expect(merge3(base, lines("title", "intro", "two", "three", "outro"), lines("title", "intro", "one", "TWO", "three", "outro"))).toEqual({
      clean: true,
      text: lines("title", "intro", "TWO", "three", "outro"),
    });
    expect(merge3(base, lines("title", "intro", "ONE", "two", "three", "outro"), lines("title", "intro", "one", "two", "2.5", "three", "outro"))).toEqual({
      clean: true,
      text: lines("title", "intro", "ONE", "two", "2.5", "three", "outro"),
    });
  });

  test("edits that overlap still conflict: the same line changed two ways, or a line inserted inside lines the other side replaced", () => {
    expect(merge3(base, lines("title", "intro", "ONE", "TWO", "three", "outro"), lines("title", "intro", "one", "Two", "three", "outro")).clean).toBe(false);
    expect(merge3(base, lines("title", "intro", "one", "1.5", "two", "three", "outro"), lines("title", "intro", "ONE AND TWO", "three", "outro")).clean).toBe(false);
  });

  test("both sides appending different lines at the end conflict", () => {
    const r = merge3("a\n", "a\nb\n", "a\nc\n");
    expect(r).toEqual({ clean: false, conflicts: [{ base: { start: 2, lines: [] }, ours: { start: 2, lines: ["b\n"] }, theirs: { start: 2, lines: ["c\n"] } }] });
    if (!r.clean) expect(renderConflicts(r.conflicts, { ours: "o", base: "b", theirs: "t" })).toStartWith("@@ after line 1 of b; line 2 of o; line 2 of t @@");
  });

  test("an empty base: identical texts merge, different ones conflict", () => {
    expect(merge3("", "x\n", "x\n")).toEqual({ clean: true, text: "x\n" });
    expect(merge3("", "x\n", "y\n").clean).toBe(false);
  });

  test("a missing final newline is a change of that line", () => {
    expect(merge3("a\nb", "a\nb\n", "a\nB")).toEqual({ clean: false, conflicts: expect.any(Array) });
    expect(merge3("a\nb", "a\nb\n", "A\nb")).toEqual({ clean: true, text: "A\nb\n" });
    expect(merge3("a\nb\nc", "A\nb\nc", "a\nb\nc\n")).toEqual({ clean: true, text: "A\nb\nc\n" });
  });

  test("random disjoint edits merge into the text with both applied", () => {
    const next = rng(42);
    let merged = 0;
    for (let round = 0; round < 300; round++) {
      const n = 6 + Math.floor(next() * 30);
      const O = Array.from({ length: n }, (_, i) => `line ${i} ${Math.floor(next() * 3)}\n`);
      // Two regions with at least one untouched line between them.
      const cut = 1 + Math.floor(next() * (n - 3));
      const edit = (from: number, to: number, tag: string) => {
        const start = from + Math.floor(next() * (to - from));
        const count = Math.floor(next() * Math.min(3, to - start + 1));
        const inserted = Array.from({ length: Math.floor(next() * 3) + (count === 0 ? 1 : 0) }, (_, k) => `${tag} ${round}.${k}\n`);
        return { start, count, inserted };
      };
      const e1 = edit(0, cut - 1, "ours");
      const e2 = edit(Math.min(cut + 1, n), n, "theirs");
      if (e1.start + e1.count >= e2.start) continue;
      const apply = (lines: string[], ...edits: { start: number; count: number; inserted: string[] }[]) => {
        const out = [...lines];
        for (const e of [...edits].sort((x, y) => y.start - x.start)) out.splice(e.start, e.count, ...e.inserted);
        return out.join("");
      };
      merged++;
      const r = merge3(O.join(""), apply(O, e1), apply(O, e2));
      expect(r).toEqual({ clean: true, text: apply(O, e1, e2) });
    }
    expect(merged).toBeGreaterThan(200);
  });
});

describe("blameConflicts", () => {
  const base = lines("title", "owner: alice", "", "due: friday", "outro");
  const v2 = { label: "carol in version 2", text: lines("title", "owner: carol", "", "due: friday", "outro") };
  const v3 = { label: "bob in version 3", text: lines("title", "owner: carol", "", "due: monday", "outro") };
  const v4 = { label: "alice in version 4", text: lines("title", "owner: carol", "", "due: monday", "outro", "notes") };
  const conflicts = (latest: string, theirs: string) => {
    const r = merge3(base, latest, theirs);
    if (r.clean) throw new Error("expected a conflict");
    return r.conflicts;
  };

  test("a conflict names who wrote its lines, not who wrote the latest version", () => {
    const c = conflicts(v4.text, lines("title", "owner: alice", "", "due: sunday", "outro"));
    expect(blameConflicts(base, [v2, v3, v4], c)).toEqual([["bob in version 3"]]);
  });

  test("each conflict has its own authors", () => {
    const c = conflicts(v4.text, lines("title", "owner: dave", "", "due: sunday", "outro"));
    expect(blameConflicts(base, [v2, v3, v4], c)).toEqual([["carol in version 2"], ["bob in version 3"]]);
  });

  test("a line that was removed is the remover's", () => {
    const without = { label: "erin in version 2", text: lines("title", "", "due: friday", "outro") };
    const latest = { label: "alice in version 3", text: lines("title", "", "due: friday", "outro", "notes") };
    const c = conflicts(latest.text, lines("title", "owner: dave", "", "due: friday", "outro"));
    expect(blameConflicts(base, [without, latest], c)).toEqual([["erin in version 2"]]);
  });
});
