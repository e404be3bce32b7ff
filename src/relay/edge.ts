/**
 * What a request must look like before any route sees it, so that a web page in the user's browser
 * cannot use a relay: a Host the relay answers to (DNS rebinding), no foreign Origin, JSON typed as JSON.
 */
import { hostname, networkInterfaces } from "node:os";
import { ClawlinkError } from "../errors";

/** A literal loopback name: `localhost`, `127.x.y.z` or `[::1]`, without a port. */
export function isLoopbackName(name: string): boolean {
  const host = name.toLowerCase();
  if (host === "localhost" || host === "[::1]" || host === "::1") return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return m !== null && m.slice(1).every((octet) => Number(octet) <= 255);
}

/** Splits a Host header into its name and port (undefined when it names none). */
function splitHost(header: string): { name: string; port: string | undefined } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(header.trim().toLowerCase());
  return m ? { name: m[1]!, port: m[2] || undefined } : { name: header, port: "invalid" };
}

export interface HostRule {
  /** The port the relay listens on: a Host may name it or no port at all. */
  port: number;
  /** Names besides the loopback ones, on any port (`relay --allow-host`), for a proxy that passes its own. */
  extra: ReadonlySet<string>;
  /** A relay beyond loopback without a token: its own names and addresses, which it answers to besides loopback ones. */
  own?: () => ReadonlySet<string>;
}

/**
 * A relay without a token (or bound to loopback) answers only to its own names: a page whose name an attacker
 * rebinds to the relay's address sends its own name as Host and is refused. Without a Host (HTTP/1.0) nothing is checked.
 */
export function checkHost(req: Request, rule: HostRule, relayUrl: string) {
  const header = req.headers.get("host");
  if (header === null) return;
  const { name, port } = splitHost(header);
  // A proxy's name comes with the proxy's port, whatever it is.
  if (rule.extra.has(name)) return;
  if ((isLoopbackName(name) || rule.own?.().has(name)) && (port === undefined || port === String(rule.port))) return;
  if (rule.own) {
    throw new ClawlinkError(
      "wrong_host",
      `this relay has no token, so it answers only to its own addresses and host name (${[...rule.own()].slice(0, 4).join(", ")}) and to loopback ones, not to ${JSON.stringify(header)}`,
      "connect by one of those; to reach it by another name (a DNS name, a proxy's), start the relay with --allow-host NAME, or give it a --token",
    );
  }
  throw new ClawlinkError(
    "wrong_host",
    `this relay listens on loopback and answers only to localhost, 127.0.0.1 or [::1], not to ${JSON.stringify(header)}`,
    `connect to ${relayUrl}; behind a proxy that passes its own host name, start the relay with --allow-host NAME`,
  );
}

/**
 * The names a relay bound to `host` is reached by: that address, or every interface's when it binds them all,
 * and the machine's host name. Read again at most every few seconds, as interfaces come and go.
 */
export function ownNames(host: string): () => ReadonlySet<string> {
  const REFRESH_MS = 5_000;
  let names = new Set<string>();
  let at = -Infinity;
  const bracket = (a: string) => (a.includes(":") ? `[${a.replace(/%.*$/, "")}]` : a);
  return () => {
    if (performance.now() - at < REFRESH_MS) return names;
    at = performance.now();
    const wildcard = host === "0.0.0.0" || host === "::" || host === "[::]";
    const addresses = wildcard
      ? Object.values(networkInterfaces()).flatMap((list) => (list ?? []).filter((i) => host === "0.0.0.0" ? i.family === "IPv4" : true).map((i) => i.address))
      : [host.replace(/^\[|\]$/g, "")];
    const machine = hostname().toLowerCase();
    names = new Set([...addresses.filter((a) => !isLoopbackName(a) && !isLoopbackName(bracket(a))).map((a) => bracket(a).toLowerCase()), machine, `${machine}.local`]);
    return names;
  };
}

/**
 * A browser names the page that sent a request in Origin (and, in Sec-Fetch-Site, how it relates to
 * the target): anything but the relay's own host and port is a page elsewhere, and is refused.
 */
export function checkOrigin(req: Request) {
  const origin = req.headers.get("origin");
  const site = req.headers.get("sec-fetch-site");
  const sameOrigin = origin === null || originHost(origin) === req.headers.get("host")?.toLowerCase();
  if (sameOrigin && (site === null || site === "same-origin" || site === "none")) return;
  throw new ClawlinkError(
    "cross_origin",
    origin === null
      ? `the relay does not answer requests a browser sends from another site (sec-fetch-site: ${site})`
      : `the relay does not answer requests from web pages of other origins (origin: ${origin})`,
    "talk to the relay with the clawlink CLI or an HTTP client that sends no Origin header; a web page can use it only when the relay serves that page itself",
  );
}

function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

/** JSON bodies must say so: a browser sends text/plain or a form across origins without asking first (no CORS preflight). */
export function requireJson(req: Request, what: string) {
  const type = req.headers.get("content-type");
  // The header as clients send it passes without being taken apart.
  if (type === "application/json") return;
  const media = type?.split(";")[0]!.trim().toLowerCase();
  if (media === "application/json") return;
  throw new ClawlinkError(
    "unsupported_media_type",
    `the ${what} must be sent as application/json${type === null ? "; it came without a content-type" : `, not ${type}`}`,
    "send the header `content-type: application/json` (parameters such as `; charset=utf-8` are fine)",
  );
}
