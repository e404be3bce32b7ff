/**
 * The client's own settings checked by hand, as every command does before its request: a saved identity,
 * an agent's name, a relay list. Loops and `typeof`, no regular expression or array method (the first of
 * either costs a fresh process 0.3-0.5 ms), and no valibot, so that the CLI's entry can load them without
 * the schemas. `config.ts` holds the schemas these stand for, and re-exports them.
 */
import type { Identity } from "./config";
import { ClawlinkError } from "./errors";

export const DEFAULT_RELAY = "http://127.0.0.1:9077";

/**
 * A well-formed identity as the Identity schema outputs it (its fields in its order, defaults filled in),
 * or undefined, and then the schema says what is wrong. It is our own file, read before every request:
 * checked by hand, a command neither builds nor runs the schema (about 1 ms of a one-shot command).
 */
export function identityOf(raw: unknown): Identity | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const { id, name, secret, claim, relay, caps, description, ca, token } = r;
  if (typeof id !== "string" || typeof name !== "string" || !isAgentName(name) || typeof secret !== "string" || typeof relay !== "string") return undefined;
  const out = { id, name, secret } as Identity;
  if ("claim" in r) {
    if (typeof claim !== "string") return undefined;
    out.claim = claim;
  }
  out.relay = relay;
  const copy = "caps" in r ? stringsOf(caps) : [];
  if (!copy) return undefined;
  out.caps = copy;
  if ("description" in r && typeof description !== "string") return undefined;
  out.description = "description" in r ? (description as string) : "";
  if ("ca" in r) {
    if (typeof ca !== "string") return undefined;
    out.ca = ca;
  }
  if ("token" in r) {
    if (typeof token !== "string") return undefined;
    out.token = token;
  }
  return out;
}

/** A copy of an array of strings, as a schema's `v.array(v.string())` outputs it, or undefined. A loop, not an array method: this runs before the request. */
export function stringsOf(x: unknown): string[] | undefined {
  if (!Array.isArray(x)) return undefined;
  const copy: string[] = [];
  for (let i = 0; i < x.length; i++) {
    if (typeof x[i] !== "string") return undefined;
    copy[i] = x[i];
  }
  return copy;
}

/** AGENT_NAME_RE's test, as a loop: no regular expression runs before a command's request (the first costs about 0.5 ms). */
export function isAgentName(s: string): boolean {
  if (s.length < 1 || s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!alnum && (i === 0 || (c !== 46 && c !== 95 && c !== 45))) return false;
  }
  return true;
}

/** `--relay` and CLAWLINK_RELAY may list several relays of one team (on one Redis), comma-separated: each normalized, in order. */
export function normalizeRelayList(raw: string): string {
  // Loops, not array methods: this runs before every command's request (see GLOBAL_VALUE_FLAGS in commands/_args.ts).
  const urls: string[] = [];
  for (const part of raw.split(",")) if (part.trim()) urls.push(part.trim());
  if (urls.length === 0) throw new ClawlinkError("usage", `"${raw}" is not a relay URL`, RELAY_HINT);
  // "A;B" or "A B" is a list with the wrong separator, not a URL (a host name could otherwise take a ';').
  for (const u of urls) {
    const sep = separatorIn(u);
    if (sep) throw new ClawlinkError("usage", `"${raw}" is not a relay URL: relays of a list are separated by commas, not ${sep === ";" ? "semicolons" : "spaces"}`, RELAY_HINT);
  }
  const normalized = new Set<string>();
  for (const u of urls) normalized.add(normalizeRelayUrl(u));
  let list = "";
  for (const u of normalized) list += (list ? "," : "") + u;
  return list;
}

/** The first ';' or white space (what /[;\s]/ finds) in `u`; a loop, as no regular expression runs before the request. */
function separatorIn(u: string): string | undefined {
  for (let i = 0; i < u.length; i++) {
    const c = u.charCodeAt(i);
    if (c === 59 || isSpace(c)) return u[i];
  }
  return undefined;
}

/** The characters /\s/ matches (and trim() removes). */
const isSpace = (c: number) =>
  (c >= 9 && c <= 13) || c === 32 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;

/** Whether `raw` starts with a scheme and `://` (what /^[a-z]+:\/\//i tests). */
function hasScheme(raw: string): boolean {
  let i = 0;
  for (let c = raw.charCodeAt(0); (c >= 65 && c <= 90) || (c >= 97 && c <= 122); c = raw.charCodeAt(++i));
  return i > 0 && raw.startsWith("://", i);
}

const RELAY_HINT = "pass --relay http://HOST:PORT, or several relays of one team comma-separated: --relay http://A:9077,http://B:9077";

/** Whether two relay lists share a relay: an identity saved with one list belongs to a team any of its relays reaches. */
export const sameTeam = (a: string, b: string) => {
  const mine = new Set(a.split(","));
  for (const u of b.split(",")) if (mine.has(u)) return true;
  return false;
};

/** Normalizes a relay URL: adds http:// when no scheme is given, drops trailing slashes. */
export function normalizeRelayUrl(raw: string): string {
  const withScheme = hasScheme(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ClawlinkError("usage", `"${raw}" is not a relay URL`, RELAY_HINT);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ClawlinkError("usage", `"${raw}" is not an http(s) URL`, RELAY_HINT);
  }
  return url.origin;
}
