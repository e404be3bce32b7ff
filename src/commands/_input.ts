/** Reading text and bytes that commands take from flags, files or stdin. */
import { existsSync } from "node:fs";
import { ClawlinkError } from "../errors";
import { usage } from "./_shared";

/** `--x TEXT` or `--x-file PATH|-`; exactly one. */
export async function readResultArg(text: string | undefined, file: string | undefined): Promise<string | undefined> {
  if (text !== undefined && file !== undefined) throw usage("pass either the text or the file, not both");
  if (file === undefined) return text;
  if (file === "-") return await Bun.stdin.text();
  if (!existsSync(file)) throw missingFile(file);
  return await Bun.file(file).text();
}

export const missingFile = (path: string) =>
  new ClawlinkError("usage", `no such file: ${path}`, "check the path (relative paths are from the current directory)");
