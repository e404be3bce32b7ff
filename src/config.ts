/** The agent identities saved under CLAWLINK_HOME, one file per registered name (settings.ts decides which home). */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { ClawlinkError } from "./errors";
import { AgentName } from "./protocol/schemas";

export const DEFAULT_RELAY = "http://127.0.0.1:9077";

export const Identity = v.object({
  id: v.string(),
  name: AgentName,
  secret: v.string(),
  relay: v.string(),
  caps: v.optional(v.array(v.string()), []),
  description: v.optional(v.string(), ""),
  /** The private CA file that the relay's certificate chains to, for an https:// relay. */
  ca: v.optional(v.string()),
  /** The relay token this agent joined with: re-registering after a relay restart needs it again. */
  token: v.optional(v.string()),
});
export type Identity = v.InferOutput<typeof Identity>;

const identitiesDir = (home: string) => join(home, "identities");
const defaultFile = (home: string) => join(home, "default");
const identityFile = (home: string, name: string) => join(identitiesDir(home), `${name}.json`);

export function listIdentities(home: string): Identity[] {
  const dir = identitiesDir(home);
  if (!existsSync(dir)) return [];
  const out: Identity[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith(".json")) continue;
    const id = readIdentity(join(dir, f));
    if (id) out.push(id);
  }
  return out;
}

function readIdentity(path: string): Identity | undefined {
  try {
    const parsed = v.safeParse(Identity, JSON.parse(readFileSync(path, "utf8")));
    return parsed.success ? parsed.output : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The identity to act as: the one named (by --as or CLAWLINK_AS), else the last one registered in this
 * home. `strict`: a name given with --as must exist.
 */
export function loadIdentity(home: string, as?: string, strict = false): Identity | undefined {
  const name = as || (existsSync(defaultFile(home)) ? readFileSync(defaultFile(home), "utf8").trim() : "");
  if (name) {
    const found = readIdentity(identityFile(home, name));
    if (!found && as && strict) {
      const names = listIdentities(home).map((i) => i.name);
      throw new ClawlinkError(
        "no_identity",
        404,
        `no saved identity named "${as}" in ${home}`,
        names.length ? `saved identities: ${names.join(", ")}` : "register first: `clawlink register --name NAME`",
      );
    }
    if (found) return found;
  }
  const all = listIdentities(home);
  return all.length === 1 ? all[0] : undefined;
}

/** Saves an identity (mode 0600, written atomically) and, unless told otherwise, makes it this home's default. */
export function saveIdentity(home: string, identity: Identity, opts: { makeDefault?: boolean } = {}) {
  mkdirSync(identitiesDir(home), { recursive: true, mode: 0o700 });
  const path = identityFile(home, identity.name);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(identity, null, 2) + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  if (opts.makeDefault !== false) writeFileSync(defaultFile(home), identity.name + "\n", { mode: 0o600 });
}

export function forgetIdentity(home: string, name: string) {
  rmSync(identityFile(home, name), { force: true });
  if (existsSync(defaultFile(home)) && readFileSync(defaultFile(home), "utf8").trim() === name) rmSync(defaultFile(home), { force: true });
}

/** Normalizes a relay URL: adds http:// when no scheme is given, drops trailing slashes. */
export function normalizeRelayUrl(raw: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ClawlinkError("usage", 400, `"${raw}" is not a relay URL`, "pass --relay http://HOST:PORT");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ClawlinkError("usage", 400, `"${raw}" is not an http(s) URL`, "pass --relay http://HOST:PORT");
  }
  return url.origin;
}
