import { defineCommand } from "./_args";
import { logToStderr } from "../logger";
import { globalArgs, reportError } from "./_shared";

// Every client flag but --json: stdout is the protocol's.
const { json: _, ...args } = globalArgs;

export default Object.assign(
  defineCommand({
    meta: {
      name: "mcp",
      description: "Serve this agent's tools over MCP on stdio for Claude Code, Codex, Cursor and other MCP clients, announcing each message that arrives for it",
    },
    args,
    async run({ args: flags }) {
      // stdout carries the protocol alone: logs, and anything printed by mistake, go to stderr.
      logToStderr();
      console.log = console.error;
      try {
        const { serveMcp } = await import("../mcp/server");
        await serveMcp(flags);
      } catch (err) {
        process.exitCode = reportError(err, false);
      }
    },
  }),
  {
    longRunning: true,
    examples: [
      "claude mcp add clawlink -e CLAWLINK_HOME=$HOME/.clawlink -e CLAWLINK_RELAY=http://10.0.0.5:9077 -- clawlink mcp --as reviewer",
      "clawlink mcp --as reviewer --relay http://10.0.0.5:9077",
    ],
  },
);
