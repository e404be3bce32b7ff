/** `clawlink doctor` and the config file: what an agent sees when its setup is right, and each way it can be wrong. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { cleanup, freePort, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

const TOKEN = "doctor-test-token";
let url: string;
let other: string;
let alice: string;

beforeAll(async () => {
  ({ url } = await spawnRelay([], { CLAWLINK_TOKEN: TOKEN }));
  ({ url: other } = await spawnRelay());
  alice = tempHome();
  const r = await runCli(["register", "--name", "alice", "--token", TOKEN], { home: alice, relay: url });
  expect(r.code).toBe(0);
});

const check = (report: any, name: string) => report.checks.find((c: any) => c.name === name);
const setting = (report: any, name: string) => report.settings.find((s: any) => s.name === name);

describe("doctor", () => {
  test("with the relay up and a registered identity, every check passes and each setting names its source", async () => {
    const r = await runCli(["doctor", "--json"], { home: alice });
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, exit: 0, version: pkg.version, relay: url });
    for (const name of ["relay", "tls", "version", "clock", "token", "identity"]) expect({ name, status: check(r.json, name).status }).toEqual({ name, status: "ok" });
    expect(check(r.json, "config").status).toBe("skip");
    expect(check(r.json, "identity").message).toMatch(/^alice \(a_\w+\) is registered with this relay; 0 messages wait for it$/);
    expect(setting(r.json, "CLAWLINK_RELAY")).toEqual({ name: "CLAWLINK_RELAY", value: url, source: "identity", from: "identity alice" });
    expect(setting(r.json, "CLAWLINK_HOME")).toEqual({ name: "CLAWLINK_HOME", value: alice, source: "env", from: "CLAWLINK_HOME" });
    // The token is never printed, only where it came from.
    expect(setting(r.json, "CLAWLINK_TOKEN")).toEqual({ name: "CLAWLINK_TOKEN", value: `(set, ${TOKEN.length} characters)`, source: "identity", from: "identity alice" });
    expect(r.stdout).not.toContain(TOKEN);

    const human = await runCli(["doctor"], { home: alice });
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`ok    relay       ${url} answers`);
    expect(human.stdout).toContain("CLAWLINK_RELAY  " + url);
    expect(human.stdout.trimEnd()).toEndWith("all good");
  });

  test("with the relay down: exit 3, and the fix says to start one", async () => {
    const down = `http://127.0.0.1:${freePort()}`;
    const r = await runCli(["doctor", "--json"], { home: tempHome(), relay: down });
    expect(r.code).toBe(3);
    expect(r.json).toMatchObject({ ok: false, exit: 3 });
    expect(check(r.json, "relay")).toMatchObject({ status: "fail", message: `the relay is not reachable at ${down} (ECONNREFUSED)`, exit: 3 });
    expect(check(r.json, "relay").fix).toBe(`the URL comes from CLAWLINK_RELAY: start the relay there with \`clawlink relay --port ${new URL(down).port}\`, or change CLAWLINK_RELAY to a running one`);
    expect(check(r.json, "token").status).toBe("skip");

    const human = await runCli(["doctor"], { home: tempHome(), relay: down });
    expect(human.code).toBe(3);
    expect(human.stdout).toContain(`FAIL  relay       the relay is not reachable at ${down}`);
    expect(human.stdout).toContain(`fix: the URL comes from CLAWLINK_RELAY: start the relay there with \`clawlink relay --port ${new URL(down).port}\``);
    expect(human.stdout).toContain("1 problem (relay); exit 3");
  });

  test("with a wrong token: exit 4, naming where the token came from", async () => {
    const r = await runCli(["doctor", "--json", "--token", "not-the-token"], { home: alice });
    expect(r.code).toBe(4);
    expect(check(r.json, "token")).toMatchObject({ status: "fail", message: "the relay does not accept the token from --token", exit: 4 });
    expect(check(r.json, "token").fix).toContain("CLAWLINK_TOKEN");
    // The agent's own secret still works: only the token is wrong.
    expect(check(r.json, "identity").status).toBe("ok");

    const none = await runCli(["doctor", "--json"], { home: tempHome(), relay: url });
    expect(none.code).toBe(4);
    expect(check(none.json, "token")).toMatchObject({ status: "fail", message: "the relay needs a token and none is set" });
  });

  test("with an identity registered on another relay: exit 5, and the fix says which setting to drop", async () => {
    const r = await runCli(["doctor", "--json"], { home: alice, env: { CLAWLINK_RELAY: other } });
    expect(r.code).toBe(5);
    expect(check(r.json, "identity")).toMatchObject({
      status: "fail",
      message: `the saved identity "alice" was registered with ${url}, not ${other} (from CLAWLINK_RELAY)`,
      fix: `drop CLAWLINK_RELAY so the identity's own relay (${url}) is used; if ${other} belongs to the same team (one Redis), add it to alice's relays: \`clawlink register --name alice --relay ${url},${other}\` (keeps its id); or register a new name with ${other}`,
      exit: 5,
    });
    expect(check(r.json, "relay").status).toBe("ok");
  });

  test("with an identity file copied from another relay at this address: exit 5, and heartbeat is the fix", async () => {
    const copy = tempHome();
    mkdirSync(join(copy, "identities"), { recursive: true });
    const identity = JSON.parse(readFileSync(join(alice, "identities", "alice.json"), "utf8"));
    writeFileSync(join(copy, "identities", "alice.json"), JSON.stringify({ ...identity, relay: other, token: undefined }));
    const r = await runCli(["doctor", "--json"], { home: copy });
    expect(r.code).toBe(5);
    expect(check(r.json, "identity")).toMatchObject({ status: "fail", exit: 5 });
    expect(check(r.json, "identity").message).toContain(`the relay does not know alice (${identity.id})`);
    expect(check(r.json, "identity").fix).toContain("`clawlink heartbeat`");
  });

  test("warns about a CLAWLINK_* variable clawlink does not read, without failing", async () => {
    const r = await runCli(["doctor", "--json"], { home: alice, env: { CLAWLINK_RELAYS: "x" } });
    expect(r.code).toBe(0);
    expect(r.json.checks).toContainEqual(expect.objectContaining({ name: "environment", status: "warn", message: "CLAWLINK_RELAYS is set, but clawlink reads no such variable" }));
  });
});

describe("the config file", () => {
  function homeWith(config: unknown, token?: string): string {
    const home = tempHome();
    writeFileSync(join(home, "config.json"), typeof config === "string" ? config : JSON.stringify(config));
    if (token !== undefined) writeFileSync(join(home, "relay-token"), `${token}\n`);
    return home;
  }

  test("gives the relay and the token (from its token_file) to every command, so no variables are needed", async () => {
    const home = homeWith({ relay: url, token_file: "relay-token" }, TOKEN);
    const reg = await runCli(["register", "--name", "carol", "--json"], { home });
    expect(reg.code).toBe(0);
    const r = await runCli(["doctor", "--json"], { home });
    expect(r.code).toBe(0);
    expect(setting(r.json, "CLAWLINK_RELAY")).toEqual({ name: "CLAWLINK_RELAY", value: url, source: "config", from: `relay in ${join(home, "config.json")}` });
    expect(setting(r.json, "CLAWLINK_TOKEN")).toMatchObject({ source: "config", from: `token_file in ${join(home, "config.json")}` });
    expect(check(r.json, "config").message).toBe(`${join(home, "config.json")} sets relay, token_file`);
  });

  test("loses to the environment, which loses to a flag", async () => {
    const home = homeWith({ relay: "http://127.0.0.1:1" });
    const env = await runCli(["doctor", "--json"], { home, env: { CLAWLINK_RELAY: url } });
    expect(setting(env.json, "CLAWLINK_RELAY")).toMatchObject({ value: url, source: "env", from: "CLAWLINK_RELAY" });
    const flag = await runCli(["doctor", "--json", "--relay", other], { home, env: { CLAWLINK_RELAY: url } });
    expect(setting(flag.json, "CLAWLINK_RELAY")).toMatchObject({ value: other, source: "flag", from: "--relay" });
    const config = await runCli(["doctor", "--json"], { home });
    expect(setting(config.json, "CLAWLINK_RELAY")).toMatchObject({ value: "http://127.0.0.1:1", source: "config" });
    expect(config.code).toBe(3);
  });

  test("a malformed file is an error that names it (exit 2), for doctor and for any other command", async () => {
    for (const [config, problem] of [
      ["{ relay: ", "is not valid JSON"],
      [{ relay: url, tokn: "x" }, "is not valid: unknown field tokn; allowed: relay, token_file, ca"],
      [{ relay: "ftp://relay" }, 'relay: "ftp://relay" is not an http(s) URL'],
    ] as const) {
      const home = homeWith(config);
      const file = join(home, "config.json");
      const whoami = await runCli(["whoami", "--json"], { home });
      expect({ code: whoami.code, code2: whoami.json.error.code }).toEqual({ code: 2, code2: "bad_config" });
      expect(whoami.json.error.message).toStartWith(`the config file ${file} `);
      expect(whoami.json.error.message).toContain(problem);
      const doctor = await runCli(["doctor", "--json"], { home, relay: url });
      expect(doctor.code).toBe(2);
      expect(check(doctor.json, "config")).toMatchObject({ status: "fail", exit: 2 });
      // The other checks still ran, without the broken file.
      expect(check(doctor.json, "relay").status).toBe("ok");
    }
  });

  test("a token_file that cannot be read is named with the config that points at it", async () => {
    const home = homeWith({ relay: url, token_file: "nowhere" });
    const r = await runCli(["discover", "--json"], { home });
    expect(r.code).toBe(2);
    expect(r.json.error).toMatchObject({ code: "bad_config", message: `token_file in ${join(home, "config.json")}: no such file: ${join(home, "nowhere")}` });
  });
});
