/** A first-time user's broken setups: a corrupt identity, a config that names another relay, a stray config.toml, odd servers. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, freePort, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

let url: string;
let other: string;
let doc1: string;

beforeAll(async () => {
  ({ url } = await spawnRelay());
  ({ url: other } = await spawnRelay());
  doc1 = tempHome();
  expect((await runCli(["register", "--name", "doc1"], { home: doc1, relay: url })).code).toBe(0);
});

const check = (report: any, name: string) => report.checks.find((c: any) => c.name === name);

/** A home holding doc1's identity and `files`, with `default` naming doc2. */
function homeWithDoc2(doc2: string): { home: string; file: string } {
  const home = tempHome();
  cpSync(join(doc1, "identities"), join(home, "identities"), { recursive: true });
  const file = join(home, "identities", "doc2.json");
  writeFileSync(file, doc2, { mode: 0o600 });
  writeFileSync(join(home, "default"), "doc2\n");
  return { home, file };
}

describe("a corrupt saved identity", () => {
  test("is an error naming the file (exit 2) for whoami and every command, never a quiet switch to another identity", async () => {
    const { home, file } = homeWithDoc2("{ not json");
    for (const args of [["whoami", "--json"], ["poll", "--json"], ["discover", "--json"]]) {
      const r = await runCli(args, { home, relay: url });
      expect({ args, code: r.code, error: r.json.error.code }).toEqual({ args, code: 2, error: "bad_identity" });
      expect(r.json.error.message).toStartWith(`the saved identity ${file} is not valid JSON`);
      expect(r.json.error.hint).toContain("clawlink register --name NAME");
      expect(r.stdout).not.toContain("doc1");
    }
    const human = await runCli(["whoami"], { home, relay: url });
    expect(human.code).toBe(2);
    expect(human.stderr).toContain(`error: the saved identity ${file} is not valid JSON`);
  });

  test("a file that parses but is not an identity names the field", async () => {
    const { home, file } = homeWithDoc2(JSON.stringify({ name: "doc2" }));
    const r = await runCli(["whoami", "--json"], { home, relay: url });
    expect(r.code).toBe(2);
    expect(r.json.error.message).toStartWith(`the saved identity ${file} is not a saved identity: id:`);
  });

  test("doctor fails the identity check naming the file, with and without --as, and still checks the relay", async () => {
    const { home, file } = homeWithDoc2("{ not json");
    for (const extra of [[], ["--as", "doc2"]]) {
      const r = await runCli(["doctor", "--json", ...extra], { home, relay: url });
      expect(r.code).toBe(2);
      expect(check(r.json, "identity")).toMatchObject({ status: "fail", exit: 2 });
      expect(check(r.json, "identity").message).toStartWith(`the saved identity ${file} is not valid JSON`);
      expect(check(r.json, "relay").status).toBe("ok");
    }
    const human = await runCli(["doctor"], { home, relay: url });
    expect(human.stdout).not.toContain("all good");
    expect(human.stdout).toContain("1 problem (identity); exit 2");
  });
});

describe("doctor", () => {
  test("--as a name that is not saved still checks the relay, prints the settings, and names the saved identities", async () => {
    const r = await runCli(["doctor", "--json", "--as", "ghost"], { home: doc1, relay: url });
    expect(r.code).toBe(5);
    expect(check(r.json, "relay").status).toBe("ok");
    expect(check(r.json, "token").status).toBe("ok");
    expect(check(r.json, "identity")).toMatchObject({ status: "fail", message: `no saved identity named "ghost" in ${doc1}`, fix: "register it: `clawlink register --name ghost`; or act as a saved one with --as (saved: doc1)", exit: 5 });
    expect(r.json.settings.find((s: any) => s.name === "CLAWLINK_AS")).toMatchObject({ value: "ghost", source: "flag" });
  });

  test("a server that is not a relay (404) is exit 3: not reachable as a ClawLink relay", async () => {
    const web = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("not found", { status: 404 }) });
    try {
      const r = await runCli(["doctor", "--json"], { home: tempHome(), relay: web.url.origin });
      expect(r.code).toBe(3);
      expect(check(r.json, "relay")).toMatchObject({ status: "fail", exit: 3, message: `${web.url.origin} answered 404 to GET /v1/health: it is not reachable as a ClawLink relay` });
      expect(check(r.json, "relay").fix).toBe("check CLAWLINK_RELAY: it should point at `clawlink relay`");
    } finally {
      web.stop(true);
    }
  });

  test("a token check that gets an unexpected answer is exit 4 with a fix", async () => {
    const odd = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => (new URL(req.url).pathname === "/v1/health" ? Response.json({ ok: true, version: "0.0.0", agents: 0 }) : new Response("oops", { status: 500 })),
    });
    try {
      const r = await runCli(["doctor", "--json"], { home: tempHome(), relay: odd.url.origin });
      expect(r.code).toBe(4);
      expect(check(r.json, "token")).toMatchObject({ status: "fail", exit: 4 });
      expect(check(r.json, "token").message).toStartWith("the relay answered GET /v1/agents unexpectedly (500");
      expect(check(r.json, "token").fix).toBeString();
    } finally {
      odd.stop(true);
    }
  });

  test("an empty token_file fails the token check alone; the relay it names is still the one checked", async () => {
    const home = tempHome();
    writeFileSync(join(home, "config.json"), JSON.stringify({ relay: url, token_file: "relay-token" }));
    writeFileSync(join(home, "relay-token"), "", { mode: 0o600 });
    const r = await runCli(["doctor", "--json"], { home });
    expect(r.code).toBe(2);
    expect(check(r.json, "token")).toMatchObject({ status: "fail", exit: 2, message: `token_file in ${join(home, "config.json")}: ${join(home, "relay-token")} is empty` });
    expect(check(r.json, "relay")).toMatchObject({ status: "ok" });
    expect(r.json.relay).toBe(url);
  });

  test("an invalid config file: the relay checks are not run against the default relay", async () => {
    const home = tempHome();
    writeFileSync(join(home, "config.json"), "[]");
    const r = await runCli(["doctor", "--json"], { home });
    expect(r.code).toBe(2);
    expect(check(r.json, "config")).toMatchObject({ status: "fail", message: `the config file ${join(home, "config.json")} is not valid: it holds an array, not one JSON object` });
    for (const name of ["relay", "token", "identity"]) expect(check(r.json, name)).toMatchObject({ status: "skip", message: "not run: the config file is invalid, so the relay to check is not known" });
  });

  test("warns about a token_file or identity file other users can read", async () => {
    const home = tempHome();
    cpSync(join(doc1, "identities"), join(home, "identities"), { recursive: true });
    writeFileSync(join(home, "config.json"), JSON.stringify({ token_file: "relay-token" }));
    writeFileSync(join(home, "relay-token"), "t\n");
    chmodSync(join(home, "relay-token"), 0o644);
    chmodSync(join(home, "identities", "doc1.json"), 0o644);
    const r = await runCli(["doctor", "--json"], { home });
    const warnings = r.json.checks.filter((c: any) => c.name === "permissions");
    expect(warnings.map((c: any) => c.fix).sort()).toEqual([`chmod 600 ${join(home, "identities", "doc1.json")}`, `chmod 600 ${join(home, "relay-token")}`]);
    expect(warnings[0]).toMatchObject({ status: "warn" });
    expect(warnings[0].message).toContain("other users of this machine can read it (mode 644)");
  });
});

describe("a relay answering in a shape the client does not know", () => {
  test("discover, broadcast, poll and whoami (its health, then its heartbeat) refuse it as bad_response (exit 1) with the same message, whether the answer is malformed or one field is off", async () => {
    const agent = { id: "a_0123456789ab", name: "odd", caps: [], description: "", machine: "", status: "online", connected: true, registered_at: "t", last_seen: "t" };
    const answers: Record<string, unknown>[] = [
      { agents: [agent, { ...agent, status: "busy" }], sent: { id: "" }, health: { ok: true, version: "0", agents: 0 }, beat: { ...agent, pending: "1" }, inbox: { messages: [{ type: "progress", id: "m", from: "f", to: null, created_at: "t", in_reply_to: "m_0", note: 1 }] } },
      { agents: "none", sent: [], health: { ok: "yes", version: "0", agents: 0 }, beat: null, inbox: { messages: null } },
    ];
    for (const answer of answers) {
      const odd = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        fetch: (req) => {
          const path = new URL(req.url).pathname;
          if (path === "/v1/agents") return Response.json({ agents: answer.agents });
          if (path === "/v1/messages") return Response.json(answer.sent, { status: 201 });
          if (path.endsWith("/heartbeat")) return Response.json(answer.beat);
          if (path.endsWith("/inbox")) return Response.json(answer.inbox);
          return Response.json(answer.health);
        },
      });
      try {
        const relay = odd.url.origin;
        const home = tempHome();
        cpSync(join(doc1, "identities"), join(home, "identities"), { recursive: true });
        const saved = JSON.parse(await Bun.file(join(home, "identities", "doc1.json")).text());
        writeFileSync(join(home, "identities", "doc1.json"), JSON.stringify({ ...saved, relay }), { mode: 0o600 });
        const said = `the relay at ${relay} answered in an unexpected shape`;
        for (const args of [["discover", "--json"], ["broadcast", "--content", "hi", "--json"], ["poll", "--json"]]) {
          const r = await runCli(args, { home, relay });
          expect({ args, code: r.code, error: r.json?.error }).toEqual({ args, code: 1, error: { code: "bad_response", message: said, hint: "check that the relay runs the same clawlink version as this client (`clawlink --version`)" } });
        }
        const who = await runCli(["whoami", "--json"], { home, relay });
        expect({ code: who.code, registered: who.json.registered, problem: who.json.problem }).toEqual({ code: 1, registered: null, problem: { code: "bad_response", message: said, hint: expect.any(String) } });
      } finally {
        odd.stop(true);
      }
    }
  });
});

describe("where the relay came from", () => {
  test("an identity saved for another relay than the config's: the hint names the config file, not --relay", async () => {
    const home = tempHome();
    cpSync(join(doc1, "identities"), join(home, "identities"), { recursive: true });
    writeFileSync(join(home, "default"), "doc1\n");
    const config = join(home, "config.json");
    writeFileSync(config, JSON.stringify({ relay: other }));
    const r = await runCli(["poll", "--json"], { home });
    expect(r.code).toBe(5);
    expect(r.json.error.hint).toBe(`the relay comes from relay in ${config}: pass --relay ${url} to use the identity's own, or change the config file; if ${other} belongs to the same team (one Redis), add it to doc1's relays: \`clawlink register --name doc1 --relay ${url},${other}\` (keeps its id); or register a new name with ${other}`);
    expect(r.json.error.hint).not.toContain("CLAWLINK_RELAY");
  });

  test("an unreachable relay from the config file: the hint names the file", async () => {
    const home = tempHome();
    const config = join(home, "config.json");
    const down = `http://127.0.0.1:${freePort()}`;
    writeFileSync(config, JSON.stringify({ relay: down }));
    const r = await runCli(["discover", "--json"], { home });
    expect(r.code).toBe(3);
    expect(r.json.error.hint).toBe(`the URL comes from relay in ${config}: start the relay there with \`clawlink relay --port ${new URL(down).port}\`, or change relay in ${config} to a running one`);
  });
});

describe("config file shape", () => {
  test("an unknown field is named with the allowed ones; a config.toml alone is not read, and every command says so", async () => {
    const home = tempHome();
    writeFileSync(join(home, "config.json"), JSON.stringify({ tokenfile: "x" }));
    const r = await runCli(["whoami", "--json"], { home, relay: url });
    expect(r.code).toBe(2);
    expect(r.json.error.message).toBe(`the config file ${join(home, "config.json")} is not valid: unknown field tokenfile; allowed: relay, token_file, ca`);

    const tomlHome = tempHome();
    writeFileSync(join(tomlHome, "config.toml"), `relay = "${url}"\n`);
    const w = await runCli(["whoami", "--json"], { home: tomlHome });
    expect(w.stderr).toContain(`warning: ${join(tomlHome, "config.toml")} is not read: clawlink reads only config.json`);
    const d = await runCli(["doctor", "--json"], { home: tomlHome, relay: url });
    expect(d.json.checks).toContainEqual(expect.objectContaining({ name: "config", status: "warn", message: `${join(tomlHome, "config.toml")} is not read: clawlink reads only config.json` }));
  });
});

describe("mcp-config", () => {
  test("a relative CLAWLINK_HOME becomes absolute in every snippet", async () => {
    for (const client of ["codex", "claude", "cursor"]) {
      const r = await runCli(["mcp-config", "--for", client, "--json"], { env: { CLAWLINK_HOME: "relhome" } });
      expect(r.code).toBe(0);
      expect(r.json.env.CLAWLINK_HOME).toBe(join(process.cwd(), "relhome"));
      for (const s of r.json.snippets) expect(s.text).not.toMatch(/CLAWLINK_HOME[^\n]*"relhome"|CLAWLINK_HOME=relhome/);
    }
  });
});
