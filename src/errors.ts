/**
 * One error type for relay and client: a code, an HTTP status, a message and a next step.
 * The relay turns it into `{error: {code, message, hint}}`; the CLI into a message and an exit code.
 */
export class ClawlinkError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly hint?: string,
    /** Extra response headers (Retry-After). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "ClawlinkError";
  }

  toJSON() {
    return { error: { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) } };
  }
}

export const badRequest = (message: string, hint?: string) => new ClawlinkError("bad_request", 400, message, hint);
export const notFound = (code: string, message: string, hint?: string) => new ClawlinkError(code, 404, message, hint);
export const forbidden = (message: string, hint?: string) => new ClawlinkError("forbidden", 403, message, hint);
export const conflict = (code: string, message: string, hint?: string) => new ClawlinkError(code, 409, message, hint);

/** A value as it can be pasted into a shell command inside a hint. */
export const shellArg = (s: string) => (/^[\w./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);

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
} as const;

/** Any thrown value as a ClawlinkError; one that is not already one is a bug, and says so. */
export function asClawlinkError(err: unknown): ClawlinkError {
  if (err instanceof ClawlinkError) return err;
  return new ClawlinkError("internal", 500, err instanceof Error ? err.message : String(err), "this is a bug in clawlink; please report it with the command you ran");
}

/** Maps an error to the exit code an agent's script can branch on. */
export function exitCodeFor(err: ClawlinkError): number {
  // 421: the relay is there but does not answer to the host name in the URL.
  if (err.code === "unreachable" || err.code === "tls" || err.code === "redirect" || err.status === 421) return EXIT.unreachable;
  if (err.code === "usage" || err.code === "bad_request" || err.code === "bad_config" || err.code === "bad_identity" || err.status === 413) return EXIT.usage;
  // The relay does not know this agent (a restart): register or heartbeat, not a token problem.
  if (err.code === "not_registered") return EXIT.notFound;
  if (err.status === 401 || err.status === 403) return EXIT.auth;
  if (err.status === 404) return EXIT.notFound;
  if (err.status === 409 || err.status === 412 || err.status === 423) return EXIT.conflict;
  // relay_busy: every connection the relay may hold is taken; like a 429, it passes.
  if (err.status === 429 || err.code === "relay_busy") return EXIT.busy;
  return EXIT.error;
}
