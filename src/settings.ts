/**
 * Where each client setting comes from, in one place: a flag, then CLAWLINK_* in the environment, then
 * $CLAWLINK_HOME/config.json, then what the saved identity remembers, then the default.
 */
import * as v from "valibot";
import { loadIdentity, type Identity } from "./config";
import { DEFAULT_RELAY, normalizeRelayList, normalizeRelayUrl, sameTeam } from "./quick-checks";
import { ClawlinkError } from "./errors";
import { clientHome, joinPath, nodePath, pathExists, readTextFile, resolvePath } from "./local-files";
import { Deferred, whenRead } from "./protocol/deferred";
import { describeIssues } from "./protocol/codec";
import { readTokenFile } from "./token-file";

/** `$CLAWLINK_HOME/config.json`: what an agent would otherwise pass in the environment on every call. */
export const ConfigFile = new Deferred(() => v.strictObject({
  relay: v.optional(v.pipe(v.string("must be a URL"), v.nonEmpty("must not be empty"))),
  token_file: v.optional(v.pipe(v.string("must be a path"), v.nonEmpty("must not be empty"))),
  ca: v.optional(v.pipe(v.string("must be a path"), v.nonEmpty("must not be empty"))),
}), whenRead);
export type ConfigFile = v.InferOutput<typeof ConfigFile>;

export type Source = "flag" | "env" | "config" | "identity" | "default";

export interface Setting {
  value: string | undefined;
  source: Source;
  /** The flag, variable, file or identity it came from, as a person would look for it. */
  from: string;
}

export interface Flags {
  relay?: string;
  token?: string;
  ca?: string;
  as?: string;
}

export interface Settings {
  home: Setting & { value: string };
  configFile: string;
  config: ConfigFile | undefined;
  /** A config.toml beside a missing config.json: never read, so worth a warning. */
  ignoredToml: string | undefined;
  as: Setting;
  relay: Setting & { value: string };
  token: Setting;
  /** An absolute path, or undefined. */
  ca: Setting;
  /** The identity loaded from the home, whichever relay it belongs to. */
  identity: Identity | undefined;
  /** The identity, when it belongs to the relay in use. */
  me: Identity | undefined;
}

const HOW = 'it holds one JSON object: {"relay": "https://HOST:9077", "token_file": "PATH", "ca": "PATH"}, each optional';

export const configPath = (home: string) => joinPath(home, "config.json");

/** Reads and checks the home's config file; no file is no config. A file that does not parse is an error naming it. */
export function readConfig(home: string): ConfigFile | undefined {
  const path = configPath(home);
  let raw: unknown;
  try {
    const text = readTextFile(path);
    if (text === undefined) return undefined;
    raw = JSON.parse(text);
  } catch (err) {
    throw new ClawlinkError("bad_config", `the config file ${path} is not valid JSON: ${(err as Error).message}`, `fix or remove it; ${HOW}`);
  }
  const bad = (what: string) => new ClawlinkError("bad_config", `the config file ${path} is not valid: ${what}`, `fix or remove it; ${HOW}`);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw bad(`it holds ${Array.isArray(raw) ? "an array" : raw === null ? "null" : `a ${typeof raw}`}, not one JSON object`);
  // Loops, not array methods, and the schema only to say what is wrong: this runs before every command's request.
  let unknown = "";
  let count = 0;
  for (const key in raw) {
    let known = false;
    for (let i = 0; i < CONFIG_FIELDS.length; i++) known ||= CONFIG_FIELDS[i] === key;
    if (!known) unknown += (count++ ? ", " : "") + key;
  }
  if (count) throw bad(`unknown field${count > 1 ? "s" : ""} ${unknown}; allowed: ${CONFIG_FIELDS.join(", ")}`);
  let config = configOf(raw as Record<string, unknown>);
  if (!config) {
    const parsed = v.safeParse(ConfigFile, raw);
    if (!parsed.success) throw bad(describeIssues(parsed.issues));
    config = parsed.output;
  }
  if (config.relay !== undefined) {
    try {
      normalizeRelayList(config.relay);
    } catch {
      throw bad(`relay: "${config.relay}" is not an http(s) URL`);
    }
  }
  return config;
}

/** The fields of config.json, in the schema's order. */
export const CONFIG_FIELDS = ["relay", "token_file", "ca"] as const;

/** The config as the ConfigFile schema outputs it, when every field given is a non-empty string; otherwise undefined. */
export function configOf(raw: Record<string, unknown>): ConfigFile | undefined {
  const out: ConfigFile = {};
  for (let i = 0; i < CONFIG_FIELDS.length; i++) {
    const key = CONFIG_FIELDS[i]!;
    if (!(key in raw)) continue;
    const value = raw[key];
    if (typeof value !== "string" || value === "") return undefined;
    out[key] = value;
  }
  return out;
}

const pick = (...candidates: [string | undefined, Source, string][]): Setting => {
  for (const [value, source, from] of candidates) if (value) return { value, source, from };
  return { value: undefined, source: "default", from: "default" };
};

/** Resolves every client setting once; each knows its source, so `doctor` can say where it came from. */
export function resolveSettings(flags: Flags, env: NodeJS.ProcessEnv = process.env, opts: { config?: ConfigFile | null; identity?: boolean } = {}): Settings {
  const home: Setting & { value: string } = env.CLAWLINK_HOME
    ? { value: clientHome(env), source: "env", from: "CLAWLINK_HOME" }
    : { value: clientHome(env), source: "default", from: "default" };
  const configFile = configPath(home.value);
  // `config: null` skips the file (doctor reports a broken one and carries on without it); `identity: false` the saved identity.
  const config = opts.config === null ? undefined : (opts.config ?? readConfig(home.value));
  const relative = (p: string) => nodePath().resolve(nodePath().dirname(configFile), p);

  const as = pick([flags.as, "flag", "--as"], [env.CLAWLINK_AS, "env", "CLAWLINK_AS"]);
  const identity = opts.identity === false ? undefined : loadIdentity(home.value, as.value);
  if (!as.value && identity) Object.assign(as, { value: identity.name, source: "default", from: `the home's default identity` });

  const relaySetting = pick(
    [flags.relay, "flag", "--relay"],
    [env.CLAWLINK_RELAY, "env", "CLAWLINK_RELAY"],
    [config?.relay, "config", `relay in ${configFile}`],
    [identity?.relay, "identity", `identity ${identity?.name}`],
  );
  const relay = { ...relaySetting, value: normalizeRelayList(relaySetting.value ?? DEFAULT_RELAY) };
  // A saved identity belongs to one relay, or to relays sharing one store; pointed elsewhere, act without it.
  const me = identity && sameTeam(identity.relay, relay.value) ? identity : undefined;

  const token = pick(
    [flags.token, "flag", "--token"],
    [env.CLAWLINK_TOKEN, "env", "CLAWLINK_TOKEN"],
    [config?.token_file ? readTokenFile(relative(config.token_file), `token_file in ${configFile}`, "bad_config").token : undefined, "config", `token_file in ${configFile}`],
    [me?.token, "identity", `identity ${me?.name}`],
  );
  const caSetting = pick(
    [flags.ca, "flag", "--ca"],
    [env.CLAWLINK_CA, "env", "CLAWLINK_CA"],
    [config?.ca ? relative(config.ca) : undefined, "config", `ca in ${configFile}`],
    [me?.ca, "identity", `identity ${me?.name}`],
  );
  const ca = { ...caSetting, value: caSetting.value ? resolvePath(caSetting.value) : undefined };
  const toml = joinPath(home.value, "config.toml");
  // Read above unless skipped: no config means no config.json.
  const ignoredToml = (opts.config === undefined ? config === undefined : !pathExists(configFile)) && pathExists(toml) ? toml : undefined;
  return { home, configFile, config, ignoredToml, as, relay, token, ca, identity, me };
}

export const ignoredTomlWarning = (toml: string) => ({
  message: `${toml} is not read: clawlink reads only config.json`,
  fix: `write the same settings as JSON to ${nodePath().join(nodePath().dirname(toml), "config.json")}, e.g. {"relay": "https://HOST:9077", "token_file": "PATH", "ca": "PATH"}`,
});

/** What to do when the saved identity belongs to another relay than the one in use, naming where that one came from. */
export function relayMismatchHint(settings: Settings, identity: Identity): string {
  const { relay } = settings;
  const own = relay.source === "config"
    ? `the relay comes from ${relay.from}: pass --relay ${identity.relay} to use the identity's own, or change the config file`
    : `drop ${relay.from} so the identity's own relay (${identity.relay}) is used`;
  // A relay of the same team takes the identity by re-registering it with the saved secret: the id stays.
  return `${own}; if ${relay.value} belongs to the same team (one Redis), add it to ${identity.name}'s relays: \`clawlink register --name ${identity.name} --relay ${identity.relay},${relay.value}\` (keeps its id); or register a new name with ${relay.value}`;
}
