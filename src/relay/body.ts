/** Bodies of shared files: read into exactly one buffer, served in slices of it, never copied whole. */
import { ClawlinkError } from "../errors";
import { tooLarge } from "./limits";

const fileTooLarge = (limit: number) => tooLarge("the file", limit, "--max-file-bytes");

const brokeOff = (received: number) =>
  new ClawlinkError("bad_request", 400, `the upload broke off after ${received} bytes`, "send the file again");

/** Request chunks are garbage once copied; nudging the collector this often keeps them from piling up. */
const COLLECT_EVERY = 32 * 1024 * 1024;
/** Slices a stored file is served in. */
const SLICE = 1024 * 1024;

/**
 * Reads a file body of at most `limit` bytes. With a Content-Length the buffer is sized up front and
 * the chunks are copied into it as they arrive. A body over the limit is read on and dropped, up to
 * twice the limit, so its sender gets the 413 rather than a broken pipe.
 */
export async function readFileBody(req: Request, limit: number): Promise<Uint8Array> {
  const header = req.headers.get("content-length");
  const declared = header === null ? undefined : Number(header);
  if (declared !== undefined && !(declared >= 0 && declared <= limit)) {
    await discardBody(req, 2 * limit);
    throw fileTooLarge(limit);
  }
  let chunks: Uint8Array[] = [];
  const out = declared === undefined ? undefined : new Uint8Array(declared);
  let received = 0;
  let sinceCollect = 0;
  const reader = req.body?.getReader();
  try {
    for (;;) {
      const { done, value: chunk } = (await reader?.read()) ?? { done: true, value: undefined };
      if (done) break;
      received += chunk.byteLength;
      // Past the limit (only a body without a length gets here): stop keeping, read on for a while.
      if (received > (declared ?? limit)) {
        chunks = [];
        if (received > 2 * limit) break;
        continue;
      }
      if (out) out.set(chunk, received - chunk.byteLength);
      else chunks.push(chunk);
      sinceCollect += chunk.byteLength;
      if (sinceCollect >= COLLECT_EVERY) {
        Bun.gc(false);
        sinceCollect = 0;
      }
    }
  } catch {
    throw brokeOff(received);
  } finally {
    if (received > 2 * limit) await reader?.cancel().catch(() => {});
    reader?.releaseLock();
  }
  if (received > (declared ?? limit)) throw declared === undefined ? fileTooLarge(limit) : brokeOff(received);
  if (!out) return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
  if (received !== declared) throw brokeOff(received);
  return out;
}

/**
 * After a big upload, collect what it left behind (the version that fell off the end, or the upload
 * itself when it changed nothing) once the handler is done, so memory holds the kept versions and no more.
 */
export function collectSoon(size: number) {
  if (size >= COLLECT_EVERY) setTimeout(() => Bun.gc(true), 0);
}

/** Reads and drops a body the relay will not use, up to `max` bytes in all; past that, stops reading. */
export async function discardBody(req: Request, max: number): Promise<void> {
  const reader = req.body?.getReader();
  if (!reader) return;
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      n += value.byteLength;
      if (n > max) {
        await reader.cancel();
        return;
      }
    }
  } catch {}
}

/** A response that streams `bytes` in slices: however many readers, the stored copy is the only one. */
export function bytesResponse(bytes: Uint8Array, headers: Record<string, string>): Response {
  if (bytes.byteLength <= SLICE) return new Response(bytes, { headers });
  let offset = 0;
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        controller.enqueue(bytes.subarray(offset, offset + SLICE));
        offset += SLICE;
        if (offset >= bytes.byteLength) controller.close();
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, { headers: { ...headers, "content-length": String(bytes.byteLength) } });
}
