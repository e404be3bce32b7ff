/** The agent identities saved under CLAWLINK_HOME, one file per registered name (settings.ts decides which home). */
import * as v from "valibot";
import { ClawlinkError } from "./errors";
import { joinPath, nodeFs, readTextFile } from "./local-files";
import { describeIssues } from "./protocol/codec";
import { Deferred, whenRead } from "./protocol/deferred";
import { identityOf, isAgentName } from "./quick-checks";


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
