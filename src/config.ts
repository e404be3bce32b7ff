/** The agent identities saved under CLAWLINK_HOME, one file per registered name (settings.ts decides which home). */
import * as v from "valibot";
import { ClawlinkError } from "./errors";
import { joinPath, nodeFs, readTextFile } from "./local-files";
import { describeIssues } from "./protocol/codec";
import { Deferred, whenRead } from "./protocol/deferred";

export const DEFAULT_RELAY = "http://127.0.0.1:9077";

export const Identity = new Deferred(() => v.object({
  id: v.string(),
  // Required when built (only to say what is wrong with a file): a command loads the wire schemas once its request is out.
  name: (require("./protocol/schemas") as typeof import("./protocol/schemas")).AgentName,
  secret: v.string(),
  /** The relay's proof that it gave this agent its name: after an in-memory restart, it takes the name back from whoever registered it since. */
  claim: v.optional(v.string()),
  relay: v.string(),
  caps: v.optional(v.array(v.string()), []),
  description: v.optional(v.string(), ""),
  /** The private CA file that the relay's certificate chains to, for an https:// relay. */
  ca: v.optional(v.string()),
  /** The relay token this agent joined with: re-registering after a relay restart needs it again. */
  token: v.optional(v.string()),
}), whenRead);
export type Identity = v.InferOutput<typeof Identity>;

const identitiesDir = (home: string) => joinPath(home, "identities");
const defaultFile = (home: string) => joinPath(home, "default");
export const identityPath = (home: string, name: string) => joinPath(identitiesDir(home), `${name}.json`);

/** Every readable identity in the home; `bad` lists the files that are not (named in errors, never skipped silently). */
export function listIdentities(home: string): Identity[] {
  return scanIdentities(home).found;
}

function scanIdentities(home: string): { found: Identity[]; bad: ClawlinkError[] } {
  const dir = identitiesDir(home);
  const found: Identity[] = [];
  const bad: ClawlinkError[] = [];
  const fs = nodeFs();
  if (!fs.existsSync(dir)) return { found, bad };
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith(".json")) continue;
    try {
      const id = readIdentity(joinPath(dir, f));
      if (id) found.push(id);
    } catch (err) {
      bad.push(err as ClawlinkError);
    }
  }
  return { found, bad };
}

/** The identity in `path`; undefined when there is no such file, an error naming the file when it cannot be used. */
function readIdentity(path: string): Identity | undefined {
  let text: string | undefined;
  try {
    text = readTextFile(path);
  } catch (err) {
    throw badIdentity(path, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (text === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw badIdentity(path, `is not valid JSON: ${(err as Error).message}`);
  }
  const quick = identityOf(raw);
  if (quick) return quick;
  // The schema says what is wrong (or takes what the quick check is too strict for).
  const parsed = v.safeParse(Identity, raw);
  if (!parsed.success) throw badIdentity(path, `is not a saved identity: ${describeIssues(parsed.issues)}`);
  return parsed.output;
}

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

const badIdentity = (path: string, what: string) =>
  new ClawlinkError(
    "bad_identity",
    `the saved identity ${path} ${what}`,
    "restore it from a backup, or remove it and register again: `clawlink register --name NAME` (the relay gives a new id)",
  );

/**
 * The identity to act as: the one named (by --as or CLAWLINK_AS), else the home's default, else the only
 * one saved. A name given that is not saved gives none (`missingIdentity` says so when it is needed), and a
 * file that exists but cannot be used is an error: acting as another identity instead would send work under
 * the wrong name.
 */
export function loadIdentity(home: string, as?: string): Identity | undefined {
  // Only a name is looked up: `../x` would read a file outside the identities folder.
  if (as) return isAgentName(as) ? readIdentity(identityPath(home, as)) : undefined;
  const name = readTextFile(defaultFile(home))?.trim() ?? "";
  if (isAgentName(name)) {
    const found = readIdentity(identityPath(home, name));
    if (found) return found;
  }
  const { found, bad } = scanIdentities(home);
  if (bad.length && found.length + bad.length === 1) throw bad[0]!;
  return found.length === 1 && !bad.length ? found[0] : undefined;
}

/** The error for a name given with --as or CLAWLINK_AS that no identity in the home has: register it, or pick a saved one. */
export function missingIdentity(home: string, as: string): ClawlinkError {
  const names = listIdentities(home).map((i) => i.name);
  const register = isAgentName(as) ? `register it: \`clawlink register --name ${as}\`` : "register a name (1-64 letters, digits, '.', '_' or '-'): `clawlink register --name NAME`";
  return new ClawlinkError("no_identity", `no saved identity named "${as}" in ${home}`, `${register}${names.length ? `; or act as a saved one with --as (saved: ${names.join(", ")})` : ""}`);
}

/** Saves an identity (mode 0600, written atomically) and, unless told otherwise, makes it this home's default. */
export function saveIdentity(home: string, identity: Identity, opts: { makeDefault?: boolean } = {}) {
  const { chmodSync, mkdirSync, renameSync, writeFileSync } = nodeFs();
  mkdirSync(identitiesDir(home), { recursive: true, mode: 0o700 });
  const path = identityPath(home, identity.name);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(identity, null, 2) + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  if (opts.makeDefault !== false) writeFileSync(defaultFile(home), identity.name + "\n", { mode: 0o600 });
}

export function forgetIdentity(home: string, name: string) {
  const { rmSync } = nodeFs();
  rmSync(identityPath(home, name), { force: true });
  if (readTextFile(defaultFile(home))?.trim() === name) rmSync(defaultFile(home), { force: true });
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
