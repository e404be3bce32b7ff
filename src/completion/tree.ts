/** The command tree as the completion scripts see it: every command, its subcommands and its flags. */
import type { ArgsDef, CommandDef } from "citty";

export interface FlagSpec {
  /** `--name`, and any aliases in the same form. */
  names: string[];
  description: string;
  /** What follows the flag: nothing (a switch), a fixed set of words, a file, a folder, or free text. */
  value: { kind: "none" } | { kind: "choice"; words: string[] } | { kind: "file" } | { kind: "dir" } | { kind: "text" };
}

export interface CommandSpec {
  /** Words from the root: [] for clawlink itself, ["skill", "install"] for `clawlink skill install`. */
  path: string[];
  description: string;
  flags: FlagSpec[];
  /** Words a positional argument takes (`completion bash`). */
  positional: string[];
  subcommands: CommandSpec[];
}

const FILE_HINTS = new Set(["path", "pem", "file"]);

async function resolve<T>(value: T | Promise<T> | (() => T | Promise<T>)): Promise<T> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

/** A value hint written `a|b|c` lists the only words a value can be. */
function valueOf(def: ArgsDef[string]): FlagSpec["value"] {
  if (def.type === "boolean") return { kind: "none" };
  if (def.type === "enum" && def.options?.length) return { kind: "choice", words: def.options };
  if (def.valueHint?.includes("|")) return { kind: "choice", words: def.valueHint.split("|") };
  if (def.valueHint === "dir") return { kind: "dir" };
  if (def.valueHint && FILE_HINTS.has(def.valueHint)) return { kind: "file" };
  return { kind: "text" };
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export async function commandTree(cmd: CommandDef, path: string[] = []): Promise<CommandSpec> {
  const meta = await resolve(cmd.meta);
  const args = ((await resolve(cmd.args)) ?? {}) as ArgsDef;
  const flags: FlagSpec[] = [];
  let positional: string[] = [];
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") {
      if (def.valueHint?.includes("|")) positional = def.valueHint.split("|");
      continue;
    }
    const aliases = "alias" in def ? [def.alias ?? []].flat() : [];
    flags.push({ names: [name, ...aliases].map((n) => `--${kebab(n)}`), description: def.description ?? "", value: valueOf(def) });
  }
  flags.push({ names: ["--help"], description: "Show this command's options and examples", value: { kind: "none" } });
  if (path.length === 0) flags.push({ names: ["--version"], description: "Print the version", value: { kind: "none" } });
  const subcommands: CommandSpec[] = [];
  for (const [name, sub] of Object.entries((await resolve(cmd.subCommands)) ?? {})) {
    subcommands.push(await commandTree(await resolve(sub), [...path, name]));
  }
  return { path, description: meta?.description ?? "", flags, positional, subcommands };
}

/** Every command in the tree, the root first. */
export function allCommands(root: CommandSpec): CommandSpec[] {
  return [root, ...root.subcommands.flatMap(allCommands)];
}

/** The first sentence of a description (outside parentheses), short enough for a completion menu. */
export function summary(text: string, max = 80): string {
  let depth = 0;
  let end = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "(") depth++;
    else if (c === ")") depth = Math.max(0, depth - 1);
    else if (depth === 0 && (c === ";" || c === ".") && (i + 1 === text.length || text[i + 1] === " ")) {
      end = i;
      break;
    }
  }
  const first = text.slice(0, end);
  return first.length > max ? `${first.slice(0, max - 1)}…` : first;
}
