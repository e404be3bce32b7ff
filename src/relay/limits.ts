/** The relay's limits: their defaults, and the checks that enforce them at the edge. */
import { ClawlinkError } from "../errors";
import { parseJson } from "../protocol/codec";
import { requireJson } from "./edge";
import { readCapped } from "../read-capped";

export interface Limits {
  /** Largest JSON request body (a message, a registration, an ack) in bytes. */
  maxMessageBytes: number;
  /** Largest shared file in bytes. */
  maxFileBytes: number;
  /** All shared files together, in bytes. */
  maxTotalFileBytes: number;
  /** Bytes a second a file upload must arrive at, on average, after its first 10 seconds. */
  minUploadRate: number;
  /** Versions kept per shared file. */
  maxFileVersions: number;
  /** Largest WebSocket frame an agent may send, in bytes. */
  maxFrameBytes: number;
  /** Messages waiting per agent (queued or unacknowledged) before senders get 429. */
  maxQueue: number;
  /** Bytes of every message waiting or unacknowledged, relay-wide, before senders get 429. */
  maxQueuedBytes: number;
  /** Bytes of one agent's messages waiting or unacknowledged, and of its unfinished tasks, before it gets 429. */
  maxSenderBytes: number;
  /** Bytes of the messages waiting or unacknowledged for one agent before its senders get 429. */
  maxRecipientBytes: number;
  /** How long a message may wait unread before it is dropped (a task expires), in milliseconds. */
  messageTtlMs: number;
  /** How long a finished task is kept, in milliseconds. */
  taskRetentionMs: number;
  /** Finished tasks kept at most, relay-wide. */
  maxFinishedTasks: number;
  /** Bytes of finished tasks kept at most (their text, context and result), relay-wide. */
  maxFinishedBytes: number;
  /** Agents the relay holds at most. */
  maxAgents: number;
  /** Failed authentications per client address and claimed identity per minute before they get 429. */
  maxAuthFailures: number;
  /** New agents registered per client address per minute before it gets 429. */
  maxRegistrations: number;
  /** Connections one agent may hold open while it waits (WebSockets, long polls, A2A streams and blocking sends). */
  maxConnectionsPerAgent: number;
  /** Connections held open from one client address. */
  maxConnectionsPerAddress: number;
  /** Connections held open relay-wide. */
  maxConnections: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxMessageBytes: 1024 * 1024,
  maxFileBytes: 256 * 1024 * 1024,
  maxTotalFileBytes: 1024 * 1024 * 1024,
  maxFileVersions: 20,
  minUploadRate: 16 * 1024,
  maxFrameBytes: 1024 * 1024 + 16 * 1024,
  maxQueue: 10_000,
  maxQueuedBytes: 256 * 1024 * 1024,
  maxSenderBytes: 64 * 1024 * 1024,
  maxRecipientBytes: 32 * 1024 * 1024,
  messageTtlMs: 24 * 3600 * 1000,
  taskRetentionMs: 24 * 3600 * 1000,
  maxFinishedTasks: 10_000,
  maxFinishedBytes: 128 * 1024 * 1024,
  maxAgents: 10_000,
  maxAuthFailures: 30,
  maxRegistrations: 60,
  maxConnectionsPerAgent: 32,
  maxConnectionsPerAddress: 1024,
  maxConnections: 8192,
};

/** Seconds a connection may sit idle before the relay closes it; a long poll lifts it while it waits. */
export const IDLE_TIMEOUT_S = 10;

/** Fills in the defaults; a frame holds a whole message plus its envelope unless told otherwise. */
export function resolveLimits(given: Partial<Limits>): Limits {
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<Limits>;
  const maxMessageBytes = defined.maxMessageBytes ?? DEFAULT_LIMITS.maxMessageBytes;
  return { ...DEFAULT_LIMITS, maxFrameBytes: maxMessageBytes + 16 * 1024, ...defined };
}

export const tooLarge = (what: string, limit: number, flag: string) =>
  new ClawlinkError("too_large", `${what} is larger than the relay's limit of ${limit} bytes`, `send less, or start the relay with a higher ${flag}`);

/** The Content-Length a request declares, or 0 when it declares none (or nonsense). */
export function declaredLength(req: Request): number {
  const n = Number(req.headers.get("content-length") ?? 0);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/**
 * Reads a request body, stopping as soon as it passes `limit` bytes: a body without a
 * Content-Length (chunked) cannot make the relay buffer more than the limit.
 */
export function readBody(req: Request, limit: number, what: string, flag: string, declared = declaredLength(req)): Promise<Uint8Array> {
  if (declared > limit) return Promise.reject(tooLarge(what, limit, flag));
  // A body with a Content-Length within the limit cannot grow past it: read it whole, which costs
  // Bun far less per request than a stream reader.
  if (declared > 0) return req.bytes();
  return readStream(req, limit, what, flag);
}

function readStream(req: Request, limit: number, what: string, flag: string): Promise<Uint8Array> {
  if (!req.body) return Promise.resolve(new Uint8Array(0));
  return readCapped(req.body, limit, () => tooLarge(what, limit, flag));
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A JSON body of at most `limit` bytes, parsed; malformed text and invalid UTF-8 are 400s. `declared`: its declaredLength, when the caller read it already. */
export function readJsonBody(req: Request, limit: number, what: string, declared?: number): Promise<unknown> {
  requireJson(req, what);
  return readBody(req, limit, `the ${what}`, "--max-message-bytes", declared).then((bytes) => parseJsonBytes(bytes, what));
}

function parseJsonBytes(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ClawlinkError("bad_request", `${what} is not valid UTF-8`, "send a JSON object encoded as UTF-8");
  }
  return parseJson(text, what);
}
