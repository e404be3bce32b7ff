/** Shared files: keys and prefixes, versions and history, leases, and what a write or a delete answers. */
import * as v from "valibot";
import { LIMIT } from "../constants";
import { Deferred, built, whenRead } from "../deferred";
import { Seconds } from "./_fields";
import { Id, Timestamp } from "./primitives";

/**
 * Characters that print as nothing, as a blank, or reorder the text around them: two keys that differ only by
 * them would look alike. Unicode's default-ignorable set holds variation selectors and Hangul fillers too.
 */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Zl}\p{Zp}\u2800\ufffc]/u;
/** Spaces other than U+0020 (no-break, ideographic, thin ...): they look like the plain one. */
const ODD_SPACE = /[^\P{Zs} ]/u;
/** The first character of `k` that `re` matches, as U+XXXX. */
const codePoint = (k: string, re: RegExp) => `U+${(re.exec(k)?.[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;

/** A shared file's key: a relative path such as `reports/q3.md`. Keys are compared in Unicode NFC, so `é` typed either way names one file. */
export const FileKey = new Deferred(() => v.pipe(
  v.string(),
  v.transform((k) => k.normalize("NFC")),
  v.minLength(1, "a file key must not be empty"),
  v.maxLength(LIMIT.keyLength, `a file key is at most ${LIMIT.keyLength} characters`),
  v.check((k) => !/\p{Cc}/u.test(k), "a file key must not contain control characters"),
  v.check(
    (k) => !INVISIBLE.test(k),
    (i) => `a file key must not contain invisible or direction-changing characters (zero-width spaces and joiners, soft hyphens, variation selectors, bidi overrides, blank symbols); it has ${codePoint(String(i.input), INVISIBLE)}`,
  ),
  v.check((k) => !ODD_SPACE.test(k), (i) => `a file key must not contain spaces other than the plain one (U+0020), which look alike; it has ${codePoint(String(i.input), ODD_SPACE)}`),
  v.check((k) => k.split("/").every((s) => s.trim() === s), "a file key's folder and file names must not start or end with a space"),
  v.check((k) => !k.includes("\\"), "a file key uses / between folders, never a backslash"),
  v.check((k) => !k.startsWith("/"), "a file key is a relative path; drop the leading /"),
  v.check((k) => k.startsWith("/") || k.split("/").every((s) => s !== "" && s !== "." && s !== ".."), "a file key must not have empty, '.' or '..' segments"),
  v.check((k) => k.split("/").length <= LIMIT.keySegments, `a file key has at most ${LIMIT.keySegments} segments`),
), whenRead);

/** The start of file keys (`file-list --prefix`, `file-watch --key`), compared as keys are: in NFC. */
export const KeyPrefix = new Deferred(() => v.pipe(v.string(), v.maxLength(LIMIT.keyLength, `a prefix is at most ${LIMIT.keyLength} characters`), v.transform((k) => k.normalize("NFC"))), whenRead);

/** One stored version of a shared file. Versions count up from 1 per key and never repeat. */
export const FileVersion = new Deferred(() => v.object({
  key: v.string(),
  version: v.number(),
  size: v.number(),
  sha256: v.string(),
  author: v.string(),
  created_at: Timestamp,
}), whenRead);
export type FileVersion = v.InferOutput<typeof FileVersion>;
export const FileHistory = new Deferred(() => v.object({ key: v.string(), versions: v.array(built(FileVersion)) }), whenRead);
export type FileHistory = v.InferOutput<typeof FileHistory>;

/** The answer to a put: the version written, or the latest one when it already held this content. */
export const FileWritten = new Deferred(() => v.object({
  ...FileVersion.entries,
  /** False when the content equalled the latest version, so no version was made. */
  created: v.boolean(),
  /** True when the relay merged the write with versions made since the one it started from. */
  merged: v.boolean(),
}), whenRead);
export type FileWritten = v.InferOutput<typeof FileWritten>;

/** A lease: while it lasts, only `holder` may write or delete the key. */
export const FileLock = new Deferred(() => v.object({
  key: v.string(),
  holder: v.string(),
  holder_id: Id,
  since: Timestamp,
  until: Timestamp,
}), whenRead);
export type FileLock = v.InferOutput<typeof FileLock>;
export const LockRequest = new Deferred(() => v.object({ ttl_s: Seconds("ttl_s", LIMIT.lockTtlS) }), whenRead);

/** The latest version of a file, and the lease on it if there is one. */
export const FileInfo = new Deferred(() => v.object({
  key: v.string(),
  version: v.number(),
  size: v.number(),
  sha256: v.string(),
  updated_by: v.string(),
  updated_at: Timestamp,
  lock: v.nullable(built(FileLock)),
}), whenRead);
export type FileInfo = v.InferOutput<typeof FileInfo>;
export const FileList = new Deferred(() => v.object({ files: v.array(built(FileInfo)) }), whenRead);
export const FileDeleted = new Deferred(() => v.object({ key: v.string(), version: v.number(), deleted: v.literal(true) }), whenRead);
export type FileDeleted = v.InferOutput<typeof FileDeleted>;
