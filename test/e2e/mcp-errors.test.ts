/**
 * A model in a harness without a shell reads tool errors: each keeps the CLI's message and carries a hint
 * in tool terms (`file_get`, `queue: true`), never a command line or a --flag.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, runCli, tempHome } from "../_helpers";
import { connectMcp, openClients, team } from "../_mcp";

afterAll(async () => {
  await Promise.all(openClients.map((c) => c.close()));
  await cleanup();
});

describe("tool errors speak in tool terms", async () => {
  const { boss, worker } = await team();
  const { call } = await connectMcp(boss.home, boss.relay);
  /** The error of a call that must fail; its hint names no command or flag. */
  const failing = async (tool: string, args: Record<string, unknown>) => {
    const r = await call(tool, args);
    expect(r.isError).toBe(true);
    expect(r.structuredContent.error.hint).not.toMatch(/clawlink |--[a-z]|`/);
    return r.structuredContent.error as { code: string; message: string; hint: string };
  };

  test("the file tools refuse paths inside CLAWLINK_HOME, symlinks followed; a downloaded file is 0600 unless it exists", async () => {
    const secret = join(boss.home, "identities", "boss.json");
    expect(existsSync(secret)).toBe(true);
    const elsewhere = tempHome();
    symlinkSync(secret, join(elsewhere, "innocent.json"));
    symlinkSync(join(boss.home, "identities"), join(elsewhere, "ids"));
    for (const file of [secret, join(elsewhere, "innocent.json"), join(elsewhere, "ids", "boss.json")]) {
      const e = await failing("file_put", { key: "leak.json", file });
      expect(e.code).toBe("usage");
      expect(e.message).toContain("is inside CLAWLINK_HOME");
    }
    expect((await call("file_list")).structuredContent.files.map((f: any) => f.key)).not.toContain("leak.json");
    expect((await call("file_put", { key: "team.md", content: "private\n" })).isError).toBeFalsy();
    for (const output of [join(boss.home, "identities", "worker.json"), join(elsewhere, "ids", "new.json"), join(boss.home, "fresh.txt")]) {
      expect((await failing("file_get", { key: "team.md", output })).message).toContain("is inside CLAWLINK_HOME");
      expect(existsSync(output)).toBe(false);
    }
    const fresh = join(elsewhere, "team.md");
    expect((await call("file_get", { key: "team.md", output: fresh })).isError).toBeFalsy();
    expect(statSync(fresh).mode & 0o777).toBe(0o600);
    const kept = join(elsewhere, "kept.md");
    writeFileSync(kept, "old");
    chmodSync(kept, 0o640);
    expect((await call("file_get", { key: "team.md", output: kept })).isError).toBeFalsy();
    expect(statSync(kept).mode & 0o777).toBe(0o640);
    expect(readFileSync(kept, "utf8")).toBe("private\n");
  });

  test("no agent with the capability: discover, or queue: true", async () => {
    const cli = await runCli(["delegate", "--cap", "juggling", "--task", "juggle", "--json"], boss);
    expect(cli.json.error.hint).toContain("--queue");
    expect(await failing("delegate", { cap: "juggling", task: "juggle" })).toEqual({
      code: "no_capable_agent",
      message: cli.json.error.message,
      hint: "call discover to see the capabilities online, or call delegate again with queue: true to keep the task until an agent with it registers",
    });
  });

  test("a wait that times out: the task runs on, wait_task or task_status follow it", async () => {
    const e = await failing("delegate", { to: "worker", task: "take your time", wait: true, timeout_s: 1 });
    const id = e.message.match(/task (t_\w+)/)![1];
    expect(e).toEqual({
      code: "timeout",
      message: `task ${id} did not finish within 1s`,
      hint: `the task keeps running: call wait_task with id ${id} to wait again, or task_status to see where it is`,
    });
    const cancel = await call("cancel", { id });
    expect(cancel.isError).toBeFalsy();
  });

  test("a name taken: register with another name", async () => {
    const e = await failing("register", { name: "worker" });
    expect(e.code).toBe("name_taken");
    expect(e.message).toContain('the name "worker" belongs to agent');
    expect(e.hint).toBe("call register with another name, or ask the user to unregister that agent first");
    expect((await call("whoami")).structuredContent.name).toBe("boss");
  });

  test("answering a task that is not one: the inbox's ids, or to for a message that is not a task", async () => {
    const e = await failing("respond", { id: "m_0000000000000000000000000", result: "hi" });
    expect(e.code).toBe("unknown_task");
    expect(e.hint).toBe("use the id of a task from your inbox; to reply to a message that is not a task, also give to (its sender)");
  });

  test("files: one that exists already, a lease, and overlapping edits", async () => {
    expect((await call("file_put", { key: "notes.md", content: "a\nb\nc\n" })).isError).toBeFalsy();
    expect(await failing("file_put", { key: "notes.md", content: "x\n", if_version: 0 })).toMatchObject({
      code: "version_conflict",
      hint: "to replace it, call file_put with if_version: 1; to keep both, use another key",
    });

    await runCli(["file-put", "--key", "notes.md", "--if-version", "1"], { ...worker, stdin: "A\nb\nc\n" });
    const merge = await failing("file_put", { key: "notes.md", content: "Z\nb\nc\n", if_version: 1, merge: true });
    expect(merge.code).toBe("merge_conflict");
    expect(merge.hint).toBe("call file_get for version 2, settle the conflicting lines above on it, then file_put with if_version: 2");

    expect((await runCli(["file-lock", "--key", "notes.md"], worker)).code).toBe(0);
    const locked = await failing("file_put", { key: "notes.md", content: "mine\n", if_version: 2 });
    expect(locked.code).toBe("file_locked");
    expect(locked.hint).toBe("wait until the lease ends (the message says when), or ask worker to call file_unlock");
    expect(await failing("file_get", { key: "nothing/here.md" })).toMatchObject({ code: "unknown_file", hint: "call file_list to see the keys" });
  });

  test("file_put without content or file says what to pass", async () => {
    expect(await failing("file_put", { key: "empty.md" })).toEqual({
      code: "usage",
      message: "file_put: pass exactly one of content (text) and file (a local path)",
      hint: 'pass content (the text; "" stores an empty file) or file (a local path)',
    });
  });

  test("canceling a task one holds but did not send: respond with status failed", async () => {
    const { id } = (await runCli(["delegate", "--to", "boss", "--task", "mine to do", "--json"], worker)).json;
    const e = await failing("cancel", { id });
    expect(e.code).toBe("forbidden");
    expect(e.hint).toBe("only its sender can cancel a task; if you hold it and cannot do it, respond with status: failed");
  });
});
