/** What every client command shares: global flags, the client and identity they resolve to, output, and errors. */
import { print, printError } from "../output";
import { defineCommand, type ArgsDef, type CommandDef, type ParsedArgs } from "citty";
import * as v from "valibot";
import { Client } from "../client/client";
import { printable } from "../client/render";
import { readCa } from "../client/trust";
import type { Identity } from "../config";
import { ClawlinkError, EXIT, asClawlinkError, exitCodeFor } from "../errors";
import { logger, logToStderr } from "../logger";
import { describeIssues } from "../protocol/codec";
import { ignoredTomlWarning, relayMismatchHint, resolveSettings, type Flags } from "../settings";

export const globalArgs = {
  relay: { type: "string", description: "Relay URL (env CLAWLINK_RELAY, or relay in $CLAWLINK_HOME/config.json; default http://127.0.0.1:9077)", valueHint: "url" },
  token: { type: "string", description: "Relay token (env CLAWLINK_TOKEN, or token_file in the config)", valueHint: "token" },
  ca: { type: "string", description: "PEM file of the private CA that signed an https relay's certificate (env CLAWLINK_CA, or ca in the config)", valueHint: "pem" },
  as: { type: "string", description: "Act as this saved identity (env CLAWLINK_AS)", valueHint: "name" },
  json: { type: "boolean", description: "Print one JSON document on stdout and nothing else" },
} as const satisfies ArgsDef;

export interface Context<A extends ArgsDef> {
  args: ParsedArgs<A & typeof globalArgs>;
  home: string;
  client: Client;
  identity: Identity | undefined;
  /** The identity saved in the home, whichever relay it belongs to. */
  saved?: Identity;
  /** The private CA file in use (absolute), saved with a new identity. */
  ca: string | undefined;
  json: boolean;
  /** The identity, or an error telling the agent to register. */
  me(): Identity;
  /** Prints `data` as JSON with --json, otherwise `human` (text or a function that prints). */
  out(data: unknown, human?: string | (() => void)): void;
}

export function usage(message: string, hint = "run the command with --help to see its flags") {
  return new ClawlinkError("usage", message, hint);
}

/** Parses a CLI value with a schema, naming the flag in the error. */
export function parseArg<S extends v.GenericSchema>(schema: S, value: unknown, flag: string, hint = `fix ${flag}; the command's --help lists what each option takes`): v.InferOutput<S> {
  const r = v.safeParse(schema, value);
  if (r.success) return r.output;
  throw usage(`${flag}: ${describeIssues(r.issues)}`, hint);
}

/** A whole number of seconds from a flag: at least 1, and at most `max` (said as `maxSaid`) when given. */
export function secondsArg(value: unknown, flag: string, max?: { value: number; said: string }): number {
  const base = v.pipe(v.string(), v.toNumber("must be a number of seconds"), v.integer("must be whole seconds"), v.minValue(1, "must be at least 1"));
  return parseArg(max ? v.pipe(base, v.maxValue(max.value, `must be at most ${max.said}`)) : base, value, flag);
}

/** Splits `a,b , c` into ["a","b","c"]. */
export const list = (s: string | undefined) => (s ? s.split(",").map((x) => x.trim()).filter(Boolean) : []);

/** The global flags as the settings resolver takes them. */
export const flagsOf = (args: ParsedArgs<typeof globalArgs>): Flags => ({
  relay: (args.relay as string) || undefined,
  token: (args.token as string) || undefined,
  ca: (args.ca as string) || undefined,
  as: (args.as as string) || undefined,
});

/** `identity: false` resolves the relay and token as if no identity were saved (`mcp --as` a name not registered yet). */
export function resolveContext<A extends ArgsDef>(args: ParsedArgs<A & typeof globalArgs>, opts: { identity?: false } = {}): Context<A> {
  const json = Boolean(args.json);
  const settings = resolveSettings(flagsOf(args), process.env, opts);
  if (settings.ignoredToml) {
    const w = ignoredTomlWarning(settings.ignoredToml);
    printError(`warning: ${w.message}\nhint: ${w.fix}`);
  }
  const { me, identity } = settings;
  const home = settings.home.value;
  const relay = settings.relay.value;
  const ca = settings.ca.value;
  const client = new Client({ relay, token: settings.token.value, secret: me?.secret, ca: ca ? readCa(ca, settings.ca.from) : undefined, relayFrom: settings.relay.from });
  return {
    args,
    home,
    client,
    identity: me,
    saved: identity,
    ca,
    json,
    me() {
      if (me) return me;
      if (identity) {
        throw new ClawlinkError("no_identity", `the saved identity "${identity.name}" was registered with ${identity.relay}, not ${relay}`, relayMismatchHint(settings, identity));
      }
      throw new ClawlinkError("no_identity", `no agent identity in ${home}`, "register first: `clawlink register --name NAME` (or set CLAWLINK_HOME / --as to pick a saved one)");
    },
    out(data, human) {
      if (json) print(JSON.stringify(data));
      else if (typeof human === "function") human();
      else if (human !== undefined) print(printable(human));
    },
  };
}

/** Defines a client command: global flags added, unknown flags refused, errors turned into messages and exit codes. */
export function defineClientCommand<const A extends ArgsDef>(def: {
  meta: { name: string; description: string };
  args: A;
  /** Shown under EXAMPLES in --help: what an agent would type. */
  examples?: string[];
  run: (ctx: Context<A>) => Promise<void | number>;
}): CommandDef<A & typeof globalArgs> & { examples?: string[] } {
  const args = { ...def.args, ...globalArgs } as A & typeof globalArgs;
  return Object.assign(defineCommand({
    meta: def.meta,
    args,
    async run({ args: parsed }) {
      const json = Boolean(parsed.json);
      if (json) logToStderr();
      try {
        const code = await def.run(resolveContext<A>(parsed));
        if (typeof code === "number") process.exitCode = code;
      } catch (err) {
        process.exitCode = reportError(err, json);
      }
    },
  }), { examples: def.examples });
}

/** Prints an error for a person (stderr) or, with --json, as `{error}` on stdout; returns the exit code. */
export function reportError(err: unknown, json: boolean): number {
  const e = asClawlinkError(err);
  if (json) print(JSON.stringify(e.toJSON()));
  else {
    printError(`error: ${printable(e.message)}`);
    if (e.hint) printError(`hint: ${printable(e.hint)}`);
  }
  return exitCodeFor(e);
}

/** citty ignores what it does not know; an agent's typo should fail loudly instead. */
export function rejectUnknownFlags(rawArgs: string[], args: ArgsDef) {
  const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const byName = new Map<string, ArgsDef[string]>();
  for (const [name, def] of Object.entries(args)) {
    byName.set(name, def);
    byName.set(kebab(name), def);
    if ("alias" in def) for (const a of [def.alias ?? []].flat()) byName.set(a, def);
  }
  let positionals = Object.values(args).filter((d) => d.type === "positional").length;
  for (let i = 0; i < rawArgs.length; i++) {
    const raw = rawArgs[i]!;
    if (raw === "--") break;
    if (raw === "--help" || raw === "-h") continue;
    if (!raw.startsWith("-") || raw === "-") {
      if (positionals-- > 0) continue;
      throw usage(`unexpected argument "${raw}"`, "values go after their flag, e.g. --to NAME; run the command with --help to see its options");
    }
    const [flag, inline] = raw.replace(/^--?/, "").split(/=(.*)/s);
    const def = byName.get(flag!) ?? (flag!.startsWith("no-") ? byName.get(flag!.slice(3)) : undefined);
    if (!def) throw usage(`unknown option ${raw.split("=")[0]}`, "run the command with --help to see its options");
    // A string flag takes the next word as its value, even one that starts with '-', unless that word
    // is one of this command's own flags: `--task --json` is a forgotten value, not a task called "--json".
    if ((def.type === "string" || def.type === "enum") && inline === undefined) {
      const next = rawArgs[i + 1];
      const nextFlag = next?.startsWith("--") ? next.slice(2).split("=")[0]! : undefined;
      if (next === undefined || (nextFlag !== undefined && byName.has(nextFlag))) {
        throw usage(`${raw} needs a value`, `write ${raw} VALUE (or ${raw}=VALUE for a value that starts with --)`);
      }
      i++;
    }
  }
}

export { EXIT, logger };
