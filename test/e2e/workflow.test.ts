/** Two agents, one relay, the commands a user would type: the whole first-issue workflow through the compiled binary. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, CliProcess, cleanup, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

describe("two agents walk the workflow", async () => {
  const { url } = await spawnRelay();
  const alice = tempHome();
  const bob = tempHome();
  const as = (home: string) => ({ home, relay: url });
  let bobId = "";
  let taskId = "";

  test("--version prints the package version", async () => {
    const r = await runCli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe((await Bun.file(join(import.meta.dir, "../../package.json")).json()).version);
  });

  test("--help is plain text with examples when read by a program", async () => {
    const top = await runCli(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain("delegate");
    expect(top.stdout).toContain("Exit codes:");
    const sub = await runCli(["delegate", "--help"]);
    expect(sub.code).toBe(0);
    expect(sub.stdout).not.toMatch(/\x1b\[/);
    expect(sub.stdout).toContain("--task=<text>");
    expect(sub.stdout).toContain("EXAMPLES");
    expect(sub.stdout).toContain("clawlink delegate --to reviewer");
  });

  test("register saves an identity (mode 0600) and prints the record", async () => {
    const a = await runCli(["register", "--name", "alice", "--caps", "code,review", "--description", "writes code", "--json"], as(alice));
    expect(a.code).toBe(0);
    expect(a.json).toMatchObject({ name: "alice", caps: ["code", "review"], description: "writes code" });
    expect(a.json.id).toMatch(/^a_/);
    expect(a.json.machine).toBeTruthy();
    expect(a.json.secret).toBeUndefined();
    const file = join(alice, "identities", "alice.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({ id: a.json.id, name: "alice", relay: url });

    const b = await runCli(["register", "--name", "bob", "--caps", "review", "--json"], as(bob));
    expect(b.code).toBe(0);
    bobId = b.json.id;
  });

  test("discover lists both, filters by capability, and prints a table", async () => {
    const all = await runCli(["discover", "--json"], as(alice));
    expect(all.json.map((a: any) => a.name)).toEqual(["alice", "bob"]);
    expect(all.json[0]).toMatchObject({ status: "online" });
    const coders = await runCli(["discover", "--cap", "code", "--json"], as(bob));
    expect(coders.json.map((a: any) => a.name)).toEqual(["alice"]);
    const table = await runCli(["discover"], as(alice));
    expect(table.stdout).toMatch(/^ID\s+NAME\s+CAPS\s+MACHINE\s+STATUS\s+LAST SEEN/);
    expect(table.stdout).toContain("bob");
  });

  test("delegate → poll → respond → the requester polls the response", async () => {
    const d = await runCli(["delegate", "--to", "bob", "--task", "review PR 12", "--context", '{"pr":12}', "--priority", "high", "--json"], as(alice));
    expect(d.code).toBe(0);
    taskId = d.json.id;
    expect(taskId).toMatch(/^t_/);

    const p = await runCli(["poll", "--json"], as(bob));
    expect(p.code).toBe(0);
    expect(p.json).toHaveLength(1);
    expect(p.json[0]).toMatchObject({ id: taskId, type: "task", task: "review PR 12", context: { pr: 12 }, priority: "high", to: bobId });

    // Polled messages were acknowledged: a second poll is empty.
    expect((await runCli(["poll", "--json"], as(bob))).json).toEqual([]);

    const r = await runCli(["respond", "--msg-id", taskId, "--result", "LGTM", "--json"], as(bob));
    expect(r.code).toBe(0);

    const back = await runCli(["poll", "--json"], as(alice));
    const response = back.json.find((m: any) => m.type === "response");
    expect(response).toMatchObject({ in_reply_to: taskId, result: "LGTM", status: "completed", from: bobId });
  });

  test("human output names the sender", async () => {
    await runCli(["delegate", "--to", "bob", "--task", "say hi"], as(alice));
    const p = await runCli(["poll"], as(bob));
    expect(p.stdout).toMatch(/\[task\] t_\w+ from alice \(a_\w+\)/);
    expect(p.stdout).toContain("reply: clawlink respond --msg-id");
  });

  test("broadcast reaches every other agent", async () => {
    const b = await runCli(["broadcast", "--content", "tests are green on main", "--topic", "ci", "--tags", "build,main", "--json"], as(alice));
    expect(b.json).toMatchObject({ recipients: 1 });
    const p = await runCli(["poll", "--json"], as(bob));
    expect(p.json).toEqual([expect.objectContaining({ type: "broadcast", content: "tests are green on main", topic: "ci", tags: ["build", "main"] })]);
    expect((await runCli(["poll", "--json"], as(alice))).json.filter((m: any) => m.type === "broadcast")).toEqual([]);
  });

  test("files: put from a path and from stdin, list, get to stdout and to a path", async () => {
    const src = join(alice, "q3.md");
    writeFileSync(src, "# Q3\nrevenue up\n");
    const put = await runCli(["file-put", "--key", "reports/q3.md", "--file", src, "--json"], as(alice));
    expect(put.code).toBe(0);
    expect(put.json).toMatchObject({ key: "reports/q3.md", size: 16 });
    expect(put.json.sha256).toBe(new Bun.CryptoHasher("sha256").update("# Q3\nrevenue up\n").digest("hex"));

    const piped = await runCli(["file-put", "--key", "notes.txt", "--json"], { ...as(bob), stdin: "from stdin" });
    expect(piped.json).toMatchObject({ key: "notes.txt", size: 10 });

    const list = await runCli(["file-list", "--json"], as(bob));
    expect(list.json.map((f: any) => [f.key, f.updated_by])).toEqual([["notes.txt", "bob"], ["reports/q3.md", "alice"]]);

    const get = await runCli(["file-get", "--key", "reports/q3.md"], as(bob));
    expect(get.stdout).toBe("# Q3\nrevenue up\n");
    const out = join(bob, "copy.md");
    expect((await runCli(["file-get", "--key", "reports/q3.md", "--output", out], as(bob))).code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe("# Q3\nrevenue up\n");
  });

  test("listen prints messages as they arrive, as JSON lines, after what waited for it", async () => {
    const listener = new CliProcess(["listen", "--json"], as(bob));
    await listener.waitFor(/listening as bob/);
    await runCli(["delegate", "--to", "bob", "--task", "live one"], as(alice));
    await listener.waitFor(/live one/);
    const [waited, live] = listener.jsonLines();
    expect(waited).toMatchObject({ type: "file", action: "put", key: "reports/q3.md", by: "alice" });
    expect(live).toMatchObject({ type: "task", task: "live one" });
    await listener.stop();
  });

  test("the binary ignores .env and bunfig.toml in the folder it runs in", async () => {
    const dir = tempHome();
    writeFileSync(join(dir, ".env"), "CLAWLINK_RELAY=http://127.0.0.1:1\n");
    writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./nope.ts"]\n');
    const proc = Bun.spawn([BINARY, "discover", "--json"], { cwd: dir, env: { PATH: process.env.PATH!, CLAWLINK_HOME: alice }, stdout: "pipe", stderr: "pipe" });
    expect(await proc.exited).toBe(0);
    expect(JSON.parse(await new Response(proc.stdout).text()).length).toBeGreaterThan(0);
  });

  test("whoami shows identity, reachability and pending count", async () => {
    const w = await runCli(["whoami", "--json"], as(alice));
    expect(w.code).toBe(0);
    expect(w.json).toMatchObject({ name: "alice", relay: url, reachable: true, registered: true });
    expect(typeof w.json.pending).toBe("number");
  });

  test("unregister removes the agent and the saved identity", async () => {
    const u = await runCli(["unregister", "--json"], as(bob));
    expect(u.code).toBe(0);
    const all = await runCli(["discover", "--all", "--json"], as(alice));
    expect(all.json.map((a: any) => a.name)).toEqual(["alice"]);
    const again = await runCli(["poll"], as(bob));
    expect(again.code).toBe(5);
    expect(again.stderr).toContain("register first");
  });
});
