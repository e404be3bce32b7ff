/**
 * One error type for relay and client: a code, a message and a next step; the HTTP status and the exit
 * code come from the code's row in `protocol/errors.ts`. The relay turns it into `{error: {code, message, hint}}`;
 * the CLI into a message and an exit code.
 */
import { ERRORS, EXIT, exitForStatus, isErrorCode, type ErrorCode } from "./protocol/errors";

export { EXIT, type ErrorCode } from "./protocol/errors";

export interface ErrorOptions {
  /** Extra response headers (Retry-After). */
  headers?: Record<string, string>;
  /** The status of an answer received (`http_error`, `a2a_error`), where the code alone does not tell it. */
  status?: number;
}

export class ClawlinkError extends Error {
  readonly status: number;
  readonly headers?: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    /** What the reader can do next: every error carries one. */
    readonly hint: string,
    opts: ErrorOptions = {},
  ) {
    super(message);
    this.name = "ClawlinkError";
    this.status = opts.status ?? ERRORS[code].status;
    this.headers = opts.headers;
  }

  /**
   * An error as the relay sent it, keeping its status: a newer relay may send a code this client's
   * table lacks, and then the status decides the exit code.
   */
  static received(code: string, status: number, message: string, hint: string, headers?: Record<string, string>) {
    return new ClawlinkError(code as ErrorCode, message, hint, { status, headers });
  }

  toJSON() {
    return { error: { code: this.code, message: this.message, hint: this.hint } };
  }
}

export const badRequest = (message: string, hint: string) => new ClawlinkError("bad_request", message, hint);
export const notFound = (code: ErrorCode, message: string, hint: string) => new ClawlinkError(code, message, hint);
export const forbidden = (message: string, hint: string) => new ClawlinkError("forbidden", message, hint);
export const conflict = (code: ErrorCode, message: string, hint: string) => new ClawlinkError(code, message, hint);

/** A value as it can be pasted into a shell command inside a hint. */
export const shellArg = (s: string) => (/^[\w./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);

/** Any thrown value as a ClawlinkError; one that is not already one is a bug, and says so. */
export function asClawlinkError(err: unknown): ClawlinkError {
  if (err instanceof ClawlinkError) return err;
  return new ClawlinkError("internal", err instanceof Error ? err.message : String(err), "this is a bug in clawlink; please report it with the command you ran");
}

/** The exit code an agent's script can branch on: the code's row, or for a code the table lacks, the status's. */
export function exitCodeFor(err: ClawlinkError): number {
  if (err.code !== "http_error" && isErrorCode(err.code)) return ERRORS[err.code].exit;
  return exitForStatus(err.status);
}
