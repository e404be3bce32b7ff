import { defineCommand } from "./_args";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
// The SKILL.md of this very version, bundled into the binary at build time.
import skill from "../../SKILL.md" with { type: "text" };
import { ClawlinkError } from "../errors";
import { print, printError } from "../output";
import { VERSION } from "../version";
import { reportError } from "./_shared";

const AGENTS = ["openclaw", "claude", "codex"] as const;
type AgentKind = (typeof AGENTS)[number];

/** Each agent's own skills folder, for the user (every project), where it looks by default. */
export function skillsFolder(agent: AgentKind, env: NodeJS.ProcessEnv = process.env): string {
  if (agent === "openclaw") return join(env.OPENCLAW_STATE_DIR || join(homedir(), ".openclaw"), "skills");
  if (agent === "claude") return join(env.CLAUDE_CONFIG_DIR || join(homedir(), ".claude"), "skills");
  return join(homedir(), ".agents", "skills");
}

const install = Object.assign(
  defineCommand({
    meta: {
      name: "skill install",
      description: "Write the SKILL.md of this clawlink version into an agent's skills folder, as clawlink/SKILL.md (OpenClaw: ~/.openclaw/skills, Claude Code: ~/.claude/skills, Codex: ~/.agents/skills)",
    },
    args: {
      for: { type: "enum", options: [...AGENTS], default: "openclaw", description: "The agent whose skills folder to use", valueHint: AGENTS.join("|") },
      dir: { type: "string", description: "Use this skills folder instead of the agent's default", valueHint: "dir" },
      json: { type: "boolean", description: "Print one JSON document on stdout and nothing else" },
    },
    run({ args }) {
      const json = Boolean(args.json);
      try {
        const folder = resolve(args.dir || skillsFolder(args.for as AgentKind));
        const path = join(folder, "clawlink", "SKILL.md");
        const before = existsSync(path) ? readFileSync(path, "utf8") : undefined;
        const action = before === skill ? "unchanged" : before === undefined ? "installed" : "updated";
        if (action !== "unchanged") write(path, skill);
        if (json) print(JSON.stringify({ path, version: VERSION, for: args.for, action }));
        else printError(action === "unchanged" ? `${path} is already the skill of clawlink ${VERSION}` : `${action} the clawlink ${VERSION} skill at ${path}`);
      } catch (err) {
        process.exitCode = reportError(err, json);
      }
    },
  }),
  {
    examples: ["clawlink skill install", "clawlink skill install --for claude", "clawlink skill install --for codex --json", "clawlink skill install --dir ./skills"],
  },
);

/** Written beside the target and renamed over it, so an agent never reads half a skill. */
function write(path: string, text: string) {
  try {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (err) {
    throw new ClawlinkError("usage", `cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, "check that the folder is writable, or pick another with --dir");
  }
}

export default Object.assign(
  defineCommand({
    meta: { name: "skill", description: "Install the ClawLink skill (SKILL.md) into an agent: `clawlink skill install [--for openclaw|claude|codex] [--dir DIR]`" },
    subCommands: { install },
  }),
  { examples: ["clawlink skill install --for claude"] },
);
