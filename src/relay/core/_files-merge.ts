/**
 * Merging an edit made on an older version of a shared file with the changes written since: a three-way
 * text merge (`merge.ts`), refused with what to do for a version no longer kept, a binary or an overlong
 * file, or, for overlapping changes, the conflicting hunks and who wrote them.
 */
import { ClawlinkError, shellArg } from "../../errors";
import type { FileVersionRecord, Store } from "../store/port";
import { blameConflicts, decodeText, merge3, renderConflicts, type Conflict, type Revision } from "./merge";

/** Texts larger than this are not merged: a line diff of them would take too long. */
export const MAX_MERGE_BYTES = 16 * 1024 * 1024;

/** Merges an edit made on version `base` with the latest version, or explains why it cannot (`maxVersions`: how many versions the relay keeps). */
export async function mergeEdit(store: Store, key: string, base: number, latest: FileVersionRecord, incoming: Uint8Array, maxVersions: number): Promise<Uint8Array> {
  const reread = `nothing was written; fetch version ${latest.version} (\`clawlink file-get --key ${shellArg(key)}\`), redo your edit on it and put again with --if-version ${latest.version}`;
  if (base > latest.version) {
    throw new ClawlinkError("version_conflict", `"${key}" has no version ${base}; its latest is version ${latest.version}`, reread, { headers: { etag: `"${latest.version}"` } });
  }
  const baseBytes = base === 0 ? new Uint8Array() : (await store.getFileVersion(key, base))?.bytes;
  if (!baseBytes) {
    throw new ClawlinkError("not_mergeable", `version ${base} of "${key}" is no longer kept (the relay keeps the last ${maxVersions}), so it cannot be the base of a merge`, reread);
  }
  if (Math.max(baseBytes.byteLength, latest.bytes.byteLength, incoming.byteLength) > MAX_MERGE_BYTES) {
    throw new ClawlinkError("not_mergeable", `"${key}" is too large to merge (over ${MAX_MERGE_BYTES} bytes)`, reread);
  }
  const o = decodeText(baseBytes);
  const a = decodeText(latest.bytes);
  const b = decodeText(incoming);
  if (o === null || a === null || b === null) {
    throw new ClawlinkError("not_mergeable", `"${key}" is binary, and binary files are never merged`, reread);
  }
  const result = merge3(o, a, b);
  if (!result.clean) {
    const n = result.conflicts.length;
    const authors = await blame(store, key, o, base, latest, result.conflicts);
    const everyone = [...new Set(authors.flat())];
    const labels = { ours: authors.map((by) => `version ${latest.version} (${by.join(", ")})`), base: `version ${base}`, theirs: "yours" };
    throw new ClawlinkError(
      "merge_conflict",
      `your edit of "${key}" (made on version ${base}) overlaps changes in version ${latest.version} by ${everyone.join(", ")}: ${n} conflicting hunk${n === 1 ? "" : "s"}; nothing was written\n${renderConflicts(result.conflicts, labels)}`,
      `fetch version ${latest.version} (\`clawlink file-get --key ${shellArg(key)}\`), settle the lines above on it, and put again with --if-version ${latest.version}`,
    );
  }
  return new TextEncoder().encode(result.text);
}

/** Who wrote each conflict's lines since `base`, as `name` (the latest version) or `name in version N`: the versions in between are read only on this failing path. */
async function blame(store: Store, key: string, baseText: string, base: number, latest: FileVersionRecord, conflicts: Conflict[]): Promise<string[][]> {
  const edits: Revision[] = [];
  for (let version = base + 1; version <= latest.version; version++) {
    const rec = version === latest.version ? latest : await store.getFileVersion(key, version);
    const text = rec && decodeText(rec.bytes);
    // A version no longer kept, or binary: its lines count as the next one's.
    // The latest version is named already ("changes in version N by bob"): only earlier ones add theirs.
    if (rec && text !== null && text !== undefined) edits.push({ text, label: version === latest.version ? rec.author : `${rec.author} in version ${version}` });
  }
  return blameConflicts(baseText, edits, conflicts);
}
