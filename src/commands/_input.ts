/** Reading text and bytes that commands take from flags, files or stdin. */
import { existsSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { ClawlinkError } from "../errors";
import { LIMIT } from "../protocol/constants";
import { readCapped } from "../read-capped";
import { usage } from "./_shared";

/** The most bytes a file can hold and still decode to LIMIT.textLength characters: each character (a UTF-16 unit) comes from at most 3 bytes of UTF-8, and a BOM is dropped. */
export const MAX_TEXT_FILE_BYTES = 3 * LIMIT.textLength + 3;

/**
 * `--x TEXT` or `--x-file PATH|-` (`flag` is `--x`); at most one. A path that is not a file to read is a usage error, as a missing one is.
 * A file or stdin that no relay could take (past LIMIT.textLength characters, whatever its --max-message-bytes) is refused before it is read whole.
 */
export async function readTextArg(text: string | undefined, file: string | undefined, flag: string): Promise<string | undefined> {
  if (text !== undefined && file !== undefined) throw usage(`pass ${flag} or ${flag}-file, not both`);
  if (file === undefined) return text;
  let read: Uint8Array;
  if (file === "-") read = await readCapped(Bun.stdin.stream(), MAX_TEXT_FILE_BYTES, () => tooLong(flag, "- (stdin)", `over ${MAX_TEXT_FILE_BYTES} bytes`));
  else {
    if (!existsSync(file)) throw missingFile(file);
    const stat = statSync(file);
    if (stat.isDirectory()) throw usage(`${flag}-file ${file} is a folder`, `name a file in it, e.g. ${flag}-file ${join(file, "FILE")}`);
    if (stat.size > MAX_TEXT_FILE_BYTES) throw tooLong(flag, file, `${stat.size} bytes`);
    try {
      // A pipe or device has no size to look at first: it is read up to the cap.
      read = await readFileCapped(file, () => tooLong(flag, file, `over ${MAX_TEXT_FILE_BYTES} bytes`));
    } catch (err) {
      if (err instanceof ClawlinkError) throw err;
      throw usage(`${flag}-file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, "check the file's permissions, or pass the text on stdin with -");
    }
  }
  const decoded = new TextDecoder().decode(read);
  if (decoded.length > LIMIT.textLength) throw tooLong(flag, file === "-" ? "- (stdin)" : file, `${decoded.length} characters`);
  return decoded;
}


/**
 * Reads a file up to MAX_TEXT_FILE_BYTES, as `readCapped` reads stdin, by plain reads: a character device (`/dev/zero`, or a terminal as `/dev/stdin`)
 * cannot be polled, so `Bun.file(...).stream()` refuses it (EPERM).
 */
async function readFileCapped(path: string, tooLarge: () => ClawlinkError): Promise<Uint8Array> {
  const fh = await open(path, "r");
  const reads = new ReadableStream<Uint8Array>({
    async pull(into) {
      const { bytesRead, buffer } = await fh.read(new Uint8Array(64 * 1024), 0, 64 * 1024, null);
      if (bytesRead === 0) into.close();
      else into.enqueue(buffer.subarray(0, bytesRead));
    },
  });
  try {
    return await readCapped(reads, MAX_TEXT_FILE_BYTES, tooLarge);
  } finally {
    await fh.close();
  }
}

/** What `--task-file` (or `--result-file`) names is more than any relay takes. */
function tooLong(flag: string, source: string, size: string) {
  const what = flag.replace(/^--/, "");
  return new ClawlinkError(
    "too_large",
    `${flag}-file ${source} is too large: ${size}, and a ${what} holds at most ${LIMIT.textLength} characters (${MAX_TEXT_FILE_BYTES} bytes), on any relay`,
    `send a shorter ${what}: share the long part as a file (clawlink file-put --key KEY --file FILE) and name its key in the ${what}`,
  );
}

export const missingFile = (path: string) =>
  new ClawlinkError("usage", `no such file: ${path}`, "check the path (relative paths are from the current directory)");
