/**
 * Requests to the admin API. The token lives in sessionStorage (this tab only) and travels in the
 * Authorization header, never in a URL; nothing here logs it.
 */
import type { AdminSession } from "../protocol/admin";

const KEY = "clawlink.admin-token";

export const token = {
  get: (): string | undefined => sessionStorage.getItem(KEY) ?? undefined,
  set: (value: string) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

/** An answer of the relay that is not a success: its error code, message and hint. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export async function request<T>(method: string, path: string, opts: { body?: unknown; token?: string } = {}): Promise<T> {
  const headers: Record<string, string> = {};
  const value = opts.token ?? token.get();
  if (value) headers.authorization = `Bearer ${value}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), cache: "no-store" });
  } catch {
    throw new ApiError(0, "unreachable", "The relay cannot be reached.", "Is it still running? The page reconnects by itself.");
  }
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(res.status, "bad_answer", `The relay answered ${res.status} without JSON.`);
  }
  if (!res.ok) throw new ApiError(res.status, body?.error?.code ?? "error", body?.error?.message ?? `HTTP ${res.status}`, body?.error?.hint);
  return body as T;
}

export const session = (value?: string) => request<AdminSession>("GET", "/v1/admin/session", { token: value });

/** A path segment per part of a file key, as the relay expects. */
export const keyPath = (key: string) => key.split("/").map(encodeURIComponent).join("/");
