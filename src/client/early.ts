/**
 * A request the CLI's entry sends before it loads the command (`commands/_quick.ts`). When the answer is
 * not the plain one the entry prints itself, the command runs as usual, and its Client takes this
 * request's outcome instead of sending the same request again: a refusal is counted once, and reads the same.
 */
export interface EarlyRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** When it was sent (Date.now()): how long a failed request took is part of its error. */
  started: number;
  outcome: Promise<Response>;
}

let early: EarlyRequest | undefined;

/** Sends a request as `Client.raw` sends one without a body to an http relay, and keeps it for the Client. */
export function sendEarly(method: string, url: string, headers: Record<string, string>): EarlyRequest {
  const started = Date.now();
  // The options Client.raw gives fetch, so that the request is the one the command would send.
  const outcome = fetch(url, { method, headers, body: undefined, signal: undefined, duplex: "half", tls: undefined, redirect: "manual" } as RequestInit);
  return (early = { method, url, headers, started, outcome });
}

/** The early request, once, if it is this request (same method, URL and headers); otherwise undefined. */
export function takeEarly(method: string, url: string, headers: Record<string, string>): EarlyRequest | undefined {
  const e = early;
  if (!e || e.method !== method || e.url !== url) return undefined;
  let count = 0;
  for (const name in headers) {
    if (e.headers[name] !== headers[name]) return undefined;
    count++;
  }
  for (const _ in e.headers) count--;
  if (count !== 0) return undefined;
  early = undefined;
  return e;
}
