/**
 * The small local files every client command reads as it starts (config, identity), read without loading
 * node:fs: that module alone costs a one-shot command several ms. Bun.mmap reads a file synchronously;
 * node:fs is loaded only for what mmap cannot do (an empty file, a directory, Windows) and for writes.
 */

/** node:fs, loaded on first use. */
export const nodeFs = (): typeof import("node:fs") => require("node:fs");

// A mapped file cannot be replaced while mapped on Windows, and identities are rewritten in place by rename.
const canMap = process.platform !== "win32";
// Kept as read, byte order mark included, as node:fs reads it.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** The file's text; undefined when it does not exist. Other failures throw as node:fs reports them. */
export function readTextFile(path: string): string | undefined {
  if (canMap) {
    try {
      return utf8.decode(Bun.mmap(path));
    } catch (err) {
      if (errno(err) === "ENOENT") return undefined;
    }
  }
  try {
    return nodeFs().readFileSync(path, "utf8");
  } catch (err) {
    if (errno(err) === "ENOENT") return undefined;
    throw err;
  }
}

/** Whether anything (a file or a directory) is at `path`. */
export function pathExists(path: string): boolean {
  if (canMap) {
    try {
      Bun.mmap(path);
      return true;
    } catch (err) {
      if (errno(err) === "ENOENT") return false;
    }
  }
  return nodeFs().existsSync(path);
}
