/** What a one-shot command loads when it starts: its own code, never the relay's, the MCP SDK, A2A, the dashboard or citty's runtime. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { commandLoads, heavyIn } from "../../scripts/_modules";
import { root } from "../../scripts/_targets";
import { cleanup, runCli, startTestRelay, tempHome } from "../_helpers";

describe("start-up", async () => {
  const loads = await commandLoads();
  const byName = new Map(loads.map((l) => [l.command, l]));

  test("every command is in the split build, and the relay's start reaches its own code", () => {
    for (const name of ["--version", "discover", "delegate", "listen", "relay", "mcp"]) expect(byName.has(name)).toBe(true);
    expect(heavyIn(byName.get("relay")!).length).toBeGreaterThan(0);
  });

  test("no one-shot command loads relay, MCP, A2A or dashboard code", () => {
    for (const load of loads) {
      if (load.command === "relay" || load.command === "mcp" || load.command === "a2a-bridge") continue;
      expect({ command: load.command, heavy: heavyIn(load) }).toEqual({ command: load.command, heavy: [] });
    }
  });

  test("citty's runtime (its parser loads node:util) stays out of every command but --help and completion", () => {
    for (const load of loads) {
      if (load.command === "completion") continue;
      expect({ command: load.command, citty: load.modules.filter((m) => m.includes("citty")) }).toEqual({ command: load.command, citty: [] });
    }
  });

  test("--version loads neither valibot nor the client, but the answer check and the request of the entry's `discover --json`", () => {
    const entry = ["src/client/answers.ts", "src/client/early.ts"];
    expect(byName.get("--version")!.modules.filter((m) => m.includes("valibot") || (m.startsWith("src/client/") && !entry.includes(m)))).toEqual([]);
  });
});

/** The CLI built into `dir` in chunks, as the compiled binary is; its outputs by file, with what each holds. */
async function splitBuild(dir: string) {
  const out = await Bun.build({ entrypoints: [join(root, "src", "cli.ts")], outdir: dir, splitting: true, minify: true, format: "esm", target: "bun", metafile: true } as Bun.BuildConfig);
  expect(out.success).toBe(true);
  return (out as unknown as { metafile: { outputs: Record<string, { entryPoint?: string; inputs: Record<string, unknown> }> } }).metafile.outputs;
}

/**
 * What a command loads as it runs, not only at start: in the split build the chunk holding the wire
 * schemas is made to throw, so a command that succeeds never loaded them (its answers checked by hand).
 */
describe("the wire schemas at run time", () => {
  afterAll(cleanup);

  test("discover, whoami, poll (and its ack) and respond, answered as expected, never load protocol/schemas.ts", async () => {
    const dir = tempHome();
    const outputs = await splitBuild(dir);
    const relay = startTestRelay();
    const [me, peer] = [tempHome(), tempHome()];
    const as = (home: string) => ({ home, relay: relay.url, command: [process.execPath, join(dir, "cli.js")] });
    // Set up with the schemas in place: register and delegate parse with them.
    expect((await runCli(["register", "--name", "me", "--caps", "x"], as(me))).code).toBe(0);
    expect((await runCli(["register", "--name", "peer"], as(peer))).code).toBe(0);
    const task = await runCli(["delegate", "--to", "me", "--task", "hi", "--json"], as(peer));
    expect(task.code).toBe(0);

    // schemas.ts and the files of schemas/ it gathers: every chunk holding one of them throws.
    const isSchemas = (m: string) => /src\/protocol\/schemas(\.ts|\/)/.test(m);
    const holding = Object.keys(outputs).filter((file) => Object.keys(outputs[file]!.inputs).some(isSchemas));
    expect(holding.length).toBeGreaterThan(0);
    for (const file of holding) {
      const chunk = join(dir, file);
      writeFileSync(chunk, 'throw new Error("protocol/schemas.ts was loaded");\n' + readFileSync(chunk, "utf8"));
    }

    const listed = await runCli(["discover", "--json"], as(me));
    expect({ code: listed.code, stderr: listed.stderr }).toEqual({ code: 0, stderr: "" });
    expect(listed.json.map((a: { name: string }) => a.name).sort()).toEqual(["me", "peer"]);
    const who = await runCli(["whoami", "--json"], as(me));
    expect({ code: who.code, stderr: who.stderr, pending: who.json?.pending }).toEqual({ code: 0, stderr: "", pending: 1 });
    const polled = await runCli(["poll", "--json"], as(me));
    expect({ code: polled.code, stderr: polled.stderr, ids: polled.json?.map((m: { id: string }) => m.id) }).toEqual({ code: 0, stderr: "", ids: [task.json.id] });
    const answered = await runCli(["respond", "--msg-id", task.json.id, "--result", "done", "--json"], as(me));
    expect({ code: answered.code, stderr: answered.stderr }).toEqual({ code: 0, stderr: "" });
    expect((await runCli(["whoami", "--json"], as(me))).json).toMatchObject({ pending: 0, in_flight: 0 });
    // The poison works: a capability given is checked with the schemas.
    const byCap = await runCli(["discover", "--cap", "x", "--json"], as(me));
    expect({ code: byCap.code, error: byCap.json?.error?.message }).toEqual({ code: 1, error: "protocol/schemas.ts was loaded" });
  });
});

/**
 * `discover` in its plain case is answered by the entry (commands/_quick.ts): in a split build whose
 * discover chunk throws, it still lists; every other case runs the command, which takes the request the
 * entry sent already, so the relay sees it once.
 */
describe("discover from the entry", () => {
  afterAll(cleanup);

  test("the plain case never loads the command; any other case runs it, with the entry's request sent once", async () => {
    const dir = tempHome();
    const outputs = await splitBuild(dir);
    const chunk = join(dir, Object.keys(outputs).find((file) => outputs[file]!.entryPoint === "src/commands/discover.ts")!);
    writeFileSync(chunk, 'throw new Error("the discover command was loaded");\n' + readFileSync(chunk, "utf8"));
    const relay = startTestRelay();
    const me = tempHome();
    const as = (home: string, env: Record<string, string> = {}) => ({ home, relay: relay.url, env, command: [process.execPath, join(dir, "cli.js")] });
    expect((await runCli(["register", "--name", "me"], as(me))).code).toBe(0);

    for (const args of [["discover", "--json"], ["discover", "--all", "--json"]]) {
      const listed = await runCli(args, as(me));
      expect({ args, code: listed.code, stderr: listed.stderr, names: listed.json?.map((a: { name: string }) => a.name) }).toEqual({ args, code: 0, stderr: "", names: ["me"] });
    }
    const table = await runCli(["discover"], as(me));
    expect({ code: table.code, stderr: table.stderr, header: table.stdout.split("\n")[0]!.split(/\s+/) }).toEqual({ code: 0, stderr: "", header: ["ID", "NAME", "CAPS", "MACHINE", "STATUS", "LAST", "SEEN"] });
    // The command's own cases: a flag it checks, a flag before the command, an identity named, a config file.
    const loads = async (args: string[], home: string, env: Record<string, string> = {}) => (await runCli(args, as(home, env))).stderr.includes("the discover command was loaded");
    expect(await loads(["discover", "--cap", "x"], me)).toBe(true);
    expect(await loads(["--json", "discover"], me)).toBe(true);
    // Every CLAWLINK_ variable but the home, the relay and the token (which the identity's secret outranks) is the command's.
    for (const name of ["CLAWLINK_AS", "CLAWLINK_CA", "CLAWLINK_NOT_YET_READ"]) expect({ name, loads: await loads(["discover", "--json"], me, { [name]: "me" }) }).toEqual({ name, loads: true });
    expect(await loads(["discover", "--json"], me, { CLAWLINK_TOKEN: "t" })).toBe(false);
    writeFileSync(join(me, "config.json"), "{}");
    expect(await loads(["discover", "--json"], me)).toBe(true);

    // A relay that refuses, or answers in a shape the entry does not take: the command settles it from the one request.
    const seen: string[] = [];
    const answers: Record<string, () => Response> = {
      refused: () => Response.json({ error: { code: "unauthorized", message: "bad credentials", hint: "register again" } }, { status: 401 }),
      odd: () => Response.json({ agents: [{ name: "x" }] }),
    };
    let answer = answers.refused!;
    const fake = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => (seen.push(`${req.method} ${new URL(req.url).pathname} ${req.headers.get("authorization") ? "with" : "without"} secret`), answer()) });
    try {
      const other = tempHome();
      mkdirSync(join(other, "identities"));
      const saved = JSON.parse(readFileSync(join(me, "identities", "me.json"), "utf8"));
      writeFileSync(join(other, "identities", "me.json"), JSON.stringify({ ...saved, relay: fake.url.origin }));
      writeFileSync(join(other, "default"), "me\n");
      writeFileSync(chunk, readFileSync(chunk, "utf8").replace('throw new Error("the discover command was loaded");\n', ""));
      const refused = await runCli(["discover", "--json"], { ...as(other), relay: undefined });
      expect({ code: refused.code, error: refused.json?.error }).toEqual({ code: 4, error: { code: "unauthorized", message: "bad credentials", hint: "register again" } });
      answer = answers.odd!;
      const odd = await runCli(["discover", "--json"], { ...as(other), relay: undefined });
      expect({ code: odd.code, error: odd.json?.error?.code }).toEqual({ code: 1, error: "bad_response" });
      expect(seen).toEqual(["GET /v1/agents with secret", "GET /v1/agents with secret"]);
    } finally {
      fake.stop(true);
    }
  });
});
