/** A bare HTTP caller for tests that speak to the relay without the typed client: any method, any body, any credential. */
import * as v from "valibot";
import { ErrorBody } from "../src/protocol/schemas";

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export function api(base: string) {
  return async function call(method: string, path: string, opts: { bearer?: string; json?: unknown; body?: Bun.BodyInit; headers?: Record<string, string> } = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.bearer !== undefined) headers.authorization = `Bearer ${opts.bearer}`;
    let body = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers["content-type"] = "application/json";
    }
    const res = await fetch(base + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {}
    // Every ClawLink error carries a code, a message and a hint (A2A's paths answer in A2A's shapes).
    if (res.status >= 400 && parsed !== undefined && !/^\/(a2a|\.well-known)\//.test(path) && !(v.is(ErrorBody, parsed) && parsed.error.hint !== "")) {
      throw new Error(`${method} ${path}: an error off the wire contract (${res.status}): ${text.slice(0, 500)}`);
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };
}

/** Registers an agent over HTTP and returns its id and secret. */
export async function registerAgent(base: string, name: string, token?: string, extra: Record<string, unknown> = {}): Promise<{ id: string; secret: string }> {
  const r = await api(base)("POST", "/v1/agents", { bearer: token, json: { name, ...extra } });
  if (r.status !== 201) throw new Error(`register ${name}: ${r.status} ${r.text}`);
  return { id: r.body.id, secret: r.body.secret };
}
