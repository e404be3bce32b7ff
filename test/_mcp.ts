/** `clawlink mcp` under the official MCP SDK's client over stdio, as Claude Code or Cursor would run it, with what it announces collected. */
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { expect } from "bun:test";
import * as v from "valibot";
import { cliCommand, cliEnv, eventually, runCli, spawnRelay, tempHome } from "./_helpers";

/** Claude Code's channel event: text for the model, and string attributes. */
const ChannelParams = v.object({ content: v.string(), meta: v.record(v.string(), v.string()) });

/** Every client a test connected; closed in the file's afterAll. */
export const openClients: { close(): Promise<void> }[] = [];

/** Starts `clawlink mcp ...args` for the home and relay given and connects the SDK's client to it. */
export async function connectMcp(home: string, relay: string, args: string[] = [], env: Record<string, string> = {}) {
  const [command, ...pre] = cliCommand();
  const transport = new StdioClientTransport({ command: command!, args: [...pre, "mcp", ...args], env: cliEnv({ home, relay, env }), stderr: "pipe" });
  let stderr = "";
  transport.stderr?.on("data", (chunk) => (stderr += String(chunk)));
  const client = new Client({ name: "clawlink-test", version: "1.0.0" });
  const channel: v.InferOutput<typeof ChannelParams>[] = [];
  const logs: { level: string; data: any }[] = [];
  const errors: Error[] = [];
  client.setNotificationHandler("notifications/claude/channel", { params: ChannelParams }, (params) => void channel.push(params));
  client.setNotificationHandler("notifications/message", (n) => void logs.push(n.params));
  client.onerror = (err) => void errors.push(err);
  await client.connect(transport);
  openClients.push(client);
  /** Calls a tool and returns its result, loosely typed. */
  const call = async (name: string, args: Record<string, unknown> = {}): Promise<any> => await client.callTool({ name, arguments: args });
  return { client, call, channel, logs, errors, stderr: () => stderr };
}

/** A tool result's text blocks, joined. */
export const text = (r: any) => r.content.map((c: any) => c.text).join("\n");

/** A relay with two registered agents: boss (for the MCP server) and worker (the CLI, with the capability shouting). */
export async function team() {
  const { url } = await spawnRelay();
  const boss = { home: tempHome(), relay: url };
  const worker = { home: tempHome(), relay: url };
  expect((await runCli(["register", "--name", "boss"], boss)).code).toBe(0);
  expect((await runCli(["register", "--name", "worker", "--caps", "shouting"], worker)).code).toBe(0);
  return { url, boss, worker };
}

/** Waits until `name` shows as connected to the relay (its server follows the inbox). */
export async function connected(as: { home: string; relay: string }, name: string) {
  await eventually(async () => (await runCli(["discover", "--json"], as)).json.find((a: any) => a.name === name)?.connected);
}
