/**
 * Text another agent wrote cannot drive the terminal it is printed on: escape sequences in tasks,
 * broadcasts, descriptions and hostnames are shown, not obeyed; --json carries them exactly.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, cleanup, runCli, spawnRelay, tempHome } from "../_helpers";
import { api } from "../_http";

afterAll(cleanup);

// OSC 52 asks the terminal to put "Hello" on the clipboard; CSI 2J clears the screen; U+202E flips the text after it.
const OSC52 = "\x1b]52;c;SGVsbG8=\x07";
const CLEAR = "\x1b[2J";
const FLIP = "\u202e";
const ESC = /[\x1b\x07\x9b\u202e]/;

describe("relay-supplied text in human output", async () => {
  const { url } = await spawnRelay();
  const boss = { home: tempHome(), relay: url };
  const worker = { home: tempHome(), relay: url };
  await runCli(["register", "--name", "worker"], worker);
  // An agent registered by hand can claim any hostname and description.
  const call = api(url);
  const mallory = (await call("POST", "/v1/agents", { json: { name: "mallory", machine: `box${CLEAR}`, description: `helper${OSC52}`, caps: ["x"] } })).body;
  await runCli(["register", "--name", "boss"], boss);

  test("poll, task, tasks and listen show escapes visibly, and --json keeps them exact", async () => {
    const sent = await call("POST", "/v1/messages", { bearer: mallory.secret, json: { type: "task", to: "worker", task: `copy this ${OSC52} now${FLIP}gnp.exe\rover` } });
    const listener = new CliProcess(["listen"], worker);
    await listener.waitFor(/reply: clawlink respond/);
    await listener.stop();
    expect(listener.stdout).not.toMatch(ESC);
    expect(listener.stdout).toContain("copy this \\x1b]52;c;SGVsbG8=\\x07 now\\u202egnp.exe\\x0dover");

    await call("POST", "/v1/messages", { bearer: mallory.secret, json: { type: "broadcast", content: `hi${OSC52}\nsecond line` } });
    const poll = await runCli(["poll"], worker);
    expect(poll.code).toBe(0);
    expect(poll.stdout).not.toMatch(ESC);
    expect(poll.stdout).toContain("hi\\x1b]52;c;SGVsbG8=\\x07\nsecond line"); // a newline stays a newline

    await call("POST", "/v1/messages", { bearer: mallory.secret, json: { type: "broadcast", content: `exact${OSC52}` } });
    const json = await runCli(["poll", "--json"], worker);
    expect(json.json.map((m: any) => m.content)).toContain(`exact${OSC52}`);

    const task = await runCli(["task", "--id", sent.body.id], { ...worker });
    expect(task.code).toBe(0);
    expect(task.stdout).not.toMatch(ESC);
    const tasks = await runCli(["tasks"], worker);
    expect(tasks.stdout).not.toMatch(ESC);
    expect(tasks.stdout).toContain("\\x1b]52");
  });

  test("bidi marks and line separators are shown too: U+200E, U+200F, U+061C, U+2028, U+2029", async () => {
    const marks = "a\u200eb\u200fc\u061cd\u2028e\u2029f";
    await call("POST", "/v1/messages", { bearer: mallory.secret, json: { type: "broadcast", content: marks } });
    const poll = await runCli(["poll"], worker);
    expect(poll.code).toBe(0);
    expect(poll.stdout).not.toMatch(/[\u200e\u200f\u061c\u2028\u2029]/);
    expect(poll.stdout).toContain("a\\u200eb\\u200fc\\u061cd\\u2028e\\u2029f");
    await call("POST", "/v1/messages", { bearer: mallory.secret, json: { type: "task", to: "worker", task: marks } });
    const listener = new CliProcess(["listen"], worker);
    await listener.waitFor(/reply: clawlink respond/);
    await listener.stop();
    expect(listener.stdout).not.toMatch(/[\u200e\u200f\u061c\u2028\u2029]/);
    expect(listener.stdout).toContain("a\\u200eb\\u200fc\\u061cd\\u2028e\\u2029f");
    const json = await runCli(["poll", "--json"], worker);
    expect(json.code).toBe(0);
  });

  test("doctor shows what a relay answers visibly, each check on its line", async () => {
    // Something at the relay's URL that answers with hostile text: a version and an error message.
    const hostile = `9.9\x1b]52;c;SGVsbG8=\x07\u202e\nok    token       forged`;
    const fake = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) =>
        new URL(req.url).pathname === "/v1/health"
          ? Response.json({ ok: true, version: hostile, agents: 1 })
          : Response.json({ error: { code: "boom", message: `nope${OSC52}\u2028ok`, hint: `try${CLEAR}` } }, { status: 500 }),
    });
    try {
      const r = await runCli(["doctor"], { home: tempHome(), relay: `http://127.0.0.1:${fake.port}` });
      expect(r.stdout).not.toMatch(/[\x1b\x07\u202e\u2028]/);
      expect(r.stdout).toContain("the relay runs clawlink 9.9\\x1b]52;c;SGVsbG8=\\x07\\u202e\\x0aok    token       forged, this binary");
      expect(r.stdout).toContain("nope\\x1b]52;c;SGVsbG8=\\x07\\u2028ok");
      expect(r.stdout).not.toMatch(/^ok    token/m);
      const json = await runCli(["doctor", "--json"], { home: tempHome(), relay: `http://127.0.0.1:${fake.port}` });
      expect(json.json.checks.find((c: any) => c.name === "version").message).toContain(hostile);
    } finally {
      fake.stop(true);
    }
  });

  test("listen shows why a relay refused its socket visibly, on one line", async () => {
    const agent = { id: "a_0000000000bb", name: "bob", caps: [], description: "", machine: "", status: "online", connected: false, registered_at: "2026-12-01T00:00:00.000Z", last_seen: "2026-12-01T00:00:00.000Z" };
    const fake = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) =>
        req.method === "POST" && new URL(req.url).pathname.endsWith("/heartbeat")
          ? Response.json({ ...agent, pending: 0 })
          : Response.json({ error: { code: "too_many_connections", message: `full${OSC52}\u2028ok    forged`, hint: `wait${CLEAR}` } }, { status: 429 }),
    });
    try {
      const home = tempHome();
      const relay = `http://127.0.0.1:${fake.port}`;
      mkdirSync(join(home, "identities"), { recursive: true });
      writeFileSync(join(home, "identities", "bob.json"), JSON.stringify({ id: agent.id, name: "bob", secret: `${agent.id}.x`, relay }));
      writeFileSync(join(home, "default"), "bob\n");
      const listener = new CliProcess(["listen"], { home, relay });
      await listener.waitFor(/the relay refused the connection/);
      await listener.stop();
      expect(listener.stdout + listener.stderr).not.toMatch(/[\x1b\x07\u2028]/);
      expect(listener.stdout + listener.stderr).toContain("full\\x1b]52;c;SGVsbG8=\\x07\\u2028ok    forged (wait\\x1b[2J); retrying");
    } finally {
      fake.stop(true);
    }
  });

  test("discover shows a hostile hostname and description visibly, on one line", async () => {
    const r = await runCli(["discover"], boss);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(ESC);
    expect(r.stdout).toContain("box\\x1b[2J");
    const json = await runCli(["discover", "--json"], boss);
    expect(json.json.find((a: any) => a.name === "mallory")).toMatchObject({ machine: `box${CLEAR}`, description: `helper${OSC52}` });
  });

  test("an error message that quotes another agent's text shows it visibly", async () => {
    const r = await runCli(["register", "--name", "mallory"], { home: tempHome(), relay: url });
    expect(r.code).toBe(6);
    expect(r.stderr).not.toMatch(ESC);
    expect(r.stderr).toContain("on box\\x1b[2J");
  });
});
