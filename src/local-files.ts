/**
 * The small local files every client command reads as it starts (config, identity), read without loading
 * node:fs: that module alone costs a one-shot command several ms. Bun.mmap reads a file synchronously;
 * node:fs is loaded only for what mmap cannot do (an empty file, a directory, Windows) and for writes.
 * Their paths are built without node:path (about 1 ms more) when concatenating gives the same path.
 */

/** node:fs, loaded on first use. */
export const nodeFs = (): typeof import("node:fs") => require("node:fs");
/** node:path, loaded on first use. */
export const nodePath = (): typeof import("node:path") => require("node:path");

const windows = process.platform === "win32";
// A mapped file cannot be replaced while mapped on Windows, and identities are rewritten in place by rename.
const canMap = !windows;
let utf8: TextDecoder | undefined;

/**
 * An absolute POSIX path in normal form: no empty, `.` or `..` segment, no trailing slash. A loop, not
 * a regular expression: the first one a process runs costs about 0.5 ms, and this runs before the request.
 */
function isNormal(p: string): boolean {
  if (windows || p.length < 2 || p.charCodeAt(0) !== 47) return false;
  for (let start = 1, i = 1; i <= p.length; i++) {
    if (i < p.length && p.charCodeAt(i) !== 47) continue;
    const len = i - start;
    if (len === 0 || (p.charCodeAt(start) === 46 && (len === 1 || (len === 2 && p.charCodeAt(start + 1) === 46)))) return false;
    start = i + 1;
  }
  return true;
}
const isName = (s: string) => s !== "" && !s.includes("/") && s !== "." && s !== "..";

/** path.join(dir, name) for a normal absolute `dir` and a file `name`; node:path does anything else. */
export const joinPath = (dir: string, name: string): string => (isNormal(dir) && isName(name) ? `${dir}/${name}` : nodePath().join(dir, name));

/** path.resolve(p), without node:path for a path that is absolute and normal already. */
export const resolvePath = (p: string): string => (isNormal(p) ? p : nodePath().resolve(p));

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** The client's home: $CLAWLINK_HOME, or ~/.clawlink. */
export const clientHome = (env: NodeJS.ProcessEnv): string =>
  env.CLAWLINK_HOME ? resolvePath(env.CLAWLINK_HOME) : joinPath((require("node:os") as typeof import("node:os")).homedir(), ".clawlink");

/** The file's text; undefined when it does not exist. Other failures throw as node:fs reports them. */
export function readTextFile(path: string): string | undefined {
  if (canMap) {
    try {
      // Kept as read, byte order mark included, as node:fs reads it.
      return (utf8 ??= new TextDecoder("utf-8", { ignoreBOM: true })).decode(Bun.mmap(path));
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
