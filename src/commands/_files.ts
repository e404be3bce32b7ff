/** Flags and parsing that the file-* commands share. */
import { lstatSync, readlinkSync, statSync, type Stats } from "node:fs";
import { basename, join } from "node:path";
import { FileKey } from "../protocol/schemas";
import { missingFile } from "./_input";
import { numberArg, parseArg, usage } from "./_shared";

export const keyArg = {
  type: "string",
  description: "The file's key: a relative path such as reports/q3.md (no '..', no leading '/', no backslashes)",
  required: true,
  valueHint: "key",
} as const;

export const parseKey = (value: unknown, flag = "--key") => parseArg(FileKey, value, flag);

/** A version number from a flag: whole, and at least `min`. */
export const parseVersion = (value: string, flag: string, min: number) => numberArg(value, flag, { min });

/** What a path that is not a regular file is, in words. */
function kind(st: Stats): string {
  if (st.isDirectory()) return "a folder";
  if (st.isFIFO()) return "a named pipe";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a regular file";
}

/** `file-put --file`: any path the user names (symlinks followed), as long as it is a regular file. */
export function checkUpload(path: string) {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    throw missingFile(path);
  }
  if (st.isDirectory()) throw usage(`--file ${path} is a folder`, `name a file in it, e.g. --file ${join(path, "FILE")}`);
  if (!st.isFile()) throw usage(`--file ${path} is ${kind(st)}, not a regular file`, `to upload what it produces, pipe it in: clawlink file-put --key KEY < ${path}`);
}

/**
 * `file-get --output`: a new file is created 0600 (a shared file may be private to the team). An existing
 * file, or a symbolic link, is replaced only with --force: the link itself, never what it points to. The
 * mode to write with: 0600, or the replaced file's own.
 */
export function checkOutput(path: string, key: string, force: boolean): number {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    return 0o600;
  }
  if (st.isSymbolicLink()) {
    if (!force) {
      throw usage(`--output ${path} is a symbolic link (to ${readlinkSync(path)}); file-get does not write through links`, "choose another path, or pass --force to replace the link itself with the file (what it points to is left alone)");
    }
    return 0o600;
  }
  if (st.isDirectory()) throw usage(`--output ${path} is a folder`, `name the file to write, e.g. --output ${join(path, basename(key))}`);
  if (!st.isFile()) throw usage(`--output ${path} is ${kind(st)}, not a regular file; file-get writes only files`, "leave out --output to write to stdout, and redirect that");
  if (!force) throw usage(`--output ${path} already exists; file-get does not overwrite a file unless told to`, "pass --force to replace it (it keeps its mode), or choose another path");
  return st.mode & 0o777;
}
