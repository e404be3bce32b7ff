/** `clawlink mcp` driven by the official MCP SDK's client over stdio, as Claude Code or Cursor would run it. */
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport as StdioClientTransportV1 } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, describe, expect, test } from "bun:test";
import { CliProcess, cleanup, cliCommand, cliEnv, eventually, runCli, tempHome } from "../_helpers";
import { connectMcp, openClients, team, text } from "../_mcp";

afterAll(async () => {
  await Promise.all(openClients.map((c) => c.close()));
  await cleanup();
});

describe("clawlink mcp", () => {
  test("lists every tool, each with a JSON Schema made from the valibot schemas, and declares the channel", async () => {
    const { boss } = await team();
    const { client, errors } = await connectMcp(boss.home, boss.relay);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual([
      "whoami", "register", "discover", "delegate", "task_status", "wait_task", "inbox", "respond", "progress", "cancel", "broadcast",
      "file_list", "file_get", "file_put", "file_history", "file_lock", "file_unlock",
    ]);
    for (const t of tools) {
      expect(t.description!.length).toBeGreaterThan(40);
      expect(t.inputSchema.type).toBe("object");
    }
    const delegate = tools.find((t) => t.name === "delegate")!.inputSchema as any;
    expect(delegate.required).toEqual(["task"]);
    expect(delegate.additionalProperties).toBe(false);
    expect(Object.keys(delegate.properties)).toEqual(["to", "cap", "task", "context", "priority", "wait", "timeout_s", "lease_s", "ttl_s", "idempotency_key", "queue"]);
    expect(delegate.properties.priority).toMatchObject({ enum: ["urgent", "high", "normal", "low"], default: "normal" });
    expect(delegate.properties.lease_s).toMatchObject({ type: "integer", minimum: 1, default: 600 });
    expect(tools.find((t) => t.name === "file_get")!.annotations).toEqual({ readOnlyHint: true });
    expect(client.getServerCapabilities()).toMatchObject({ tools: {}, logging: {}, experimental: { "claude/channel": {} } });
    expect(client.getInstructions()).toContain("inbox");
    expect(errors).toEqual([]);
  });

  test("delegate with wait returns the answer of a listen --exec worker", async () => {
    const { boss, worker } = await team();
    const listener = new CliProcess(["listen", "--exec", "sleep 1; echo \"shouted for $CLAWLINK_MSG_ID\"", "--respond"], worker);
    await listener.waitFor(/listening as worker/);
    const { client, errors, stderr } = await connectMcp(boss.home, boss.relay);
    const progress: string[] = [];
    const r: any = await client.callTool(
      { name: "delegate", arguments: { to: "worker", task: "shout", context: { words: 3 }, wait: true, timeout_s: 20 } },
      { onprogress: (p) => void progress.push(p.message!) },
    );
    expect(r.isError).toBeFalsy();
    const id = r.structuredContent.task.id;
    expect(r.structuredContent.task.state).toBe("completed");
    expect(r.structuredContent.response.result).toBe(`shouted for ${id}`);
    expect(text(r)).toBe(`task ${id} completed; the result from worker (${r.structuredContent.task.to}):\nshouted for ${id}`);
    // The worker took a second: the wait reported the task's state meanwhile.
    expect(progress).toContain(`task ${id} is delivered: attempt 1`);
    // The answer came back through the call; the inbox holds nothing more about it.
    const inbox: any = await client.callTool({ name: "inbox", arguments: {} });
    expect(inbox.structuredContent.messages).toEqual([]);
    // stdout carried the protocol alone; the server's log lines went to stderr.
    expect(errors).toEqual([]);
    await eventually(() => /announcing messages as boss/.test(stderr()));
  });

  test("a task for the agent is announced as a channel event and a log, waits in the inbox until taken, and respond answers it", async () => {
    const { boss, worker } = await team();
    const { client, channel, logs } = await connectMcp(boss.home, boss.relay);
    await eventually(async () => (await runCli(["discover", "--json"], worker)).json.find((a: any) => a.name === "boss")?.connected);
    const { id } = (await runCli(["delegate", "--to", "boss", "--task", "Review the login page", "--priority", "high", "--json"], worker)).json;
    const event = (await eventually(() => channel.find((e) => e.meta.message_id === id)))!;
    expect(event.meta).toEqual({ message_id: id, type: "task", from: "worker", priority: "high" });
    expect(event.content).toContain("Review the login page");
    expect(event.content).toContain(`call respond with id ${id}`);
    const log = logs.find((l) => l.data.message?.id === id)!;
    expect(log.level).toBe("notice");
    // Announced, not yet taken: the relay still counts it as delivered and unacknowledged.
    expect((await runCli(["task", "--id", id, "--json"], worker)).json.state).toBe("delivered");
    const peek: any = await client.callTool({ name: "inbox", arguments: { ack: false } });
    expect(peek.structuredContent.messages.map((m: any) => m.id)).toEqual([id]);
    const taken: any = await client.callTool({ name: "inbox", arguments: {} });
    expect(taken.structuredContent).toMatchObject({ acked: true, messages: [{ id, type: "task", task: "Review the login page" }] });
    expect(text(taken)).toContain("Answer a task with respond");
    expect(((await client.callTool({ name: "inbox", arguments: {} })) as any).structuredContent.messages).toEqual([]);
    const answered: any = await client.callTool({ name: "respond", arguments: { id, result: "two typos" } });
    expect(answered.isError).toBeFalsy();
    const task = (await runCli(["task", "--id", id, "--json"], worker)).json;
    expect(task).toMatchObject({ state: "completed", result: "two typos" });
  });

  test("a message announced but never taken is not lost: when the server stops, it waits in the relay's queue", async () => {
    const { boss, worker } = await team();
    const { client, channel } = await connectMcp(boss.home, boss.relay);
    await eventually(async () => (await runCli(["discover", "--json"], worker)).json.find((a: any) => a.name === "boss")?.connected);
    const { id } = (await runCli(["broadcast", "--content", "main is red", "--json"], worker)).json;
    await eventually(() => channel.find((e) => e.meta.message_id === id));
    await client.close();
    const polled = await eventually(async () => (await runCli(["poll", "--json"], boss)).json?.find((m: any) => m.id === id));
    expect(polled).toMatchObject({ type: "broadcast", content: "main is red" });
  });

  test("a tool error carries the CLI's message, and a hint in tool terms", async () => {
    const { boss } = await team();
    const { client } = await connectMcp(boss.home, boss.relay);
    const cli = await runCli(["delegate", "--to", "ghost", "--task", "haunt", "--json"], boss);
    expect(cli.code).toBe(5);
    expect(cli.json.error.hint).toContain("clawlink discover --all");
    const r: any = await client.callTool({ name: "delegate", arguments: { to: "ghost", task: "haunt" } });
    expect(r.isError).toBe(true);
    const hint = "call discover (all: true also lists agents not seen lately) for the names and ids";
    expect(r.structuredContent).toEqual({ error: { ...cli.json.error, hint } });
    expect(text(r)).toBe(`error: ${cli.json.error.message}\nhint: ${hint}`);

    const bad: any = await client.callTool({ name: "delegate", arguments: { to: "worker", wiat: true } });
    expect(bad.isError).toBe(true);
    expect(bad.structuredContent.error.code).toBe("usage");
    expect(text(bad)).toBe(
      "error: delegate: task: is required; wiat: unknown argument; the tool takes to, cap, task, context, priority, wait, timeout_s, lease_s, ttl_s, idempotency_key, queue\nhint: fix the arguments; tools/list shows what delegate takes",
    );
    const both: any = await client.callTool({ name: "delegate", arguments: { to: "worker", cap: "shouting", task: "x" } });
    expect(text(both)).toBe("error: delegate: pass exactly one of to (an agent) and cap (a capability)\nhint: discover lists the agents and their capabilities");
  });

  test("in a fresh home, register makes the server act as the new agent and announce its tasks", async () => {
    const { url, worker } = await team();
    const home = tempHome();
    const { client, channel } = await connectMcp(home, url);
    const before: any = await client.callTool({ name: "whoami", arguments: {} });
    expect(before.structuredContent).toMatchObject({ name: null, registered: false, reachable: true, problem: { code: "no_identity" } });
    const reg: any = await client.callTool({ name: "register", arguments: { name: "newcomer", caps: ["testing"], description: "Tests things" } });
    expect(reg.structuredContent).toMatchObject({ name: "newcomer", caps: ["testing"] });
    expect((await runCli(["whoami", "--json"], { home, relay: url })).json.name).toBe("newcomer");
    await eventually(async () => (await runCli(["discover", "--json"], worker)).json.find((a: any) => a.name === "newcomer")?.connected);
    const { id } = (await runCli(["delegate", "--cap", "testing", "--task", "test it", "--json"], worker)).json;
    await eventually(() => channel.find((e) => e.meta.message_id === id));
  });

  test("a host on the 1.x SDK, as most hosts embed today, gets the same tools and the channel event", async () => {
    const { boss, worker } = await team();
    const [command, ...pre] = cliCommand();
    const client = new ClientV1({ name: "clawlink-test-v1", version: "1.0.0" });
    const events: any[] = [];
    client.fallbackNotificationHandler = async (n) => void events.push(n);
    await client.connect(new StdioClientTransportV1({ command: command!, args: [...pre, "mcp"], env: cliEnv(boss), stderr: "ignore" }));
    openClients.push(client);
    expect((await client.listTools()).tools).toHaveLength(17);
    await eventually(async () => (await runCli(["discover", "--json"], worker)).json.find((a: any) => a.name === "boss")?.connected);
    const { id } = (await runCli(["delegate", "--to", "boss", "--task", "ping", "--json"], worker)).json;
    const event = await eventually(() => events.find((n) => n.method === "notifications/claude/channel" && n.params.meta.message_id === id));
    expect(event.params.content).toContain("ping");
    const r: any = await client.callTool({ name: "respond", arguments: { id, result: "pong" } });
    expect(r.isError).toBeFalsy();
    expect((await runCli(["task", "--id", id, "--json"], worker)).json.result).toBe("pong");
  });

  test("inbox with wait_s returns a message as soon as one arrives", async () => {
    const { boss, worker } = await team();
    const { client } = await connectMcp(boss.home, boss.relay);
    await eventually(async () => (await runCli(["discover", "--json"], worker)).json.find((a: any) => a.name === "boss")?.connected);
    const waiting = client.callTool({ name: "inbox", arguments: { wait_s: 60 } }) as Promise<any>;
    await Bun.sleep(300);
    const { id } = (await runCli(["broadcast", "--content", "deploy is done", "--topic", "ops", "--json"], worker)).json;
    const r = await waiting;
    expect(r.structuredContent).toMatchObject({ acked: true, messages: [{ id, type: "broadcast", content: "deploy is done" }] });
    expect(text(r)).toContain("[broadcast]");
    expect(text(r)).toContain("from worker");
  });

  test("files: put, get with its version, a stale write refused with the CLI's words, then merged", async () => {
    const { boss, worker } = await team();
    const { client } = await connectMcp(boss.home, boss.relay);
    const put: any = await client.callTool({ name: "file_put", arguments: { key: "plan.md", content: "one\ntwo\nthree\n" } });
    expect(put.structuredContent).toMatchObject({ key: "plan.md", version: 1, created: true });
    const got: any = await client.callTool({ name: "file_get", arguments: { key: "plan.md" } });
    expect(got.structuredContent).toMatchObject({ version: 1, author: "boss", content: "one\ntwo\nthree\n" });
    expect(text(got)).toContain("if_version 1");
    // A co-editor writes the first line meanwhile.
    await runCli(["file-put", "--key", "plan.md", "--if-version", "1"], { ...worker, stdin: "ONE\ntwo\nthree\n" });
    const stale: any = await client.callTool({ name: "file_put", arguments: { key: "plan.md", content: "one\ntwo\nTHREE\n", if_version: 1 } });
    const cli = await runCli(["file-put", "--key", "plan.md", "--if-version", "1", "--json"], { ...boss, stdin: "one\ntwo\nTHREE\n" });
    expect(cli.code).toBe(6);
    expect(stale.isError).toBe(true);
    expect(stale.structuredContent.error).toEqual({
      code: "version_conflict",
      message: cli.json.error.message,
      hint: "call file_get, redo your edit on version 2, then file_put with if_version: 2; or, for text, call file_put again with merge: true (if_version stays 1) to merge your edit with the changes since",
    });
    const merged: any = await client.callTool({ name: "file_put", arguments: { key: "plan.md", content: "one\ntwo\nTHREE\n", if_version: 1, merge: true } });
    expect(merged.structuredContent).toMatchObject({ version: 3, merged: true });
    expect((await runCli(["file-get", "--key", "plan.md"], worker)).stdout).toBe("ONE\ntwo\nTHREE\n");
    const history: any = await client.callTool({ name: "file_history", arguments: { key: "plan.md" } });
    expect(history.structuredContent.versions.map((x: any) => x.author)).toEqual(["boss", "worker", "boss"]);
    const badKey: any = await client.callTool({ name: "file_get", arguments: { key: "../etc/passwd" } });
    expect(text(badKey)).toBe("error: file_get: key: a file key must not have empty, '.' or '..' segments\nhint: fix the arguments; tools/list shows what file_get takes");
  });

  test("file_lock then file_unlock; unlocking a key not locked is no error, with the CLI's answer", async () => {
    const { boss } = await team();
    const { client } = await connectMcp(boss.home, boss.relay);
    const locked: any = await client.callTool({ name: "file_lock", arguments: { key: "notes.md", ttl_s: 60 } });
    expect(locked.structuredContent).toMatchObject({ key: "notes.md", holder: "boss" });
    const unlocked: any = await client.callTool({ name: "file_unlock", arguments: { key: "notes.md" } });
    expect(unlocked.isError).toBeFalsy();
    expect(unlocked.structuredContent).toMatchObject({ key: "notes.md", unlocked: true });
    const again: any = await client.callTool({ name: "file_unlock", arguments: { key: "notes.md" } });
    const cli = await runCli(["file-unlock", "--key", "notes.md", "--json"], boss);
    expect(cli.code).toBe(0);
    expect(again.isError).toBeFalsy();
    expect(again.structuredContent).toEqual(cli.json);
    expect(again.structuredContent).toMatchObject({ key: "notes.md", unlocked: false, reason: "not_locked" });
    expect(text(again)).toBe("notes.md was not locked: nothing to unlock (a lease also ends by itself when its ttl runs out)");
  });

  test("a binary file comes back as base64 (text as utf8), and goes back with encoding base64", async () => {
    const { boss, worker } = await team();
    const { call } = await connectMcp(boss.home, boss.relay);
    // ASCII with NUL bytes is valid UTF-8, and still no text.
    const bytes = new Uint8Array([0x50, 0x4b, 0x00, 0x01, 0xff, 0x00, 0x41]);
    expect((await runCli(["file-put", "--key", "blob.bin"], { ...worker, stdin: bytes })).code).toBe(0);
    const got = await call("file_get", { key: "blob.bin" });
    expect(got.structuredContent).toMatchObject({ key: "blob.bin", version: 1, size: 7, encoding: "base64", content: Buffer.from(bytes).toString("base64") });
    expect(text(got)).toContain('binary, so content is base64; to write a new version, file_put with encoding "base64" and if_version 1');
    const text1 = await call("file_get", { key: "blob.bin", version: 1 });
    expect(text1.structuredContent.encoding).toBe("base64");

    const put = await call("file_put", { key: "blob.bin", content: Buffer.from([1, 2, 3]).toString("base64"), encoding: "base64", if_version: 1 });
    expect(put.structuredContent).toMatchObject({ version: 2, size: 3 });
    const back = await runCli(["file-get", "--key", "blob.bin", "--output", `${worker.home}/blob.out`], worker);
    expect(back.code).toBe(0);
    expect([...new Uint8Array(await Bun.file(`${worker.home}/blob.out`).arrayBuffer())]).toEqual([1, 2, 3]);
    const bad = await call("file_put", { key: "blob.bin", content: "not base64!", encoding: "base64" });
    expect(bad.structuredContent.error.message).toBe('file_put: content is not base64, though encoding is "base64"');

    expect((await call("file_put", { key: "hello.txt", content: "héllo\n" })).isError).toBeFalsy();
    expect((await call("file_get", { key: "hello.txt" })).structuredContent).toMatchObject({ encoding: "utf8", content: "héllo\n" });
  });

  test("a flag it cannot serve with stops it before it serves (exit 2); a closed stdin ends it", async () => {
    const { boss } = await team();
    // A name that could never be registered is a mistake in the client's config.
    for (const as of ["../boss", "relay"]) {
      const bad = await runCli(["mcp", "--as", as], boss);
      expect(bad).toMatchObject({ code: 2, stdout: "" });
      expect(bad.stderr).toContain("error: --as: ");
    }
    // A name not registered yet is not: the server starts, and register creates it.
    expect(await runCli(["mcp", "--as", "ghost"], boss)).toMatchObject({ code: 0, stdout: "" });
    const json = await runCli(["mcp", "--json"], boss);
    expect(json.code).toBe(2);
    expect(json.json.error).toMatchObject({ code: "usage", message: "unknown option --json" });
    // runCli gives no stdin: the server reads end-of-file and stops cleanly.
    expect(await runCli(["mcp"], boss)).toMatchObject({ code: 0, stdout: "" });
  });
});
