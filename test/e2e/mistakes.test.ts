/** What a new user or a model gets wrong first, and what ClawLink says back. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, cleanup, eventually, freePort, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

describe("mistakes", async () => {
  const { url } = await spawnRelay();
  const boss = { home: tempHome(), relay: url };
  const worker = { home: tempHome(), relay: url };
  await runCli(["register", "--name", "boss"], boss);
  await runCli(["register", "--name", "worker"], worker);

  test("listen --type takes only those types; the rest stays in the inbox for poll; a typo is refused", async () => {
    const typo = await runCli(["listen", "--type", "tasks"], worker);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("message types are task, response, progress, broadcast, status, file");
    const listener = new CliProcess(["listen", "--json", "--type", "task"], worker);
    await listener.waitFor(/listening as worker/);
    await runCli(["broadcast", "--content", "for poll"], boss);
    await runCli(["delegate", "--to", "worker", "--task", "for listen"], boss);
    await listener.waitFor(/for listen/);
    await listener.stop();
    expect(listener.jsonLines().map((m) => m.type)).toEqual(["task"]);
    const polled = (await runCli(["poll", "--json"], worker)).json;
    expect(polled).toContainEqual(expect.objectContaining({ type: "broadcast", content: "for poll" }));
  });

  test("a bad --timeout is refused before the task is sent", async () => {
    const r = await runCli(["delegate", "--to", "worker", "--task", "never sent", "--wait", "--timeout", "abc"], boss);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--timeout");
    const sent = (await runCli(["tasks", "--sent", "--json"], boss)).json.tasks;
    expect(sent.map((t: any) => t.task)).not.toContain("never sent");
  });

  test("--timeout or --on-holder-lost without --wait is refused before the task is sent: it would not wait", async () => {
    for (const flag of ["--timeout", "--on-holder-lost"]) {
      const r = await runCli(["delegate", "--to", "worker", "--task", "not sent either", `${flag}=${flag === "--timeout" ? "30" : "fail"}`, "--json"], boss);
      expect(r.code).toBe(2);
      expect(r.json.error).toEqual({
        code: "usage",
        message: `${flag} goes with --wait: without it delegate sends the task and returns at once`,
        hint: `add --wait to block until the task ends, or drop ${flag}`,
      });
    }
    const sent = (await runCli(["tasks", "--sent", "--json"], boss)).json.tasks;
    expect(sent.map((t: any) => t.task)).not.toContain("not sent either");
  });

  test("a flag whose value is missing does not swallow the next flag", async () => {
    const r = await runCli(["delegate", "--to", "worker", "--task", "--json"], boss);
    expect(r.code).toBe(2);
    expect(r.json.error.message).toBe("--task needs a value");
    const p = await runCli(["poll", "--wait", "--json"], worker);
    expect(p.code).toBe(2);
    expect(p.json.error.message).toBe("--wait needs a value");
  });

  test("number flags say what they take (exit 2), in the same words for every command", async () => {
    for (const [args, message] of [
      [["poll", "--max", "0"], "--max: must be at least 1"],
      [["poll", "--max", "1.5"], "--max: must be a whole number"],
      [["poll", "--max", "20000"], "--max: must be at most 10000"],
      [["poll", "--wait", "soon"], "--wait: must be a number of seconds"],
      [["poll", "--wait", "301"], "--wait: must be at most 300"],
      [["tasks", "--limit", "x"], "--limit: must be a number"],
      [["file-get", "--key", "a.txt", "--version", "0"], "--version: must be at least 1"],
    ] as const) {
      const r = await runCli([...args, "--json"], worker);
      expect(r.code).toBe(2);
      expect(r.json.error).toMatchObject({ code: "usage", message });
    }
  });

  test("flags: --no-FLAG, --flag=value and an extra word", async () => {
    const quiet = await runCli(["discover", "--json", "--no-all"], boss);
    expect(quiet.code).toBe(0);
    expect(quiet.json.map((a: any) => a.name)).toContain("worker");
    const inline = await runCli(["discover", "--cap=nothing-has-this", "--json"], boss);
    expect(inline.code).toBe(0);
    expect(inline.json).toEqual([]);
    const extra = await runCli(["discover", "everyone", "--json"], boss);
    expect(extra.code).toBe(2);
    expect(extra.json.error.message).toBe('unexpected argument "everyone"');
  });

  test("global flags before the command count; unknown commands get a suggestion, in JSON with --json", async () => {
    const w = await runCli(["--json", "whoami"], boss);
    expect(w.code).toBe(0);
    expect(w.json.name).toBe("boss");
    const u = await runCli(["delegat", "--json"], boss);
    expect(u.code).toBe(2);
    expect(u.json.error.hint).toContain("did you mean `clawlink delegate`?");
  });

  test("an unknown flag: exit 2, nothing sent, and the hint names the flag it most likely meant", async () => {
    for (const [args, meant] of [
      [["register", "--name", "x", "--capabilities", "python"], "--caps"],
      [["delegate", "--to", "worker", "--message", "never sent"], "--task"],
      [["delegate", "--to", "worker", "--task", "never sent", "--prio", "high"], "--priority"],
      [["respond", "--task", "t_1", "--result", "x"], "--msg-id"],
      [["respond", "--msg_id", "t_1", "--result", "x"], "--msg-id"],
      [["unregister", "--name", "worker"], "--as"],
      [["delegate", "--name", "worker", "--task", "never sent"], "--to"],
      [["poll", "--timeout", "30"], "--wait"],
      [["broadcast", "--message", "hi"], "--content"],
      [["tasks", "--status", "working"], "--state"],
      [["file-put", "--key", "k", "--version", "3"], "--if-version"],
      [["file-lock", "--key", "k", "--lease", "30"], "--ttl"],
      [["discover", "--format", "json"], "--json"],
      // A word this short is a slip away from many: the flag it starts is the likelier one.
      [["discover", "--js"], "--json"],
      [["cancel", "--ms", "t_1"], "--msg-id"],
    ] as const) {
      const r = await runCli([...args, "--json"], boss);
      expect(r.code).toBe(2);
      expect(r.json.error.hint).toBe(`did you mean ${meant}? run the command with --help to see its options`);
    }
    const inherited = await runCli(["whoami", "--constructor", "--json"], boss);
    expect(inherited.json.error).toEqual({ code: "usage", message: "unknown option --constructor", hint: "run the command with --help to see its options" });
    const far = await runCli(["whoami", "--verbose", "--json"], boss);
    expect(far.json.error).toEqual({ code: "usage", message: "unknown option --verbose", hint: "run the command with --help to see its options" });
    const sent = (await runCli(["tasks", "--sent", "--json"], boss)).json.tasks;
    expect(sent.map((t: any) => t.task)).not.toContain("never sent");
  });

  test("a missing flag or word that takes one of a few values: the hint names them", async () => {
    const config = await runCli(["mcp-config", "--json"], boss);
    expect(config.code).toBe(2);
    expect(config.json.error).toEqual({ code: "usage", message: "Missing required argument: --for", hint: "pass --for with one of claude, codex, cursor" });
    const completion = await runCli(["completion"], boss);
    expect(completion.code).toBe(2);
    expect(completion.stderr).toBe("error: Missing required positional argument: SHELL\nhint: name one of bash, zsh, fish, powershell\n");
    const register = await runCli(["register", "--json"], boss);
    expect(register.json.error).toEqual({ code: "usage", message: "Missing required argument: --name", hint: "run `clawlink register --help` to see its options" });
  });

  test("help as a word: `clawlink help delegate` shows delegate's help; `delegate help` and `clawlink version` say what to type", async () => {
    const help = await runCli(["help", "delegate"], boss);
    expect(help.code).toBe(0);
    expect(help.stdout).toStartWith("Send a task to an agent (--to) or to any agent with a capability (--cap) (clawlink delegate v");
    expect(help.stdout).toContain("--on-holder-lost");
    // With no command named, `help` lists the commands, whatever flags come with it.
    const list = await runCli(["help", "--json"], boss);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain("USAGE clawlink relay|register|discover|delegate");
    const after = await runCli(["delegate", "help", "--json"], boss);
    expect(after.code).toBe(2);
    expect(after.json.error).toEqual({ code: "usage", message: 'unexpected argument "help"', hint: "for the command's help, pass --help" });
    for (const word of ["version", "-V"]) {
      const v = await runCli([word, "--json"], boss);
      expect(v.code).toBe(2);
      expect(v.json.error.hint).toBe("did you mean `clawlink --version`? run `clawlink --help` to list the commands");
    }
  });

  test("whoami before registering still says whether the relay is reachable", async () => {
    const none = await runCli(["whoami", "--json"], { home: tempHome(), relay: `http://127.0.0.1:${freePort()}` });
    expect(none.code).toBe(3);
    expect(none.json).toMatchObject({ registered: false, reachable: false, problem: { code: "unreachable" } });
    // Not registered is an answer, not an error: exit 0, with the next step.
    const up = await runCli(["whoami", "--json"], { home: tempHome(), relay: url });
    expect(up.code).toBe(0);
    expect(up.json).toMatchObject({ registered: false, reachable: true, problem: { code: "no_identity" } });
  });

  test("capabilities are case-insensitive: stored lowercase, matched lowercase", async () => {
    const home = tempHome();
    const r = await runCli(["register", "--name", "caps-case", "--caps", "Python,Code-Review", "--json"], { home, relay: url });
    expect(r.json.caps).toEqual(["python", "code-review"]);
    expect((await runCli(["discover", "--cap", "PYTHON", "--json"], boss)).json.map((a: any) => a.name)).toEqual(["caps-case"]);
    const bad = await runCli(["delegate", "--cap", "no spaces", "--task", "x", "--json"], boss);
    expect(bad.code).toBe(2);
    expect(bad.json.error.hint).toContain("--help");
  });

  test("--to a name that differs from an agent's by its case or a slip: exit 5, and the hint names that agent", async () => {
    for (const [to, meant] of [["Worker", "worker"], ["wroker", "worker"]] as const) {
      const r = await runCli(["delegate", "--to", to, "--task", "x", "--json"], boss);
      expect(r.code).toBe(5);
      expect(r.json.error).toEqual({
        code: "unknown_agent",
        message: `no agent is registered as "${to}"`,
        hint: `did you mean --to ${meant}? names are case-sensitive; \`clawlink discover --all\` lists the agents`,
      });
    }
    const none = await runCli(["delegate", "--to", "zzzzzz", "--task", "x", "--json"], boss);
    expect(none.code).toBe(5);
    expect(none.json.error.hint).toBe("run `clawlink discover --all` to see the registered agents' ids and names");
  });

  test("registering a saved name again without --caps keeps its capabilities; --caps \"\" clears them", async () => {
    const home = tempHome();
    expect((await runCli(["register", "--name", "keeper", "--caps", "python,review"], { home, relay: url })).code).toBe(0);
    // As SKILL.md says to add a relay to the list: the same name, another --relay, no --caps.
    const again = await runCli(["register", "--name", "keeper", "--relay", `${url},${url.replace("127.0.0.1", "localhost")}`, "--json"], { home });
    expect(again.code).toBe(0);
    expect(again.json.caps).toEqual(["python", "review"]);
    expect((await runCli(["discover", "--cap", "review", "--json"], boss)).json.map((a: any) => a.name)).toContain("keeper");
    const cleared = await runCli(["register", "--name", "keeper", "--caps", "", "--json"], { home });
    expect(cleared.json.caps).toEqual([]);
  });

  test("a capability that is not one: the error names it, not its place in the list, and nothing is registered", async () => {
    const home = tempHome();
    const r = await runCli(["register", "--name", "spaced", "--caps", "python, code review", "--json"], { home, relay: url });
    expect(r.code).toBe(2);
    expect(r.json.error.message).toBe('--caps: "code review": a capability is 1-64 lowercase letters, digits or . _ : / - (e.g. code-review)');
    expect(r.json.error.hint).toBe("fix --caps: capabilities are words separated by commas, e.g. --caps code-review,python");
    expect((await runCli(["discover", "--all", "--json"], boss)).json.map((a: any) => a.name)).not.toContain("spaced");
  });

  test("plain delegate prints only the task id on stdout, so a script can capture it", async () => {
    const r = await runCli(["delegate", "--to", "worker", "--task", "capture me"], boss);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^t_\w+$/);
    expect(r.stderr).toContain(`follow it: clawlink task --id ${r.stdout.trim()}`);
    expect((await runCli(["task", "--id", r.stdout.trim(), "--json"], boss)).json.task).toBe("capture me");
  });

  test("help shows long aliases with two dashes", async () => {
    expect((await runCli(["cancel", "--help"])).stdout).toContain("--id, --msg-id=<id>");
  });

  test("on a token relay, reading with the secret of an agent the relay forgot says so instead of blaming the token", async () => {
    const { url: other } = await spawnRelay(["--token", "tok"]);
    const home = tempHome();
    await runCli(["register", "--name", "ghost", "--token", "tok"], { home, relay: other });
    // A secret whose agent the relay does not have, as after a restart.
    const secret = JSON.parse(readFileSync(join(home, "identities", "ghost.json"), "utf8")).secret as string;
    const res = await fetch(`${other}/v1/agents`, { headers: { authorization: `Bearer ${secret.replace(/^a_\w+/, "a_forgotten00")}` } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error).toMatchObject({ code: "not_registered", message: "the relay does not know agent a_forgotten00 (it may have restarted)" });
  });

  test("cancel and task accept --id and --msg-id alike", async () => {
    const id = (await runCli(["delegate", "--to", "worker", "--task", "alias", "--json"], boss)).json.id;
    expect((await runCli(["task", "--msg-id", id, "--json"], boss)).json.id).toBe(id);
    expect((await runCli(["cancel", "--id", id, "--json"], boss)).json.state).toBe("canceled");
  });

  test("file-get --output pointing at a folder is refused before anything is fetched", async () => {
    await runCli(["file-put", "--key", "notes/a.txt"], { ...boss, stdin: "a" });
    const dir = join(tempHome(), "out");
    mkdirSync(dir);
    const r = await runCli(["file-get", "--key", "notes/a.txt", "--output", dir], boss);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("is a folder");
    expect(r.stderr).toContain(join(dir, "a.txt"));
  });
});

describe("a relay with a token restarts in memory", () => {
  test("heartbeat registers afresh with the token saved at registration; a --wait on a forgotten task ends at once", async () => {
    const port = freePort();
    let { relay, url } = await spawnRelay(["--token", "t0k"], undefined, port);
    const a = { home: tempHome(), relay: url };
    const b = { home: tempHome(), relay: url };
    expect((await runCli(["register", "--name", "a", "--token", "t0k"], a)).code).toBe(0);
    const bId = (await runCli(["register", "--name", "b", "--json"], { ...b, env: { CLAWLINK_TOKEN: "t0k" } })).json.id;
    const waiting = runCli(["delegate", "--to", "b", "--task", "lost in the restart", "--wait", "--timeout", "60", "--json"], a);
    // The task must be on the relay before it stops: on a busy machine the delegate may not have sent it yet.
    await eventually(async () => (await runCli(["tasks", "--sent", "--json"], a)).json?.tasks?.length === 1, 15_000);
    await relay.stop();
    ({ relay, url } = await spawnRelay(["--token", "t0k"], undefined, port));
    const lost = await waiting;
    expect(lost.code).toBe(5);
    expect(lost.json.error.message).toContain("the relay lost task");
    expect(lost.json.error.message).toContain("restarted");
    const hb = await runCli(["heartbeat", "--json"], b);
    expect(hb.code).toBe(0);
    // The token is not the key secrets derive from (every agent holds it): without --key-file the id is new.
    expect(hb.json).toMatchObject({ name: "b", reregistered: true, previous_id: bId });
  });
});
