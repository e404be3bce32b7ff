/** A line diff of two versions of a shared file, in hunks with context, from the same line matcher the merge uses. */
import { MAX_DIFF_BYTES, type DiffHunk, type FileDiff } from "../../protocol/admin";
import { decodeText, matchLines, splitLines } from "../core/merge";

type Line = DiffHunk["lines"][number];

/** Hunks of changed lines, each with up to `context` unchanged lines around it. */
export function diffLines(a: string, b: string, context = 3): DiffHunk[] {
  const A = splitLines(a);
  const B = splitLines(b);
  const match = matchLines(A, B);
  const ops: (Line & { ai: number; bi: number })[] = [];
  let j = 0;
  const text = (line: string) => line.replace(/\r?\n$/, "");
  for (let i = 0; i < A.length; i++) {
    const m = match[i]!;
    if (m < 0) {
      ops.push({ op: "-", text: text(A[i]!), ai: i, bi: j });
      continue;
    }
    while (j < m) ops.push({ op: "+", text: text(B[j]!), ai: i, bi: j++ });
    ops.push({ op: " ", text: text(A[i]!), ai: i, bi: j++ });
  }
  while (j < B.length) ops.push({ op: "+", text: text(B[j]!), ai: A.length, bi: j++ });

  const hunks: DiffHunk[] = [];
  const changed = ops.flatMap((o, i) => (o.op === " " ? [] : [i]));
  for (let c = 0; c < changed.length; ) {
    const start = Math.max(0, changed[c]! - context);
    let last = changed[c]!;
    // Changes closer together than twice the context share one hunk.
    while (++c < changed.length && changed[c]! - last <= 2 * context) last = changed[c]!;
    const slice = ops.slice(start, Math.min(ops.length, last + context + 1));
    hunks.push({ from_start: slice[0]!.ai + 1, to_start: slice[0]!.bi + 1, lines: slice.map(({ op, text }) => ({ op, text })) });
  }
  return hunks;
}

/** The diff of two versions' bytes: binary and oversized versions are reported as such, without hunks. */
export function fileDiff(key: string, from: number, to: number, a: Uint8Array, b: Uint8Array): FileDiff {
  const base = { key, from, to, binary: false, too_large: false, hunks: [] };
  if (a.byteLength > MAX_DIFF_BYTES || b.byteLength > MAX_DIFF_BYTES) return { ...base, too_large: true };
  const ta = decodeText(a);
  const tb = decodeText(b);
  if (ta === null || tb === null) return { ...base, binary: true };
  return { ...base, hunks: diffLines(ta, tb) };
}
