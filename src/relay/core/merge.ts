/**
 * Line-based three-way merge: diff3 over a linear-space Myers diff. Pure: strings in, a result out.
 * "ours" is what the relay holds now, "theirs" is the incoming write, "base" the version both started from.
 */

export interface Hunk {
  /** 1-based line number where the hunk starts in its text. */
  start: number;
  lines: string[];
}
export interface Conflict {
  base: Hunk;
  ours: Hunk;
  theirs: Hunk;
}
export type MergeResult = { clean: true; text: string } | { clean: false; conflicts: Conflict[] };

/** Work allowed for one diff before the rest is treated as replaced: bounds time on huge, unrelated texts. */
const DIFF_BUDGET = 50_000_000;

/** Splits text into lines that keep their "\n", so joining them gives the text back. */
export function splitLines(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
    out.push(text.slice(start, nl + 1));
    start = nl + 1;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

/**
 * A longest common subsequence of two line lists, as `match[i]` = the index in `b` that `a[i]` is
 * paired with, or -1. Pairs are strictly increasing in both lists.
 */
export function matchLines(a: readonly string[], b: readonly string[], budget = DIFF_BUDGET): Int32Array {
  const ids = new Map<string, number>();
  const intern = (lines: readonly string[]) =>
    Int32Array.from(lines, (line) => {
      let id = ids.get(line);
      if (id === undefined) ids.set(line, (id = ids.size));
      return id;
    });
  const A = intern(a);
  const B = intern(b);
  const match = new Int32Array(a.length).fill(-1);
  diffRange(A, 0, A.length, B, 0, B.length, match, { budget });
  return match;
}

interface Budget {
  budget: number;
}

function diffRange(A: Int32Array, aLo: number, aHi: number, B: Int32Array, bLo: number, bHi: number, match: Int32Array, work: Budget) {
  while (aLo < aHi && bLo < bHi && A[aLo] === B[bLo]) match[aLo++] = bLo++;
  while (aLo < aHi && bLo < bHi && A[aHi - 1] === B[bHi - 1]) match[--aHi] = --bHi;
  if (aLo === aHi || bLo === bHi) return;
  const split = bisect(A, aLo, aHi, B, bLo, bHi, work);
  // No common line (or no budget left): the ranges count as one replacement.
  if (!split) return;
  const [x, y] = split;
  if ((x === aLo && y === bLo) || (x === aHi && y === bHi)) return;
  diffRange(A, aLo, x, B, bLo, y, match, work);
  diffRange(A, x, aHi, B, y, bHi, match, work);
}

/** Myers' middle snake: a point on an optimal path, found from both ends at once in linear space. */
function bisect(A: Int32Array, aLo: number, aHi: number, B: Int32Array, bLo: number, bHi: number, work: Budget): [number, number] | null {
  const n = aHi - aLo;
  const m = bHi - bLo;
  const maxD = Math.ceil((n + m) / 2);
  const off = maxD + 1;
  const len = 2 * maxD + 3;
  const v1 = new Int32Array(len).fill(-1);
  const v2 = new Int32Array(len).fill(-1);
  v1[off + 1] = 0;
  v2[off + 1] = 0;
  const delta = n - m;
  const front = delta % 2 !== 0;
  let k1start = 0;
  let k1end = 0;
  let k2start = 0;
  let k2end = 0;
  for (let d = 0; d < maxD; d++) {
    if ((work.budget -= 2 * d + 2) < 0) return null;
    for (let k1 = -d + k1start; k1 <= d - k1end; k1 += 2) {
      const k1o = off + k1;
      let x1 = k1 === -d || (k1 !== d && v1[k1o - 1]! < v1[k1o + 1]!) ? v1[k1o + 1]! : v1[k1o - 1]! + 1;
      let y1 = x1 - k1;
      const x0 = x1;
      while (x1 < n && y1 < m && A[aLo + x1] === B[bLo + y1]) {
        x1++;
        y1++;
      }
      work.budget -= x1 - x0;
      v1[k1o] = x1;
      if (x1 > n) k1end += 2;
      else if (y1 > m) k1start += 2;
      else if (front) {
        const k2o = off + delta - k1;
        if (k2o >= 0 && k2o < len && v2[k2o] !== -1 && x1 >= n - v2[k2o]!) return [aLo + x1, bLo + y1];
      }
    }
    for (let k2 = -d + k2start; k2 <= d - k2end; k2 += 2) {
      const k2o = off + k2;
      let x2 = k2 === -d || (k2 !== d && v2[k2o - 1]! < v2[k2o + 1]!) ? v2[k2o + 1]! : v2[k2o - 1]! + 1;
      let y2 = x2 - k2;
      const x0 = x2;
      while (x2 < n && y2 < m && A[aHi - x2 - 1] === B[bHi - y2 - 1]) {
        x2++;
        y2++;
      }
      work.budget -= x2 - x0;
      v2[k2o] = x2;
      if (x2 > n) k2end += 2;
      else if (y2 > m) k2start += 2;
      else if (!front) {
        const k1o = off + delta - k2;
        if (k1o >= 0 && k1o < len && v1[k1o] !== -1) {
          const x1 = v1[k1o]!;
          const y1 = off + x1 - k1o;
          if (x1 >= n - x2) return [aLo + x1, bLo + y1];
        }
      }
    }
  }
  return null;
}

const same = (x: readonly string[], y: readonly string[]) => x.length === y.length && x.every((line, i) => line === y[i]);

/** One side's change inside a chunk: base lines [from, to) replaced by `lines` (from === to: lines inserted before `from`). */
interface Edit {
  from: number;
  to: number;
  lines: string[];
}

/** The edits one side made to base lines [o, oEnd), which it turned into its lines [x, xEnd); `m` pairs base lines with its lines. */
function editsOf(m: Int32Array, O: readonly string[], o: number, oEnd: number, X: readonly string[], x: number, xEnd: number): Edit[] {
  const edits: Edit[] = [];
  let j = o;
  while (j < oEnd || x < xEnd) {
    if (j < oEnd && m[j] === x) {
      j++;
      x++;
      continue;
    }
    let j2 = j;
    while (j2 < oEnd && m[j2]! < 0) j2++;
    const x2 = j2 < oEnd ? m[j2]! : xEnd;
    edits.push({ from: j, to: j2, lines: X.slice(x, x2) as string[] });
    j = j2;
    x = x2;
  }
  return edits;
}

/**
 * Both sides' edits of one chunk applied together, when no base line is changed by both and no two
 * edits start at the same place (whose order would be a guess): edits of adjacent lines merge.
 * Null when they overlap.
 */
function mergeApart(O: readonly string[], o: number, oEnd: number, ours: Edit[], theirs: Edit[]): string[] | null {
  for (const x of ours) {
    for (const y of theirs) {
      if (x.from === y.from || Math.max(x.from, y.from) < Math.min(x.to, y.to)) return null;
      // A line inserted inside the other side's replaced lines has no place of its own.
      if ((x.from === x.to && y.from < x.from && x.from < y.to) || (y.from === y.to && x.from < y.from && y.from < x.to)) return null;
    }
  }
  const edits = [...ours, ...theirs].sort((p, q) => p.from - q.from);
  const out: string[] = [];
  let j = o;
  for (const e of edits) {
    while (j < e.from) out.push(O[j++]!);
    out.push(...e.lines);
    j = Math.max(j, e.to);
  }
  while (j < oEnd) out.push(O[j++]!);
  return out;
}

/**
 * Merges two edits of `base`. Where only one side changed a region, that side wins; where both made
 * the same change, it is kept once; edits of different lines merge, adjacent ones too; where both
 * changed the same lines differently, or inserted different lines at the same place, it is a conflict.
 */
export function merge3(base: string, ours: string, theirs: string): MergeResult {
  const O = splitLines(base);
  const A = splitLines(ours);
  const B = splitLines(theirs);
  const ma = matchLines(O, A);
  const mb = matchLines(O, B);
  const out: string[] = [];
  const conflicts: Conflict[] = [];
  let o = 0;
  let a = 0;
  let b = 0;
  let merged: string[] | null;
  for (;;) {
    // A stable run: base lines that both sides kept, at the positions we stand on.
    let i = 0;
    while (o + i < O.length && ma[o + i] === a + i && mb[o + i] === b + i) i++;
    if (i > 0) {
      for (let k = 0; k < i; k++) out.push(O[o + k]!);
      o += i;
      a += i;
      b += i;
      continue;
    }
    // An unstable chunk: everything up to the next base line both sides kept.
    let j = o;
    while (j < O.length && (ma[j]! < 0 || mb[j]! < 0)) j++;
    const [oEnd, aEnd, bEnd] = j < O.length ? [j, ma[j]!, mb[j]!] : [O.length, A.length, B.length];
    if (oEnd === o && aEnd === a && bEnd === b) break;
    const baseLines = O.slice(o, oEnd);
    const ourLines = A.slice(a, aEnd);
    const theirLines = B.slice(b, bEnd);
    if (same(ourLines, baseLines)) out.push(...theirLines);
    else if (same(theirLines, baseLines) || same(ourLines, theirLines)) out.push(...ourLines);
    else if ((merged = mergeApart(O, o, oEnd, editsOf(ma, O, o, oEnd, A, a, aEnd), editsOf(mb, O, o, oEnd, B, b, bEnd)))) out.push(...merged);
    else conflicts.push({ base: { start: o + 1, lines: baseLines }, ours: { start: a + 1, lines: ourLines }, theirs: { start: b + 1, lines: theirLines } });
    o = oEnd;
    a = aEnd;
    b = bEnd;
  }
  return conflicts.length ? { clean: false, conflicts } : { clean: true, text: out.join("") };
}

/** One version between a merge's base and the latest, with who wrote it. */
export interface Revision {
  text: string;
  /** How a conflict names its author, e.g. `bob in version 3`. */
  label: string;
}

/**
 * Who wrote each conflict's lines on the relay's side: `edits` run from the version after the base
 * to the latest (whose lines the conflicts' `ours` hunks count). A line is credited to the edit that
 * added it, and a base line the latest lacks to the edit that removed it.
 */
export function blameConflicts(base: string, edits: readonly Revision[], conflicts: readonly Conflict[]): string[][] {
  // What each line of the current text came from: a base line (its index, as -1 - index) or an edit (its index).
  let prev = splitLines(base);
  let origin = Array.from(prev, (_, i) => -1 - i);
  const removedBy = new Int32Array(prev.length).fill(-1);
  edits.forEach((edit, e) => {
    const cur = splitLines(edit.text);
    const match = matchLines(prev, cur);
    const next = new Array<number>(cur.length).fill(e);
    match.forEach((j, i) => {
      if (j >= 0) next[j] = origin[i]!;
      else if (origin[i]! < 0 && removedBy[-1 - origin[i]!] === -1) removedBy[-1 - origin[i]!] = e;
    });
    prev = cur;
    origin = next;
  });
  return conflicts.map((c) => {
    const by = new Set<number>();
    for (let i = c.ours.start - 1; i < c.ours.start - 1 + c.ours.lines.length; i++) if (origin[i]! >= 0) by.add(origin[i]!);
    for (let i = c.base.start - 1; i < c.base.start - 1 + c.base.lines.length; i++) if (removedBy[i]! >= 0) by.add(removedBy[i]!);
    // A change that moved lines without adding or removing any: the latest edit made it.
    if (by.size === 0 && edits.length) by.add(edits.length - 1);
    return [...by].sort((x, y) => x - y).map((e) => edits[e]!.label);
  });
}

const range = (h: Hunk) => (h.lines.length === 0 ? `after line ${h.start - 1}` : h.lines.length === 1 ? `line ${h.start}` : `lines ${h.start}-${h.start + h.lines.length - 1}`);

/** Conflicts in diff3 style (<<<<<<< ||||||| ======= >>>>>>>), at most `maxLines` lines of text; `ours` may be labelled per conflict. */
export function renderConflicts(conflicts: Conflict[], labels: { ours: string | readonly string[]; base: string; theirs: string }, maxLines = 200): string {
  const out: string[] = [];
  const push = (lines: string[]) => {
    for (const line of lines) out.push(line.endsWith("\n") ? line.slice(0, -1).replace(/\r$/, "") : line);
  };
  for (const [i, c] of conflicts.entries()) {
    const ours = typeof labels.ours === "string" ? labels.ours : labels.ours[i]!;
    out.push(`@@ ${range(c.base)} of ${labels.base}; ${range(c.ours)} of ${ours}; ${range(c.theirs)} of ${labels.theirs} @@`);
    out.push(`<<<<<<< ${ours}`);
    push(c.ours.lines);
    out.push(`||||||| ${labels.base}`);
    push(c.base.lines);
    out.push("=======");
    push(c.theirs.lines);
    out.push(`>>>>>>> ${labels.theirs}`);
    if (out.length > maxLines) {
      return [...out.slice(0, maxLines), `… (${conflicts.length} conflicting hunks in all; output cut at ${maxLines} lines)`].join("\n");
    }
  }
  return out.join("\n");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The bytes as text, or null for binary content (a NUL byte, or not UTF-8). */
export function decodeText(bytes: Uint8Array): string | null {
  if (bytes.includes(0)) return null;
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}
