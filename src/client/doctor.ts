/** `clawlink doctor`: each thing that must hold for this client to work with its relay, checked and explained. */
import * as v from "valibot";
import { ClawlinkError, EXIT, exitCodeFor } from "../errors";
import { Health } from "../protocol/schemas";
import { statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { identityPath, missingIdentity } from "../config";
import { ignoredTomlWarning, readConfig, relayMismatchHint, resolveSettings, type ConfigFile, type Flags, type Setting, type Settings } from "../settings";
import { VERSION } from "../version";
import { Client } from "./client";
import { readCa } from "./trust";

export type Status = "ok" | "warn" | "fail" | "skip";

export interface Check {
  name: "config" | "ca" | "relay" | "tls" | "version" | "clock" | "token" | "identity" | "environment" | "permissions";
  status: Status;
  message: string;
  /** What to do about a warning or a failure. */
  fix?: string;
  /** The exit code this failure stands for (the CLI's usual ones). */
  exit?: number;
}

export interface SettingView {
  name: string;
  value: string | null;
  source: Setting["source"];
  from: string;
}

export interface Report {
  ok: boolean;
  exit: number;
  version: string;
  relay: string;
  settings: SettingView[];
  checks: Check[];
}

/** A clock further off than this skews every "last seen" and "N s ago" the client works out. */
export const MAX_SKEW_S = 5;
const KNOWN = new Set(["CLAWLINK_HOME", "CLAWLINK_RELAY", "CLAWLINK_TOKEN", "CLAWLINK_CA", "CLAWLINK_AS"]);
// Set for commands that `listen --exec` runs, and read by install.sh: not client settings, not typos.
const OTHERS = new Set(["CLAWLINK_MSG_ID", "CLAWLINK_MSG_TYPE", "CLAWLINK_FROM", "CLAWLINK_DOWNLOAD_URL", "CLAWLINK_INSTALL_DIR", "CLAWLINK_VERSION"]);

const isLoopback = (relay: string) => /^https?:\/\/(127\.|localhost|\[::1\])/.test(relay);
const failure = (name: Check["name"], err: ClawlinkError): Check => ({ name, status: "fail", message: err.message, fix: err.hint, exit: exitCodeFor(err) });

export async function diagnose(flags: Flags, env: NodeJS.ProcessEnv = process.env): Promise<Report> {
  const checks: Check[] = [];
  // A broken config file or saved identity is reported, and the checks go on without it where they still mean something.
  const opts: { config?: ConfigFile | null; identity?: boolean } = {};
  let identityFailure: Check | undefined;
  let tokenFailure: Check | undefined;
  let configBroken = false;
  let settings: Settings;
  for (;;) {
    try {
      settings = resolveSettings(flags, env, opts);
      break;
    } catch (err) {
      if (!(err instanceof ClawlinkError)) throw err;
      if (err.code === "bad_config" && opts.config === undefined) {
        let config: ConfigFile | undefined;
        try {
          config = readConfig(resolveSettings({}, env, { config: null, identity: false }).home.value);
        } catch {}
        if (config?.token_file) {
          // The file parses; the token file it names does not: every check but the token's still runs.
          tokenFailure = failure("token", err);
          opts.config = { ...config, token_file: undefined };
        } else {
          checks.push(failure("config", err));
          configBroken = true;
          opts.config = null;
        }
        continue;
      }
      if ((err.code === "no_identity" || err.code === "bad_identity") && opts.identity !== false) {
        identityFailure = failure("identity", err);
        opts.identity = false;
        continue;
      }
      checks.push(failure("relay", err));
      return report(checks, undefined, env);
    }
  }
  if (!configBroken) {
    const config = settings.config;
    checks.push(
      config
        ? { name: "config", status: "ok", message: `${settings.configFile} sets ${Object.keys(config).join(", ") || "nothing"}` }
        : { name: "config", status: "skip", message: `no config file at ${settings.configFile} (optional)` },
    );
  }
  if (settings.ignoredToml) checks.push({ name: "config", status: "warn", ...ignoredTomlWarning(settings.ignoredToml) });
  checks.push(...fileModes(settings));
  if (configBroken && settings.relay.source !== "flag" && settings.relay.source !== "env") {
    // The relay may be the one the broken file names: checking the default one instead would mislead.
    for (const name of ["relay", "version", "clock", "token", "identity"] as const) checks.push({ name, status: "skip", message: "not run: the config file is invalid, so the relay to check is not known" });
    return report(checks, settings, env);
  }
  checks.push(...unknownVariables(env));

  let ca: string | undefined;
  if (settings.ca.value) {
    try {
      ca = readCa(settings.ca.value, settings.ca.from);
      checks.push({ name: "ca", status: "ok", message: `trusting the private CA ${settings.ca.value} (from ${settings.ca.from})` });
    } catch (err) {
      checks.push(failure("ca", err as ClawlinkError));
    }
  }

  // Each relay of a list is asked: one that answers hides the others from every later check.
  let relay = settings.relay.value;
  let others = "";
  const list = new Client({ relay, ca, relayFrom: settings.relay.from });
  if (list.list.length > 1) {
    const probes = await list.probe();
    const up = probes.filter((p) => p.answers);
    const down = probes.filter((p) => !p.answers);
    if (up.length) relay = up[0]!.url;
    if (up.length && down.length) {
      checks.push({
        name: "relay",
        status: "warn",
        message: `${down.length} of ${probes.length} relays in your list ${down.length === 1 ? "does" : "do"} not answer: ${down.map((p) => `${p.url} (${/\(([\w.]+)\)$/.exec(p.problem ?? "")?.[1] ?? p.problem})`).join(", ")}; ${up.map((p) => p.url).join(", ")} ${up.length === 1 ? "answers" : "answer"}`,
        fix: `start ${down.length === 1 ? "it again (`clawlink relay --redis URL --port PORT`)" : "them again (`clawlink relay --redis URL --port PORT` on each)"}, or take ${down.length === 1 ? "it" : "them"} out of the list in ${settings.relay.from}${settings.me ? ` (an identity's list changes with \`clawlink register --name ${settings.me.name} --relay ${up.map((p) => p.url).join(",")}\`, which keeps its id)` : ""}`,
      });
    } else if (!down.length) others = probes.length === 2 ? "; so does the other relay of your list" : `; so do the other ${probes.length - 1} relays of your list`;
  }
  const anonymous = new Client({ relay, ca, relayFrom: settings.relay.from });
  let health: Health | undefined;
  let skew: number | undefined;
  try {
    const started = Date.now();
    const res = await anonymous.raw("GET", "/v1/health", { auth: "token", signal: AbortSignal.timeout(10_000) });
    const ended = Date.now();
    const parsed = v.safeParse(Health, await res.json().catch(() => undefined));
    if (!parsed.success) throw new ClawlinkError("bad_response", `${relay} answered, but not as a clawlink relay does`, `check ${settings.relay.from}: it should point at \`clawlink relay\``);
    health = parsed.output;
    const date = Date.parse(res.headers.get("date") ?? "");
    // The Date header has whole seconds: the relay's clock read somewhere in [date, date + 1 s).
    if (!Number.isNaN(date)) skew = (date + 500 - (started + ended) / 2) / 1000;
    checks.push({ name: "relay", status: "ok", message: `${relay} answers (${ended - started} ms, from ${settings.relay.from}); ${health.agents} agent${health.agents === 1 ? "" : "s"} registered${others}` });
  } catch (err) {
    let e = err instanceof ClawlinkError ? err : new ClawlinkError("unreachable", `the relay is not reachable at ${relay}: ${(err as Error).message}`, `check ${settings.relay.from}`);
    // Any HTTP answer but a relay's health (a 404 from a web server) means the URL is not a ClawLink relay.
    if (e.code === "store_unavailable") e = new ClawlinkError("store_unavailable", `the relay at ${relay} is up, but its store is down: ${e.message}`, "retry when it is back: the relay reconnects by itself; its operator sees why in the relay's log");
    else if (e.status >= 400) e = new ClawlinkError("bad_response", `${relay} answered ${e.status} to GET /v1/health: it is not reachable as a ClawLink relay`, `check ${settings.relay.from}: it should point at \`clawlink relay\``);
    checks.push({ ...failure("relay", e), exit: e.code === "bad_response" ? EXIT.unreachable : exitCodeFor(e) });
    if (e.code === "tls") checks.push(failure("tls", e));
  }

  if (health) {
    checks.push(tlsCheck(relay, settings));
    checks.push(
      health.version === VERSION
        ? { name: "version", status: "ok", message: `the relay and this binary both run clawlink ${VERSION}` }
        : {
            name: "version",
            status: "warn",
            message: `the relay runs clawlink ${health.version}, this binary ${VERSION}`,
            fix: `run the same version on both: \`npm i -g clawlink@${health.version}\` here (or install.sh with CLAWLINK_VERSION=${health.version}), or upgrade the relay`,
          },
    );
    checks.push(
      skew === undefined
        ? { name: "clock", status: "skip", message: "the relay sent no Date header" }
        : Math.abs(skew) <= MAX_SKEW_S
          ? { name: "clock", status: "ok", message: `within ${Math.max(1, Math.ceil(Math.abs(skew)))} s of the relay's clock` }
          : {
              name: "clock",
              status: "warn",
              message: `this machine's clock is ${Math.round(Math.abs(skew))} s ${skew > 0 ? "behind" : "ahead of"} the relay's: "last seen" and task ages read wrong`,
              fix: "turn on time sync on both machines (Linux: `timedatectl set-ntp true`; macOS: System Settings > General > Date & Time)",
            },
    );
    checks.push(tokenFailure ?? (await tokenCheck(relay, ca, settings)));
    checks.push(identityFailure ?? (await identityCheck(new Client({ relay, ca, token: settings.token.value, secret: settings.me?.secret }), settings)));
  } else {
    for (const name of ["version", "clock"] as const) checks.push({ name, status: "skip", message: "the relay did not answer" });
    checks.push(tokenFailure ?? { name: "token", status: "skip", message: "the relay did not answer" });
    checks.push(identityFailure ?? (settings.identity && !settings.me ? await identityCheck(undefined, settings) : { name: "identity", status: "skip", message: "the relay did not answer" }));
  }
  return report(checks, settings, env);
}

function tlsCheck(relay: string, settings: Settings): Check {
  if (relay.startsWith("https:")) return { name: "tls", status: "ok", message: `the relay's certificate is trusted (system CAs${settings.ca.value ? ` and ${settings.ca.value}` : ""})` };
  if (isLoopback(relay)) return { name: "tls", status: "ok", message: "plain http on this machine's loopback: nothing crosses a network" };
  return {
    name: "tls",
    status: "warn",
    message: `plain http to ${relay}: the token, secrets and tasks cross the network unencrypted`,
    fix: "start the relay with --tls-cert and --tls-key and use an https:// URL (docs/security.md shows how to make certificates)",
  };
}

async function tokenCheck(relay: string, ca: string | undefined, settings: Settings): Promise<Check> {
  // First without any token: does this relay want one at all?
  let open = true;
  try {
    await new Client({ relay, ca }).agents();
  } catch (err) {
    if (!(err instanceof ClawlinkError)) throw err;
    if (err.status !== 401) return unexpected(err);
    open = false;
  }
  const token = settings.token;
  if (open) return { name: "token", status: "ok", message: `the relay needs no token${token.value ? ` (the one from ${token.from} is not needed)` : ""}` };
  const fix = "use the token the relay was started with: --token, CLAWLINK_TOKEN, or a file named by token_file in $CLAWLINK_HOME/config.json";
  if (!token.value) {
    return settings.me
      ? { name: "token", status: "warn", message: "the relay needs a token and none is set: your saved identity works without it, but re-registering after a relay restart needs it", fix }
      : { name: "token", status: "fail", message: "the relay needs a token and none is set", fix, exit: EXIT.auth };
  }
  try {
    await new Client({ relay, ca, token: token.value }).agents();
    return { name: "token", status: "ok", message: `the relay accepts the token from ${token.from}` };
  } catch (err) {
    if (!(err instanceof ClawlinkError)) throw err;
    if (err.status === 401) return { name: "token", status: "fail", message: `the relay does not accept the token from ${token.from}`, fix, exit: EXIT.auth };
    return unexpected(err);
  }
}

/** Neither "open" nor "needs a token": the token cannot be judged, which is an auth problem until shown otherwise. */
const unexpected = (err: ClawlinkError): Check => ({
  name: "token",
  status: "fail",
  message: `the relay answered GET /v1/agents unexpectedly (${err.status || err.code}: ${err.message}), so the token could not be checked`,
  fix: err.hint ?? "check that the relay URL points at `clawlink relay` and the relay is healthy, then run `clawlink doctor` again",
  exit: EXIT.auth,
});

/** `client` may be left out when the relay did not answer: an identity saved for another relay is wrong either way. */
async function identityCheck(client: Client | undefined, settings: Settings): Promise<Check> {
  const { identity, me, relay, home, as } = settings;
  if (!identity && as.value && as.source !== "default") return failure("identity", missingIdentity(home.value, as.value));
  if (!identity) return { name: "identity", status: "warn", message: `no agent identity in ${home.value}`, fix: "register one: `clawlink register --name NAME` (or set CLAWLINK_HOME / --as to pick a saved one)" };
  if (!me) {
    return {
      name: "identity",
      status: "fail",
      message: `the saved identity "${identity.name}" was registered with ${identity.relay}, not ${relay.value} (from ${relay.from})`,
      fix: relayMismatchHint(settings, identity),
      exit: EXIT.notFound,
    };
  }
  try {
    const agent = await client!.heartbeat(me.id);
    return { name: "identity", status: "ok", message: `${me.name} (${me.id}) is registered with this relay; ${agent.pending} messages wait for it` };
  } catch (err) {
    if (!(err instanceof ClawlinkError)) throw err;
    if (err.code !== "not_registered") return failure("identity", err);
    return {
      name: "identity",
      status: "fail",
      message: `the relay does not know ${me.name} (${me.id}): it restarted without --data, forgot the agent after a day idle, or the identity comes from another relay at this address`,
      fix: "`clawlink heartbeat` registers it again with the relay token (afresh, with a new id, if the relay cannot take this one back); or register a new name",
      exit: EXIT.notFound,
    };
  }
}

/** Secrets in files other users of this machine can read. */
function fileModes(settings: Settings): Check[] {
  const files: [string, string][] = [];
  if (settings.config?.token_file) files.push([resolve(dirname(settings.configFile), settings.config.token_file), `token_file in ${settings.configFile}`]);
  if (settings.identity) files.push([identityPath(settings.home.value, settings.identity.name), `identity ${settings.identity.name}`]);
  const out: Check[] = [];
  for (const [path, what] of files) {
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch {
      continue;
    }
    if (mode & 0o077) {
      out.push({ name: "permissions", status: "warn", message: `${path} (${what}) holds a secret and other users of this machine can read it (mode ${(mode & 0o777).toString(8)})`, fix: `chmod 600 ${path}` });
    }
  }
  return out;
}

/** CLAWLINK_* variables the client does not read: most often a typo of one it does. */
function unknownVariables(env: NodeJS.ProcessEnv): Check[] {
  return Object.keys(env)
    .filter((k) => k.startsWith("CLAWLINK_") && !KNOWN.has(k) && !OTHERS.has(k))
    .map((k) => ({ name: "environment", status: "warn", message: `${k} is set, but clawlink reads no such variable`, fix: `did you mean one of ${[...KNOWN].join(", ")}?` }));
}

function report(checks: Check[], settings: Settings | undefined, env: NodeJS.ProcessEnv): Report {
  const failed = checks.find((c) => c.status === "fail");
  return {
    ok: !failed,
    exit: failed ? (failed.exit ?? EXIT.error) : EXIT.ok,
    version: VERSION,
    relay: settings?.relay.value ?? "",
    settings: settings ? views(settings) : [],
    checks,
  };
}

function views(s: Settings): SettingView[] {
  const view = (name: string, setting: Setting, value = setting.value ?? null): SettingView => ({ name, value, source: setting.source, from: setting.from });
  return [
    view("CLAWLINK_HOME", s.home),
    view("CLAWLINK_RELAY", s.relay),
    // The token itself is never printed: where it came from is what helps.
    view("CLAWLINK_TOKEN", s.token, s.token.value ? `(set, ${s.token.value.length} characters)` : null),
    view("CLAWLINK_CA", s.ca),
    view("CLAWLINK_AS", s.as),
  ];
}
