/** Bodies of shared files: read into one buffer as they arrive, served in slices of it, never copied whole. */
import { ClawlinkError } from "../errors";
import { tooLarge } from "./limits";

const fileTooLarge = (limit: number) => tooLarge("the file", limit, "--max-file-bytes");

const brokeOff = (received: number) =>
  new ClawlinkError("bad_request", `the upload broke off after ${received} bytes`, "send the file again");

/** How fast an upload must arrive: after `graceMs`, at least `rate` bytes a second on average since then. */
export interface Pace {
  readonly rate: number;
  readonly graceMs: number;
}

const tooSlow = (received: number, ms: number, pace: Pace) =>
  new ClawlinkError(
    "upload_too_slow",
    `the upload sent ${received} bytes in ${(ms / 1000).toFixed(1)}s, slower than the relay's --min-upload-rate of ${pace.rate} bytes a second (after ${pace.graceMs / 1000}s)`,
    "send the file again over a faster link, or start the relay with a lower --min-upload-rate",
  );

/** Request chunks are garbage once copied; nudging the collector this often keeps them from piling up. */
const COLLECT_EVERY = 32 * 1024 * 1024;
/** Slices a stored file is served in. */
const SLICE = 1024 * 1024;

/** What an upload holds against the shared files' budget while it is read (files.ts): raised as a body without a length streams in. */
export interface UploadHold {
  readonly bytes: number;
  /** Throws (413 or 429) when `size` bytes do not fit. */
  grow(size: number): void;
}

/** A body without a length raises its hold ahead of it, so the budget is checked a few times per MiB, not once a chunk. */
const HOLD_FIRST = 64 * 1024;
const HOLD_STEP = 1024 * 1024;
/** Raises a hold ahead of what arrived (doubling, a MiB at most at a time), or to just that when no more fits; the error when even that does not. */
function raise(hold: UploadHold, received: number, limit: number): ClawlinkError | undefined {
  const ahead = Math.min(limit, Math.max(received, HOLD_FIRST, Math.min(2 * hold.bytes, hold.bytes + HOLD_STEP)));
  try {
    hold.grow(ahead);
    return undefined;
  } catch (err) {
    if (ahead === received) return err as ClawlinkError;
  }
  try {
    hold.grow(received);
    return undefined;
  } catch (err) {
    return err as ClawlinkError;
  }
}

/** A body with a length gets its one buffer once this share of it has arrived; until then its chunks are kept as they came. */
const ARRIVED_BEFORE_BUFFER = 1 / 4;

/**
 * Reads a file body of at most `limit` bytes. Memory follows what arrived: with a Content-Length, the
 * chunks are kept until a quarter of it is in, then copied into one buffer of that length that the
 * rest is written into; a declared size alone never allocates anything. A body over the limit (or
 * over what `hold` can get) is read on and dropped, up to twice the limit, so its sender gets the
 * error rather than a broken pipe.
 */
export async function readFileBody(req: Request, limit: number, hold?: UploadHold, pace?: Pace): Promise<Uint8Array> {
  const start = performance.now();
  const header = req.headers.get("content-length");
  const declared = header === null ? undefined : Number(header);
  if (declared !== undefined && !(declared >= 0 && declared <= limit)) {
    await discardBody(req, 2 * limit);
    throw fileTooLarge(limit);
  }
  let chunks: Uint8Array[] = [];
  let out: Uint8Array | undefined;
  let refused: ClawlinkError | undefined;
  let received = 0;
  let sinceCollect = 0;
  const reader = req.body?.getReader();
  try {
    for (;;) {
      const { done, value: chunk } = (await reader?.read()) ?? { done: true, value: undefined };
      if (done) break;
      received += chunk.byteLength;
      // A body trickled in would hold its room in the budget for as long as it lasts: past the pace, stop reading.
      const ms = performance.now() - start;
      if (pace && ms > pace.graceMs && received < (pace.rate * (ms - pace.graceMs)) / 1000) {
        await reader?.cancel().catch(() => {});
        throw tooSlow(received, ms, pace);
      }
      if (!refused && received > (declared ?? limit)) refused = declared === undefined ? fileTooLarge(limit) : brokeOff(received);
      if (!refused && declared === undefined && hold && received > hold.bytes) refused = raise(hold, received, limit);
      // Refused: stop keeping, read on for a while.
      if (refused) {
        chunks = [];
        out = undefined;
        if (received > 2 * limit) break;
        continue;
      }
      if (out) out.set(chunk, received - chunk.byteLength);
      else {
        chunks.push(chunk);
        if (declared !== undefined && received >= declared * ARRIVED_BEFORE_BUFFER) {
          out = new Uint8Array(declared);
          let at = 0;
          for (const c of chunks) {
            out.set(c, at);
            at += c.byteLength;
          }
          chunks = [];
        }
      }
      sinceCollect += chunk.byteLength;
      if (sinceCollect >= COLLECT_EVERY) {
        Bun.gc(false);
        sinceCollect = 0;
      }
    }
  } catch (err) {
    if (err instanceof ClawlinkError) throw err;
    throw brokeOff(received);
  } finally {
    if (received > 2 * limit) await reader?.cancel().catch(() => {});
    reader?.releaseLock();
  }
  if (refused) throw refused;
  if (declared !== undefined && received !== declared) throw brokeOff(received);
  if (out) return out;
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
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
