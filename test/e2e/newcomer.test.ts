/** What a newcomer working from SKILL.md alone read back, and had to guess at, in a trial run. */
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, cleanup, runCli, tempHome } from "../_helpers";
import { connectMcp, openClients, team, text } from "../_mcp";

afterAll(async () => {
  await Promise.all(openClients.map((c) => c.close()));
  await cleanup();
});

describe("a newcomer", () => {
  test("respond with a mistyped task id is told to check the id, not only how to reply to a broadcast (exit 5)", async () => {
    const { worker } = await team();
    const r = await runCli(["respond", "--msg-id", "t_mistyped", "--result", "done", "--json"], worker);
    expect(r.code).toBe(5);
    expect(r.json.error).toEqual({
      code: "unknown_task",
      message: "no task has the id t_mistyped",
      hint: "answer a task id from your own `clawlink poll` or `listen` (`clawlink tasks --held` lists the tasks you hold); to reply to a broadcast or another message, also pass --to AGENT",
    });
  });

  test("over MCP, delegate and its result name the worker as the model called it, and whoami's lines line up", async () => {
    const { boss, worker } = await team();
    const listener = new CliProcess(["listen", "--exec", "echo done", "--respond", "--type", "task"], worker);
    await listener.waitFor(/listening as worker/);
    const { call } = await connectMcp(boss.home, boss.relay);
    const sent = await call("delegate", { to: "worker", task: "check" });
    const id = sent.structuredContent.id;
    expect(text(sent)).toBe(`sent task ${id} to worker (${sent.structuredContent.to}); its response will arrive in your inbox, or wait for it with wait_task (id ${id})`);
    const done = await call("wait_task", { id, timeout_s: 30 });
    expect(text(done)).toBe(`task ${id} completed; the result from worker (${sent.structuredContent.to}):\ndone`);
    await listener.stop();
    const lines: string[] = text(await call("whoami")).split("\n");
    const column = (line: string) => line.match(/^\w+ +/)![0].length;
    expect(lines.find((l) => l.startsWith("held"))).toMatch(/^held +0 \(announced/);
    expect(new Set(lines.map(column))).toEqual(new Set([12]));
  });

  test("CLAWLINK_AS naming an identity not saved yet never acts as another one; whoami answers (exit 0) and register takes the name", async () => {
    const { boss, worker } = await team();
    const env = { CLAWLINK_AS: "reviewer" };
    const who = await runCli(["whoami", "--json"], { ...boss, env });
    expect(who.code).toBe(0);
    expect(who.json).toMatchObject({ name: null, registered: false, reachable: true });
    expect(who.json.problem).toEqual({ code: "no_identity", message: `no saved identity named "reviewer" in ${boss.home}`, hint: "register it: `clawlink register --name reviewer`; or act as a saved one with --as (saved: boss)" });
    for (const as of [{ env }, { args: ["--as", "reviewer"] }]) {
      const sent = await runCli(["delegate", "--to", "worker", "--task", "sent as whom?", "--json", ...(as.args ?? [])], { ...boss, env: as.env });
      expect(sent.code).toBe(5);
      expect(sent.json.error.message).toBe(`no saved identity named "reviewer" in ${boss.home}`);
    }
    expect((await runCli(["poll", "--json"], worker)).json).toEqual([]);
    const fresh = tempHome();
    expect((await runCli(["whoami", "--json", "--as", "reviewer"], { home: fresh, relay: boss.relay })).json.problem.hint).toBe("register it: `clawlink register --name reviewer`");
    const joined = await runCli(["register", "--name", "reviewer", "--as", "reviewer", "--json"], { ...boss });
    expect(joined.code).toBe(0);
    expect((await runCli(["whoami", "--json"], { ...boss, env })).json).toMatchObject({ name: "reviewer", registered: true });
  });

  test("--as (or CLAWLINK_AS) that is not a name reads no file outside the home's identities, whatever lies there", async () => {
    const { boss, worker } = await team();
    // A working identity, copied beside the identities folder, where a path in --as would reach it.
    copyFileSync(join(boss.home, "identities", "boss.json"), join(boss.home, "outside.json"));
    for (const as of [{ args: ["--as", "../outside"] }, { env: { CLAWLINK_AS: "../outside" } }]) {
      const sent = await runCli(["delegate", "--to", "worker", "--task", "sent as whom?", "--json", ...(as.args ?? [])], { ...boss, env: as.env });
      expect(sent.code).toBe(5);
      expect(sent.json.error).toMatchObject({ code: "no_identity", message: `no saved identity named "../outside" in ${boss.home}` });
    }
    expect((await runCli(["poll", "--json"], worker)).json).toEqual([]);
  });
});
