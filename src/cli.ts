#!/usr/bin/env bun
/** The one entrypoint: `clawlink relay` runs the relay; every other subcommand is a client. */
import type { ArgsDef, CommandDef } from "citty";
import { commandAt, parseFlags } from "./commands/_args";
import { quickDiscover } from "./commands/_quick";
import type { Command } from "./commands/_shared";
import { VERSION } from "./version";

// citty's command format and lazy table; its runtime (parser, usage) is loaded only for --help and completion.
export const main: CommandDef = {
  meta: {
    name: "clawlink",
    version: VERSION,
    description: "Turn AI agent sessions into a team: register, discover, delegate, respond, broadcast and share files through one relay.",
  },
  subCommands: {
    relay: () => import("./commands/relay").then((m) => m.default),
    register: () => import("./commands/register").then((m) => m.default),
    discover: () => import("./commands/discover").then((m) => m.default),
    delegate: () => import("./commands/delegate").then((m) => m.default),
    poll: () => import("./commands/poll").then((m) => m.default),
    respond: () => import("./commands/respond").then((m) => m.default),
    progress: () => import("./commands/progress").then((m) => m.default),
    broadcast: () => import("./commands/broadcast").then((m) => m.default),
    listen: () => import("./commands/listen").then((m) => m.default),
    task: () => import("./commands/task").then((m) => m.default),
    tasks: () => import("./commands/tasks").then((m) => m.default),
    cancel: () => import("./commands/cancel").then((m) => m.default),
    ack: () => import("./commands/ack").then((m) => m.default),
    "file-put": () => import("./commands/file-put").then((m) => m.default),
    "file-get": () => import("./commands/file-get").then((m) => m.default),
    "file-list": () => import("./commands/file-list").then((m) => m.default),
    "file-rm": () => import("./commands/file-rm").then((m) => m.default),
    "file-history": () => import("./commands/file-history").then((m) => m.default),
    "file-lock": () => import("./commands/file-lock").then((m) => m.default),
    "file-unlock": () => import("./commands/file-unlock").then((m) => m.default),
    "file-watch": () => import("./commands/file-watch").then((m) => m.default),
    heartbeat: () => import("./commands/heartbeat").then((m) => m.default),
    whoami: () => import("./commands/whoami").then((m) => m.default),
    unregister: () => import("./commands/unregister").then((m) => m.default),
    "a2a-bridge": () => import("./commands/a2a-bridge").then((m) => m.default),
    mcp: () => import("./commands/mcp").then((m) => m.default),
    doctor: () => import("./commands/doctor").then((m) => m.default),
    "mcp-config": () => import("./commands/mcp-config").then((m) => m.default),
    skill: () => import("./commands/skill").then((m) => m.default),
    // The completion scripts are generated from this very table, flags included.
    completion: () => import("./commands/completion").then((m) => m.completionCommand(main)),
  },
};

/** Like citty's runMain, with ClawLink's exit codes: usage errors exit 2, and commands set their own. */
async function run(argv: string[]) {
  const subs = main.subCommands as Record<string, () => Promise<Command>>;
  // `clawlink help delegate` is `clawlink delegate --help`; `clawlink help --json`, with no command named, lists them.
  if (argv[0] === "help" && commandAt(argv.slice(1)) < argv.length - 1) return run([...argv.slice(1), "--help"]);
  const at = commandAt(argv);
  const name = argv[at];
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    printHelp(
      (await usageOf(main)) +
        "\n\nStart here: `clawlink relay` on one machine, then `clawlink register --name NAME` in each agent session; `clawlink doctor` checks the setup." +
        "\nExit codes: 0 ok, 1 error, 2 bad usage, 3 relay unreachable, 4 auth, 5 not found, 6 conflict (a file moved on, a merge conflict, or another agent's lease), 7 busy (429) or the relay's store unavailable (503), 10-14 delegate --wait: failed, canceled, expired, timed out, holder lost (--on-holder-lost fail).",
    );
    return;
  }
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
    console.log(VERSION);
    return;
  }
  // The plain case of the most frequent one-shot command, answered without loading it.
  if (name === "discover" && at === 0 && (await quickDiscover(argv))) return;
  if (!name || !isOwn(subs, name)) {
    const { reportError, usage } = await import("./commands/_shared");
    const near = name === "version" || has(argv, "-V") ? "--version" : name ? Object.keys(subs).find((s) => s.startsWith(name.slice(0, 3))) : undefined;
    process.exitCode = reportError(
      usage(`unknown command ${name ? `"${name}"` : "(none given)"}`, `${near ? `did you mean \`clawlink ${near}\`? ` : ""}run \`clawlink --help\` to list the commands`),
      argv.includes("--json"),
    );
    return;
  }
  let sub = await subs[name]!();
  // Flags given before the command name belong to it too.
  let rest: string[] = [];
  for (let i = 0; i < argv.length; i++) if (i !== at) rest[rest.length] = argv[i]!;
  const help = has(rest, "--help") || has(rest, "-h");
  // A command with subcommands (`skill install`) takes the next word as one of them.
  const words = [name];
  for (let nested = sub.subCommands && (await resolveValue(sub.subCommands)); nested; nested = sub.subCommands && (await resolveValue(sub.subCommands))) {
    const wordAt = commandAt(rest);
    const word = rest[wordAt];
    if (word === undefined && help) break;
    if (word === undefined || !isOwn(nested, word)) {
      const { reportError, usage } = await import("./commands/_shared");
      const names = Object.keys(nested).join(", ");
      process.exitCode = reportError(usage(word === undefined ? `clawlink ${name} needs a subcommand: ${names}` : `unknown subcommand "${word}" of clawlink ${name}`, `run \`clawlink ${name} --help\`; subcommands: ${names}`), rest.includes("--json"));
      return;
    }
    sub = (await resolveValue(nested[word]!)) as Command;
    words.push(word);
    rest = rest.filter((_, i) => i !== wordAt);
  }
  if (help) {
    const examples = sub.examples;
    printHelp((await usageOf(sub, main)).trimEnd() + (examples?.length ? `\n\nEXAMPLES\n\n${examples.map((e) => `  ${e}`).join("\n")}` : ""));
    return;
  }
  try {
    const args = parseFlags(rest, (typeof sub.args === "function" || sub.args instanceof Promise ? await resolveValue(sub.args) : sub.args) as ArgsDef);
    // The binary starts with the JIT held back for one-shot commands (scripts/_targets.ts); a relay or a listener wants it.
    if (sub.longRunning) Bun.unsafe.setJITPolicy?.(1);
    await sub.run?.({ rawArgs: rest, args: args as never, cmd: sub, data: undefined });
  } catch (err) {
    const { reportError, usage } = await import("./commands/_shared");
    // Unknown flags, and argument errors in citty's words (a missing required flag, a bad enum value).
    const e = err instanceof Error && err.name === "CLIError" ? usage(err.message, `run \`clawlink ${words.join(" ")} --help\` to see its options`) : err;
    process.exitCode = reportError(e, rest.includes("--json"));
  }
  // A compiled binary that has served or trapped signals stays alive after its loop drains; end it here.
  if (sub.longRunning) process.exit(process.exitCode ?? 0);
}

/**
 * Object.hasOwn for a table of commands, whose names are never those of Object.prototype's members.
 * Loops and operators rather than builtins up to a command's request: each builtin a process calls first costs it page faults.
 */
const isOwn = (table: object, key: string) => key in table && !(key in Object.prototype);

const has = (list: string[], word: string) => {
  for (let i = 0; i < list.length; i++) if (list[i] === word) return true;
  return false;
};

async function usageOf(cmd: CommandDef, parent?: CommandDef) {
  const { renderUsage } = await import("citty");
  return renderUsage(cmd, parent);
}

async function resolveValue<T>(value: T | Promise<T> | (() => T | Promise<T>)): Promise<T> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

/** Help for a terminal keeps citty's colours; help read by a program gets plain text. */
function printHelp(text: string) {
  // citty prints every alias with one dash; ours are long names (`--id` for `--msg-id`).
  text = text.replace(/(^|\s|\x1b\[[0-9;]*m)-([a-z][a-z-]+)(?=,)/gm, "$1--$2");
  const plain = process.stdout.isTTY && !process.env.NO_COLOR ? text : text.replace(/\x1b\[[0-9;]*m/g, "");
  console.log(plain.replace(/[ \t]+$/gm, ""));
}

if (import.meta.main) await run(process.argv.slice(2));
