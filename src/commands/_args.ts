/**
 * Reading the command line: the global flags (declared once), a command's flags parsed against its
 * citty definition, and the one parser for numbers and durations that every command and relay flag uses.
 * Kept free of citty's runtime (its parser loads node:util) and of valibot: every command starts here.
 */
import type { ArgsDef, CommandDef } from "citty";
import { parseDuration } from "../duration";
import { ClawlinkError } from "../errors";
import { nearestFlag } from "./_flag-hint";

/** A command as the CLI runs it: citty's definition, plus what `--help` shows and whether it runs until stopped. */
export type Command<A extends ArgsDef = ArgsDef> = CommandDef<A> & {
  /** Shown under EXAMPLES in --help: what an agent would type. */
  examples?: string[];
  /** Serves or follows until stopped; the CLI ends the process when it returns (signal traps keep a compiled binary alive). */
  longRunning?: boolean;
};

/** citty's `defineCommand` (a typed identity) without loading citty. */
export const defineCommand = <const A extends ArgsDef = ArgsDef>(def: CommandDef<A>): CommandDef<A> => def;

export const globalArgs = {
  relay: { type: "string", description: "Relay URL, or several relays sharing one Redis comma-separated, tried in turn (env CLAWLINK_RELAY, or relay in $CLAWLINK_HOME/config.json; default http://127.0.0.1:9077)", valueHint: "url[,url]" },
  token: { type: "string", description: "Relay token (env CLAWLINK_TOKEN, or token_file in the config)", valueHint: "token" },
  ca: { type: "string", description: "PEM file of the private CA that signed an https relay's certificate (env CLAWLINK_CA, or ca in the config)", valueHint: "pem" },
  as: { type: "string", description: "Act as this saved identity (env CLAWLINK_AS)", valueHint: "name" },
  json: { type: "boolean", description: "Print one JSON document on stdout and nothing else" },
} as const satisfies ArgsDef;

/** The global flags that take a value, as typed: a word after one of them is its value, not the command. */
export const GLOBAL_VALUE_FLAGS: ReadonlySet<string> = new Set();
// Loops rather than array methods up to a command's request: the first array method called costs a
// one-shot command about as much as building a schema, and the client calls its first while the request is out.
for (const name in globalArgs) if (globalArgs[name as keyof typeof globalArgs].type === "string") (GLOBAL_VALUE_FLAGS as Set<string>).add(`--${name}`);

export function usage(message: string, hint?: string) {
  return new ClawlinkError("usage", message, hint ?? "run the command with --help to see its options");
}

/** Where the command is: the first word that is neither a flag nor the value of a global flag (`--relay URL whoami`). */
export function commandAt(argv: string[]): number {
  let at = 0;
  while (at < argv.length && argv[at]!.startsWith("-")) at += GLOBAL_VALUE_FLAGS.has(argv[at]!) ? 2 : 1;
  return at;
}

/** `maxItems` as `--max-items`; a loop finds the capitals, since no command's flag has any. */
function kebab(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  }
  return s;
}

/** A flag's aliases: citty takes one or a list. */
const aliasesOf = (def: ArgsDef[string]): string[] => ("alias" in def && def.alias !== undefined ? (typeof def.alias === "string" ? [def.alias] : def.alias) : []);

/**
 * Parses `rawArgs` against a command's flags, citty's way (`--flag value`, `--flag=value`, `--no-flag`,
 * aliases, positionals, defaults), but refusing what citty lets pass: an unknown flag, a flag without its
 * value, an extra word. Values are strings and booleans, keyed by each flag's declared name and its aliases.
 */
export function parseFlags(rawArgs: string[], args: ArgsDef): Record<string, unknown> & { _: string[] } {
  // Loops, `in` and a table without a prototype rather than Map and array methods: this runs before every request.
  const byName: Record<string, string> = Object.create(null);
  for (const name in args) {
    byName[name] = name;
    byName[kebab(name)] = name;
    const aliases = aliasesOf(args[name]!);
    for (let i = 0; i < aliases.length; i++) byName[aliases[i]!] = name;
  }
  const out: Record<string, unknown> & { _: string[] } = { _: [] };
  const positionals: string[] = [];
  /** For each positional, the switch (a boolean flag) right before it, if any: `--wait 30` meant a value for it. */
  const after: (string | undefined)[] = [];
  let lastSwitch: string | undefined;
  for (let i = 0; i < rawArgs.length; i++) {
    const raw = rawArgs[i]!;
    if (raw === "--") {
      for (let j = i + 1; j < rawArgs.length; j++) positionals[positionals.length] = rawArgs[j]!;
      break;
    }
    if (raw === "--help" || raw === "-h") continue;
    if (!raw.startsWith("-") || raw === "-") {
      positionals[positionals.length] = raw;
      after[after.length] = lastSwitch;
      lastSwitch = undefined;
      continue;
    }
    lastSwitch = undefined;
    const bare = raw.slice(raw.startsWith("--") ? 2 : 1);
    const eq = bare.indexOf("=");
    const flag = eq < 0 ? bare : bare.slice(0, eq);
    const inline = eq < 0 ? undefined : bare.slice(eq + 1);
    const negated = !(flag in byName) && flag.startsWith("no-") ? byName[flag.slice(3)] : undefined;
    const name = byName[flag] ?? negated;
    if (name === undefined) {
      const near = nearestFlag(flag, Object.keys(byName));
      throw usage(`unknown option ${raw.split("=")[0]}`, `${near ? `did you mean --${near}? ` : ""}run the command with --help to see its options`);
    }
    const def = args[name]!;
    if (negated !== undefined || def.type === "boolean") {
      // `--wait=30` is `--wait 30` written otherwise, and `--all=no` is not a yes.
      if (inline !== undefined && inline !== "true" && inline !== "false") throw usage(`unexpected value "${inline}" for --${flag}`, switchHint(name, inline, args));
      out[name] = negated === undefined && inline !== "false";
      if (inline === undefined) lastSwitch = name;
      continue;
    }
    if (inline !== undefined) {
      out[name] = combine(name, out[name], inline);
      continue;
    }
    // A value may start with '-' (`--priority -1` is not a flag), unless it is one of this command's own
    // flags: `--task --json` is a forgotten value, not a task called "--json".
    const next = rawArgs[i + 1];
    const nextFlag = next?.startsWith("--") ? next.slice(2).split("=")[0]! : undefined;
    if (next === undefined || (nextFlag !== undefined && nextFlag in byName)) {
      throw usage(`${raw} needs a value`, `write ${raw} VALUE (or ${raw}=VALUE for a value that starts with --)`);
    }
    out[name] = combine(name, out[name], next);
    i++;
  }
  let declared = 0;
  for (const name in args) if (args[name]!.type === "positional") declared++;
  if (positionals.length > declared) {
    const extra = positionals[declared]!;
    const flag = after[declared];
    if (flag !== undefined) throw usage(`unexpected argument "${extra}"`, switchHint(flag, extra, args));
    if (extra === "help") throw usage('unexpected argument "help"', "for the command's help, pass --help");
    throw usage(`unexpected argument "${extra}"`, "values go after their flag, e.g. --to NAME; run the command with --help to see its options");
  }
  let taken = 0;
  for (const name in args) {
    const def = args[name]!;
    if (def.type === "positional") {
      const value = taken < positionals.length ? positionals[taken++] : undefined;
      if (value !== undefined) out[name] = value;
      else if (def.default !== undefined) out[name] = def.default;
      else if (def.required !== false) {
        const choices = choicesOf(def);
        const message = `Missing required positional argument: ${name.toUpperCase()}`;
        throw choices ? usage(message, `name one of ${choices}`) : cittyError(message);
      }
      continue;
    }
    if (out[name] === undefined && def.default !== undefined) out[name] = def.default;
    if (def.type === "enum" && out[name] !== undefined && def.options?.length && !def.options.includes(out[name] as string)) {
      throw cittyError(`Invalid value for argument: --${name} (${out[name]}). Expected one of: ${def.options.join(", ")}.`);
    }
    if (def.required && out[name] === undefined) {
      const choices = choicesOf(def);
      throw choices ? usage(`Missing required argument: --${name}`, `pass --${name} with one of ${choices}`) : cittyError(`Missing required argument: --${name}`);
    }
    const aliases = aliasesOf(def);
    for (let i = 0; i < aliases.length; i++) out[aliases[i]!] = out[name];
  }
  return out;
}

/** `--relay` given twice adds to the list (`--relay A --relay B` is `--relay A,B`); any other flag keeps its last value. */
const combine = (name: string, before: unknown, value: string) => (name === "relay" && typeof before === "string" && before ? `${before},${value}` : value);

/**
 * `--wait 30`: a switch takes no value. Names the flag that takes one in its stead, when the command has
 * one for that switch (its help says "With --wait: …"), preferring a number of seconds for a number.
 */
function switchHint(flag: string, value: string, args: ArgsDef): string {
  const related = Object.entries(args).filter(([, d]) => d.type === "string" && typeof d.description === "string" && d.description.startsWith(`With --${flag}`));
  const numeric = /^\d+(\.\d+)?[smhd]?$/.test(value);
  const pick = (numeric && related.find(([, d]) => "valueHint" in d && d.valueHint === "s")) || (related.length === 1 ? related[0] : undefined);
  return pick ? `--${flag} takes no value; use --${flag} --${pick[0]} ${value}` : `--${flag} takes no value: drop "${value}", or run the command with --help to see its options`;
}

/** The values a flag takes, when they are a fixed few (`claude, codex, cursor`): the hint for a missing one names them. */
function choicesOf(def: ArgsDef[string]): string | undefined {
  const options = def.type === "enum" ? def.options : "valueHint" in def && def.valueHint?.includes("|") ? def.valueHint.split("|") : undefined;
  return options?.length ? options.join(", ") : undefined;
}

/** The errors citty itself would raise, with its wording; the CLI adds the command's --help as the hint. */
function cittyError(message: string) {
  return Object.assign(new Error(message), { name: "CLIError" });
}

export interface NumberBounds {
  /** Smallest accepted value (default 1). */
  min?: number;
  max?: number;
  /** How the maximum reads in the message, e.g. "86400 (a day)". */
  maxSaid?: string;
  /** A number of seconds: the messages say so. */
  seconds?: boolean;
  /** Accept fractions (`--wait 0.5`). */
  fraction?: boolean;
}

/** A number from a flag's text, or a usage error naming the flag: `--limit: must be at least 1`. */
export function numberArg(text: string, flag: string, bounds: NumberBounds = {}): number {
  const { min = 1, max, seconds = false } = bounds;
  const fail = (what: string) => usage(`${flag}: must be ${what}`, `fix ${flag}; the command's --help lists what each option takes`);
  const n = text.trim() === "" ? NaN : Number(text);
  if (!Number.isFinite(n)) throw fail(seconds ? "a number of seconds" : "a number");
  if (!bounds.fraction && !Number.isInteger(n)) throw fail(seconds ? "whole seconds" : "a whole number");
  if (n < min) throw fail(`at least ${min}`);
  if (max !== undefined && n > max) throw fail(`at most ${bounds.maxSaid ?? max}`);
  return n;
}

/** A whole number of seconds, at least 1: `--lease`, `--ttl`, `--timeout`. */
export const secondsArg = (text: string, flag: string, max?: { value: number; said: string }) =>
  numberArg(text, flag, { seconds: true, ...(max ? { max: max.value, maxSaid: max.said } : {}) });

/** Text a flag carries, at most `max` characters: `--topic: must be at most 200 characters, not 201`. */
export function textArg(text: string, flag: string, max: number, what = ""): string {
  if (text.length > max) throw usage(`${flag}: ${what}must be at most ${max} characters, not ${text.length}`, `fix ${flag}; the command's --help lists what each option takes`);
  return text;
}

/** Milliseconds from `90s`, `30m`, `24h`, `7d` or a bare number of seconds. */
export function durationArg(text: string, flag: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || !(ms >= 1)) throw usage(`${flag}: must be a duration such as 90s, 30m, 24h or 7d, not "${text}"`, `fix ${flag}; the command's --help lists what each option takes`);
  return ms;
}
