/** Reading text and bytes that commands take from flags, files or stdin. */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { ClawlinkError } from "../errors";
import { usage } from "./_shared";

/** `--x TEXT` or `--x-file PATH|-` (`flag` is `--x`); at most one. A path that is not a file to read is a usage error, as a missing one is. */
export async function readTextArg(text: string | undefined, file: string | undefined, flag: string): Promise<string | undefined> {
  if (text !== undefined && file !== undefined) throw usage(`pass ${flag} or ${flag}-file, not both`);
  if (file === undefined) return text;
  if (file === "-") return await Bun.stdin.text();
  if (!existsSync(file)) throw missingFile(file);
  if (statSync(file).isDirectory()) throw usage(`${flag}-file ${file} is a folder`, `name a file in it, e.g. ${flag}-file ${join(file, "FILE")}`);
  try {
    return await Bun.file(file).text();
  } catch (err) {
    throw usage(`${flag}-file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, "check the file's permissions, or pass the text on stdin with -");
  }
}

export const missingFile = (path: string) =>
  new ClawlinkError("usage", `no such file: ${path}`, "check the path (relative paths are from the current directory)");
