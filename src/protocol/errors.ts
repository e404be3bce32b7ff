/**
 * Every error code, with the HTTP status the relay answers it with and the exit code the CLI ends with.
 * docs/protocol.md's error tables and the README's exit codes are checked against this table (test/unit/errors.test.ts).
 */

/** Process exit codes of the CLI; documented in README.md and SKILL.md. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  unreachable: 3,
  auth: 4,
  notFound: 5,
  conflict: 6,
  busy: 7,
  taskFailed: 10,
  taskCanceled: 11,
  taskExpired: 12,
  timeout: 13,
  /** `delegate --wait --on-holder-lost fail`: the task's holder went offline (the task itself goes on). */
  holderLost: 14,
  /** Stopped with Ctrl-C (128 + SIGINT). */
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** `status` 0: the client's own error, never sent by the relay. */
type Entry = { readonly status: number; readonly exit: ExitCode };

// Written out rather than made by a helper: a function called this often at start is compiled by the JIT, which costs a one-shot command ms.
export const ERRORS = {
  // Sent by the relay.
  bad_request: { status: 400, exit: EXIT.usage },
  unauthorized: { status: 401, exit: EXIT.auth },
  // The relay does not know this agent (a restart): register or heartbeat, not a token problem.
  not_registered: { status: 401, exit: EXIT.notFound },
  forbidden: { status: 403, exit: EXIT.auth },
  admin_closed: { status: 403, exit: EXIT.auth },
  unrecognized_identity: { status: 403, exit: EXIT.auth },
  cross_origin: { status: 403, exit: EXIT.auth },
  unknown_agent: { status: 404, exit: EXIT.notFound },
  unknown_task: { status: 404, exit: EXIT.notFound },
  unknown_file: { status: 404, exit: EXIT.notFound },
  unknown_version: { status: 404, exit: EXIT.notFound },
  not_locked: { status: 404, exit: EXIT.notFound },
  no_capable_agent: { status: 404, exit: EXIT.notFound },
  not_found: { status: 404, exit: EXIT.notFound },
  message_gone: { status: 404, exit: EXIT.notFound },
  method_not_allowed: { status: 405, exit: EXIT.error },
  name_taken: { status: 409, exit: EXIT.conflict },
  task_finished: { status: 409, exit: EXIT.conflict },
  task_not_delivered: { status: 409, exit: EXIT.conflict },
  task_reassigned: { status: 409, exit: EXIT.conflict },
  name_reclaimed: { status: 409, exit: EXIT.conflict },
  merge_conflict: { status: 409, exit: EXIT.conflict },
  not_mergeable: { status: 409, exit: EXIT.conflict },
  version_conflict: { status: 412, exit: EXIT.conflict },
  too_large: { status: 413, exit: EXIT.usage },
  storage_full: { status: 413, exit: EXIT.usage },
  // An upload that arrives slower than --min-upload-rate: retrying over the same link would fail again.
  upload_too_slow: { status: 408, exit: EXIT.error },
  unsupported_media_type: { status: 415, exit: EXIT.error },
  // The relay is there but does not answer to the host name in the URL.
  wrong_host: { status: 421, exit: EXIT.unreachable },
  file_locked: { status: 423, exit: EXIT.conflict },
  queue_full: { status: 429, exit: EXIT.busy },
  relay_full: { status: 429, exit: EXIT.busy },
  sender_full: { status: 429, exit: EXIT.busy },
  recipient_full: { status: 429, exit: EXIT.busy },
  storage_busy: { status: 429, exit: EXIT.busy },
  too_many_agents: { status: 429, exit: EXIT.busy },
  too_many_auth_failures: { status: 429, exit: EXIT.busy },
  too_many_registrations: { status: 429, exit: EXIT.busy },
  too_many_connections: { status: 429, exit: EXIT.busy },
  // A WebSocket closed for flooding frames: the agent's next ones wait out a cooldown.
  too_many_frames: { status: 429, exit: EXIT.busy },
  internal: { status: 500, exit: EXIT.error },
  // Redis away, or a data file that cannot be written: nothing was kept, and a retry later may pass.
  store_unavailable: { status: 503, exit: EXIT.busy },
  // Every connection the relay may hold is taken: like a 429, it passes.
  relay_busy: { status: 503, exit: EXIT.busy },
  insufficient_storage: { status: 507, exit: EXIT.error },

  // The client's own, and the relay's at start.
  usage: { status: 0, exit: EXIT.usage },
  bad_config: { status: 0, exit: EXIT.usage },
  bad_identity: { status: 0, exit: EXIT.usage },
  no_identity: { status: 0, exit: EXIT.notFound },
  data_file: { status: 0, exit: EXIT.error },
  unreachable: { status: 0, exit: EXIT.unreachable },
  tls: { status: 0, exit: EXIT.unreachable },
  redirect: { status: 0, exit: EXIT.unreachable },
  bad_response: { status: 0, exit: EXIT.error },
  // An answer of another status than the relay's own (a proxy's, say): its status decides the exit.
  http_error: { status: 0, exit: EXIT.error },
  a2a_error: { status: 0, exit: EXIT.error },
  a2a_unauthorized: { status: 0, exit: EXIT.auth },
  sha256_mismatch: { status: 0, exit: EXIT.error },
  task_lost: { status: 0, exit: EXIT.notFound },
  timeout: { status: 0, exit: EXIT.timeout },
  holder_lost: { status: 0, exit: EXIT.holderLost },
  aborted: { status: 0, exit: EXIT.interrupted },
} as const satisfies Record<string, Entry>;

export type ErrorCode = keyof typeof ERRORS;

export const isErrorCode = (code: string): code is ErrorCode => Object.hasOwn(ERRORS, code);

/** The exit code for an HTTP status whose code this table does not know (a newer relay's, or another server's). */
export function exitForStatus(status: number): ExitCode {
  if (status === 421) return EXIT.unreachable;
  if (status === 400 || status === 413) return EXIT.usage;
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status === 409 || status === 412 || status === 423) return EXIT.conflict;
  if (status === 429) return EXIT.busy;
  return EXIT.error;
}
