/** The MCP Inspector's CLI, a client nobody here wrote, against `clawlink mcp`: what CI runs to check interoperability. */
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { CliProcess, cleanup, cliCommand, cliEnv, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

/** `npx @modelcontextprotocol/inspector --cli` from the project's own devDependencies: offline, no update check, a throwaway HOME for its catalog. */
async function inspector(env: Record<string, string>, ...args: string[]) {
  const serverEnv = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  const proc = Bun.spawn(["npx", "@modelcontextprotocol/inspector", "--cli", ...serverEnv, ...cliCommand(), "mcp", ...args], {
    cwd: join(import.meta.dir, "..", ".."),
    env: cliEnv({ env: { HOME: tempHome(), npm_config_offline: "true", npm_config_update_notifier: "false" } }),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(), 60_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

test("the MCP Inspector lists the tools (schemas portable) and delegates with wait to a listen --exec worker", async () => {
  const { url } = await spawnRelay();
  const boss = { home: tempHome(), relay: url };
  const worker = { home: tempHome(), relay: url };
  await runCli(["register", "--name", "boss"], boss);
  await runCli(["register", "--name", "worker"], worker);
  const listener = new CliProcess(["listen", "--exec", "echo \"checked $CLAWLINK_MSG_ID\"", "--respond"], worker);
  await listener.waitFor(/listening as worker/);
  const env = { CLAWLINK_HOME: boss.home, CLAWLINK_RELAY: url };

  const list = await inspector(env, "--method", "tools/list", "--strict");
  expect(list.code).toBe(0);
  expect(JSON.parse(list.stdout).tools.map((t: any) => t.name)).toContain("delegate");
  // --strict reports schema portability problems on stderr ("Warning: tool ...", "N errors, M warnings across K tools"); there are none.
  expect(list.stderr).not.toMatch(/Warning:|Error:|across \d+ tool/);

  const call = await inspector(env, "--format", "json", "--method", "tools/call", "--tool-name", "delegate",
    "--tool-arg", "to=worker", "--tool-arg", "task=check the build", "--tool-arg", "wait=true", "--tool-arg", "timeout_s=30");
  expect(call.code).toBe(0);
  const { result } = JSON.parse(call.stdout);
  expect(result.isError).toBeFalsy();
  const id = result.structuredContent.task.id;
  expect(result.structuredContent).toMatchObject({ task: { state: "completed", task: "check the build" }, response: { result: `checked ${id}` } });
}, 90_000);
