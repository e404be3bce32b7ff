/** Receiving shared files: streamed to disk or memory, and checked against the sha256 the relay sent. */
import { closeSync, fchmodSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { ClawlinkError } from "../errors";
import { HEADER } from "../protocol/constants";

/** What the relay says about the version it sends, from the response headers. */
export interface Received {
  version: number;
  size: number;
  sha256: string;
  author: string;
  created_at: string;
}

export function describeResponse(res: Response): Received {
  const sha256 = res.headers.get(HEADER.sha256);
  if (!sha256) throw new ClawlinkError("bad_response", "the relay sent a file without its sha256", "check that the relay runs the same clawlink version as this client (`clawlink --version`)");
  return {
    version: Number(res.headers.get(HEADER.version) ?? 0),
    size: Number(res.headers.get(HEADER.size) ?? res.headers.get("content-length") ?? 0),
    sha256,
    author: res.headers.get(HEADER.author) ?? "",
    created_at: res.headers.get(HEADER.createdAt) ?? "",
  };
}

function mismatch(what: string, expected: string, actual: string, where: string) {
  return new ClawlinkError(
    "sha256_mismatch",
    `the bytes received for ${what} do not match its sha256: the relay said ${expected}, the bytes hash to ${actual}`,
    `${where}; fetch it again, and if it keeps failing check the network path to the relay`,
  );
}

/** Streams the body to `path` through a temporary file, renamed into place only once the sha256 matches. */
export async function saveVerified(res: Response, path: string, what: string, onBytes?: (done: number) => void, mode?: number): Promise<Received> {
  const meta = describeResponse(res);
  const tmp = `${path}.clawlink-${process.pid}.part`;
  const hasher = new Bun.CryptoHasher("sha256");
  let fd: number;
  try {
    // "wx": the temporary file is new, never one planted there (or a link) by someone else.
    fd = openSync(tmp, "wx", mode ?? 0o666);
    // The umask may narrow the mode; a file that exists keeps exactly the mode it had.
    if (mode !== undefined) fchmodSync(fd, mode);
  } catch (err) {
    await res.body?.cancel();
    throw new ClawlinkError("usage", `cannot write ${path}: ${(err as Error).message}`, "check that the folder exists and is writable");
  }
  let size = 0;
  try {
    for await (const chunk of res.body ?? []) {
      hasher.update(chunk);
      writeSync(fd, chunk);
      size += chunk.byteLength;
      onBytes?.(size);
    }
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw new ClawlinkError("unreachable", `the download of ${what} broke off after ${size} bytes: ${(err as Error).message}`, "fetch it again");
  }
  closeSync(fd);
  const actual = hasher.digest("hex");
  if (actual !== meta.sha256) {
    rmSync(tmp, { force: true });
    throw mismatch(what, meta.sha256, actual, `nothing was written to ${path}`);
  }
  renameSync(tmp, path);
  return { ...meta, size };
}

/** Reads the whole body and checks it before anyone sees a byte of it. */
export async function readVerified(res: Response, what: string, onBytes?: (done: number) => void): Promise<{ meta: Received; bytes: Uint8Array }> {
  const meta = describeResponse(res);
  const bytes = onBytes ? await readCounting(res, meta.size, onBytes) : await res.bytes();
  const actual = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
  if (actual !== meta.sha256) throw mismatch(what, meta.sha256, actual, "nothing was printed");
  return { meta: { ...meta, size: bytes.byteLength }, bytes };
}

/** The body in one buffer, reporting each chunk as it arrives. */
async function readCounting(res: Response, declared: number, onBytes: (done: number) => void): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body ?? []) {
      chunks.push(chunk);
      size += chunk.byteLength;
      onBytes(size);
    }
  } catch (err) {
    throw new ClawlinkError("unreachable", `the download broke off after ${size} of ${declared} bytes: ${(err as Error).message}`, "fetch it again");
  }
  return Buffer.concat(chunks, size);
}
