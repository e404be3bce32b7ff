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
const e = (status: number, exit: ExitCode): Entry => ({ status, exit });

export const ERRORS = {
  // Sent by the relay.
  bad_request: e(400, EXIT.usage),
  unauthorized: e(401, EXIT.auth),
  // The relay does not know this agent (a restart): register or heartbeat, not a token problem.
  not_registered: e(401, EXIT.notFound),
  forbidden: e(403, EXIT.auth),
  admin_closed: e(403, EXIT.auth),
  unrecognized_identity: e(403, EXIT.auth),
  cross_origin: e(403, EXIT.auth),
  unknown_agent: e(404, EXIT.notFound),
  unknown_task: e(404, EXIT.notFound),
  unknown_file: e(404, EXIT.notFound),
  unknown_version: e(404, EXIT.notFound),
  not_locked: e(404, EXIT.notFound),
  no_capable_agent: e(404, EXIT.notFound),
  not_found: e(404, EXIT.notFound),
  message_gone: e(404, EXIT.notFound),
  method_not_allowed: e(405, EXIT.error),
  name_taken: e(409, EXIT.conflict),
  task_finished: e(409, EXIT.conflict),
  task_not_delivered: e(409, EXIT.conflict),
  name_reclaimed: e(409, EXIT.conflict),
  merge_conflict: e(409, EXIT.conflict),
  not_mergeable: e(409, EXIT.conflict),
  version_conflict: e(412, EXIT.conflict),
  too_large: e(413, EXIT.usage),
  storage_full: e(413, EXIT.usage),
  // An upload that arrives slower than --min-upload-rate: retrying over the same link would fail again.
  upload_too_slow: e(408, EXIT.error),
  unsupported_media_type: e(415, EXIT.error),
  // The relay is there but does not answer to the host name in the URL.
  wrong_host: e(421, EXIT.unreachable),
  file_locked: e(423, EXIT.conflict),
  queue_full: e(429, EXIT.busy),
  relay_full: e(429, EXIT.busy),
  sender_full: e(429, EXIT.busy),
  recipient_full: e(429, EXIT.busy),
  storage_busy: e(429, EXIT.busy),
  too_many_agents: e(429, EXIT.busy),
  too_many_auth_failures: e(429, EXIT.busy),
  too_many_registrations: e(429, EXIT.busy),
  too_many_connections: e(429, EXIT.busy),
  internal: e(500, EXIT.error),
  store_unavailable: e(503, EXIT.error),
  // Every connection the relay may hold is taken: like a 429, it passes.
  relay_busy: e(503, EXIT.busy),
  insufficient_storage: e(507, EXIT.error),

  // The client's own, and the relay's at start.
  usage: e(0, EXIT.usage),
  bad_config: e(0, EXIT.usage),
  bad_identity: e(0, EXIT.usage),
  no_identity: e(0, EXIT.notFound),
  data_file: e(0, EXIT.error),
  unreachable: e(0, EXIT.unreachable),
  tls: e(0, EXIT.unreachable),
  redirect: e(0, EXIT.unreachable),
  bad_response: e(0, EXIT.error),
  // An answer of another status than the relay's own (a proxy's, say): its status decides the exit.
  http_error: e(0, EXIT.error),
  a2a_error: e(0, EXIT.error),
  a2a_unauthorized: e(0, EXIT.auth),
  sha256_mismatch: e(0, EXIT.error),
  task_lost: e(0, EXIT.notFound),
  timeout: e(0, EXIT.timeout),
  holder_lost: e(0, EXIT.holderLost),
  aborted: e(0, EXIT.interrupted),
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
