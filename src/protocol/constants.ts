/** The wire's names and numbers that relay and client must agree on: header names and protocol limits. */

/** Headers of ClawLink's own: on a file's download (and its merge request). */
export const HEADER = {
  /** The version sent, as a number (the ETag carries it quoted). */
  version: "x-clawlink-version",
  /** The sha256 of the body, which the client checks. */
  sha256: "x-clawlink-sha256",
  /** The body's length in bytes: a large body comes chunked, without Content-Length. */
  size: "x-clawlink-size",
  author: "x-clawlink-author",
  createdAt: "x-clawlink-created-at",
  /** `true` on a put: merge the edit with the versions made since its If-Match. */
  merge: "x-clawlink-merge",
} as const;

/** The protocol's fixed limits (the relay's tunable ones are flags, in relay/limits.ts). */
export const LIMIT = {
  /** Seconds a long poll (`GET …/inbox?wait=`) waits at most. */
  pollWaitS: 300,
  /** Messages one poll takes at most (`max`), and when it does not say. */
  pollMax: 10_000,
  pollDefault: 100,
  /** Ids one ack names at most, in each of its lists: acking stays cheap however full an inbox is. */
  ackIds: 1000,
  /** Messages one `send` frame may carry: a batch is checked whole, and confirmed in one frame. */
  sendBatch: 1000,
  /** Tasks one page of `GET /v1/tasks` holds at most (`limit`), and when it does not say. */
  taskPageMax: 1000,
  taskPageDefault: 100,
  /** A task page stops once its tasks pass this many bytes of JSON (it always holds one). */
  taskPageBytes: 4 * 1024 * 1024,
  /** Objects or arrays a JSON value (a task's context) may nest. */
  jsonDepth: 32,
  /** A file key's characters and `/`-separated segments. */
  keyLength: 512,
  keySegments: 32,
  /** A task's lease (`lease_s`) at most, and when it does not say. */
  leaseS: 7 * 24 * 3600,
  leaseDefaultS: 600,
  /** A task's `ttl_s` at most. */
  taskTtlS: 30 * 24 * 3600,
  /** A lease on a file (`ttl_s`) at most. */
  lockTtlS: 86_400,
  /** Characters of a task's text, a response's result and a broadcast's content. */
  textLength: 1_000_000,
  /** Characters of a progress note. */
  noteLength: 10_000,
  /** Characters of a task's `idempotency_key`. */
  idempotencyKeyLength: 200,
  /** A broadcast's `topic` in characters, and its `tags`: how many, and the characters of each. */
  topicLength: 200,
  tags: 32,
  tagLength: 64,
  /** Seconds a client waits for a task at most (`delegate --timeout`, MCP `timeout_s`): a timer holds 24.8 days at most. */
  waitS: 86_400,
} as const;
