import { defineCommand } from "./_args";
import { ClawlinkError } from "../errors";
import { print, printError } from "../output";
import { resolveSettings } from "../settings";
import { flagsOf, globalArgs, reportError } from "./_shared";

const CLIENTS = ["claude", "codex", "cursor"] as const;
type McpClient = (typeof CLIENTS)[number];

interface Server {
  command: string;
  args: string[];
  env: Record<string, string>;
}

interface Snippet {
  /** A command to run, or a file to add the text to. */
  kind: "command" | "file";
  path?: string;
  what: string;
  text: string;
}

const json = (value: unknown) => JSON.stringify(value, null, 2);
/** A word as a POSIX shell reads it back: bare when it can be (URLs and KEY=VALUE included), else single-quoted. */
const shellWord = (s: string) => (/^[\w./:=@,+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
const tomlString = (s: string) => JSON.stringify(s);

/** The same server in each client's own words, exactly as its documentation writes it. */
export function snippets(client: McpClient, server: Server): Snippet[] {
  const env = Object.entries(server.env);
  const argv = [server.command, ...server.args].map(shellWord).join(" ");
  // Claude Code's -e takes several values: the server name goes first so it is not read as one.
  const envFlags = (flag: string) => env.map(([k, v]) => ` ${flag} ${shellWord(`${k}=${v}`)}`).join("");
  const entry = { command: server.command, args: server.args, ...(env.length ? { env: server.env } : {}) };
  if (client === "claude") {
    return [
      { kind: "command", what: "Claude Code, for every project (user scope)", text: `claude mcp add clawlink --scope user${envFlags("-e")} -- ${argv}` },
      { kind: "file", path: ".mcp.json", what: "or for one project, shared through its repository", text: json({ mcpServers: { clawlink: { type: "stdio", ...entry } } }) },
    ];
  }
  if (client === "codex") {
    const toml = [
      "[mcp_servers.clawlink]",
      `command = ${tomlString(server.command)}`,
      `args = [${server.args.map(tomlString).join(", ")}]`,
      ...(env.length ? [`env = { ${env.map(([k, v]) => `${k} = ${tomlString(v)}`).join(", ")} }`] : []),
      // Codex's own default would cut off a delegate that waits for its task.
      "tool_timeout_sec = 600   # delegate with wait blocks until the task ends",
    ].join("\n");
    return [{ kind: "file", path: "~/.codex/config.toml", what: "Codex: add to its config file", text: toml }];
  }
  return [{ kind: "file", path: ".cursor/mcp.json", what: "Cursor, in the project (or ~/.cursor/mcp.json for every project)", text: json({ mcpServers: { clawlink: entry } }) }];
}

export default Object.assign(
  defineCommand({
    meta: {
      name: "mcp-config",
      description: "Print the snippet that adds `clawlink mcp` (ClawLink's MCP server) to Claude Code, Codex or Cursor, with --as NAME and the relay settings given as flags or CLAWLINK_* variables",
    },
    args: {
      for: { type: "enum", options: [...CLIENTS], required: true, description: "The MCP client to configure", valueHint: CLIENTS.join("|") },
      ...globalArgs,
    },
    run({ args }) {
      const asJson = Boolean(args.json);
      try {
        // Only what was given here goes into the snippet: the config file and saved identity are read by `clawlink mcp` itself.
        const settings = resolveSettings(flagsOf(args), process.env, { config: null, identity: false });
        const given = (s: { source: string }) => s.source === "flag" || s.source === "env";
        const env: Record<string, string> = {};
        if (given(settings.home)) env.CLAWLINK_HOME = settings.home.value;
        if (given(settings.relay)) env.CLAWLINK_RELAY = settings.relay.value;
        if (given(settings.token)) env.CLAWLINK_TOKEN = settings.token.value!;
        if (given(settings.ca)) env.CLAWLINK_CA = settings.ca.value!;
        const server: Server = { command: "clawlink", args: ["mcp", ...(settings.as.value ? ["--as", settings.as.value] : [])], env };
        const client = args.for as McpClient;
        if (!CLIENTS.includes(client)) throw new ClawlinkError("usage", `--for must be one of ${CLIENTS.join(", ")}`, `e.g. --for ${CLIENTS[0]}`);
        const out = snippets(client, server);
        if (asJson) print(JSON.stringify({ for: client, name: "clawlink", ...server, snippets: out }));
        else print(out.map((s) => `# ${s.what}${s.path ? `: ${s.path}` : ""}\n${s.text}\n`).join("\n"));
        if (env.CLAWLINK_TOKEN) printError("note: the snippet holds the relay token; to keep it out of agent configs, put it in a file named by token_file in $CLAWLINK_HOME/config.json");
      } catch (err) {
        process.exitCode = reportError(err, asJson);
      }
    },
  }),
  {
    examples: ["clawlink mcp-config --for claude", "clawlink mcp-config --for codex --as reviewer", "CLAWLINK_RELAY=http://10.0.0.5:9077 clawlink mcp-config --for cursor --json"],
  },
);
