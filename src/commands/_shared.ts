/** What every client command shares: global flags, the client and identity they resolve to, output, and errors. */
import { print, printError } from "../output";
import type { ArgsDef, ParsedArgs } from "citty";
import * as v from "valibot";
import { Client } from "../client/client";
import { printable } from "../client/render";
import { readCa } from "../client/trust";
import { missingIdentity, type Identity } from "../config";
import { ClawlinkError, EXIT, asClawlinkError, exitCodeFor } from "../errors";
import { logger, logToStderr } from "../logger";
import { describeIssues } from "../protocol/codec";
import { ignoredTomlWarning, relayMismatchHint, resolveSettings, type Flags } from "../settings";
import { globalArgs, usage, type Command } from "./_args";

export { durationArg, globalArgs, numberArg, secondsArg, textArg, usage, type Command } from "./_args";

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
  /** A warning and what to do about it, on stderr (stdout stays the command's output). */
  warn(message: string, hint?: string): void;
  /** Whether `--flag` was typed on the command line, as opposed to taking its default. */
  given(flag: string): boolean;
}

/** Parses a CLI value with a schema, naming the flag in the error. */
export function parseArg<S extends v.GenericSchema>(schema: S, value: unknown, flag: string, hint = `fix ${flag}; the command's --help lists what each option takes`): v.InferOutput<S> {
  const r = v.safeParse(schema, value);
  if (r.success) return r.output;
  throw usage(`${flag}: ${describeIssues(r.issues)}`, hint);
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
export function resolveContext<A extends ArgsDef>(args: ParsedArgs<A & typeof globalArgs>, opts: { identity?: false; rawArgs?: string[] } = {}): Context<A> {
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
      if (settings.as.value && settings.as.source !== "default") throw missingIdentity(home, settings.as.value);
      throw new ClawlinkError("no_identity", `no agent identity in ${home}`, "register first: `clawlink register --name NAME` (or set CLAWLINK_HOME / --as to pick a saved one)");
    },
    warn(message, hint) {
      printError(`warning: ${printable(message)}${hint ? `\nhint: ${printable(hint)}` : ""}`);
    },
    given: (flag) => opts.rawArgs?.some((a) => a === flag || a.startsWith(`${flag}=`)) ?? false,
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
  examples?: string[];
  longRunning?: boolean;
  run: (ctx: Context<A>) => Promise<void | number>;
}): Command<A & typeof globalArgs> {
  const args = {} as A & typeof globalArgs;
  for (const name in def.args) (args as ArgsDef)[name] = def.args[name]!;
  for (const name in globalArgs) (args as ArgsDef)[name] = globalArgs[name as keyof typeof globalArgs];
  return {
    meta: def.meta,
    args,
    examples: def.examples,
    longRunning: def.longRunning,
    async run({ args: parsed, rawArgs }) {
      const json = Boolean(parsed.json);
      // Status lines are diagnostics: stdout carries only what the command prints (messages, --json).
      logToStderr();
      try {
        const code = await def.run(resolveContext<A>(parsed, { rawArgs }));
        if (typeof code === "number") process.exitCode = code;
      } catch (err) {
        process.exitCode = reportError(err, json);
      }
    },
  };
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

export { EXIT, logger };
