/** One resolver for every client setting: flag, then CLAWLINK_*, then config.json, then the saved identity, then the default. */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { saveIdentity } from "../../src/config";
import { ClawlinkError } from "../../src/errors";
import { resolveSettings } from "../../src/settings";
import { cleanup, tempHome } from "../_helpers";

afterAll(cleanup);

function home(config?: object) {
  const dir = tempHome();
  if (config) writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  return dir;
}

test("each setting takes the first of flag, env, config, identity, default, and says which", () => {
  const dir = home({ relay: "http://config:1", token_file: "secrets/token", ca: "ca.pem" });
  mkdirSync(join(dir, "secrets"));
  writeFileSync(join(dir, "secrets", "token"), "from-file\n");
  saveIdentity(dir, { id: "a_1", name: "alice", secret: "a_1.s", relay: "http://identity:1", caps: [], description: "", token: "from-identity" });
  const env = { CLAWLINK_HOME: dir };

  const fromConfig = resolveSettings({}, env);
  expect(fromConfig.relay).toEqual({ value: "http://config:1", source: "config", from: `relay in ${join(dir, "config.json")}` });
  expect(fromConfig.token).toMatchObject({ value: "from-file", source: "config" });
  // Paths in the config are relative to the folder it is in.
  expect(fromConfig.ca).toMatchObject({ value: join(dir, "ca.pem"), source: "config" });
  // The identity belongs to another relay than the config's, so it is not used.
  expect(fromConfig.me).toBeUndefined();

  const fromEnv = resolveSettings({}, { ...env, CLAWLINK_RELAY: "env:2", CLAWLINK_TOKEN: "from-env" });
  expect(fromEnv.relay).toEqual({ value: "http://env:2", source: "env", from: "CLAWLINK_RELAY" });
  expect(fromEnv.token).toEqual({ value: "from-env", source: "env", from: "CLAWLINK_TOKEN" });

  const fromFlag = resolveSettings({ relay: "https://flag:3/", token: "from-flag", ca: "x.pem" }, { ...env, CLAWLINK_RELAY: "env:2" });
  expect(fromFlag.relay).toEqual({ value: "https://flag:3", source: "flag", from: "--relay" });
  expect(fromFlag.token.source).toBe("flag");
  expect(fromFlag.ca).toMatchObject({ value: join(process.cwd(), "x.pem"), source: "flag" });
});

test("without flags, variables or config, the saved identity's relay and token are used, else the defaults", () => {
  const dir = home();
  expect(resolveSettings({}, { CLAWLINK_HOME: dir })).toMatchObject({
    relay: { value: "http://127.0.0.1:9077", source: "default" },
    token: { value: undefined, source: "default" },
    identity: undefined,
  });
  saveIdentity(dir, { id: "a_1", name: "alice", secret: "a_1.s", relay: "http://identity:1", caps: [], description: "", token: "t" });
  const s = resolveSettings({}, { CLAWLINK_HOME: dir });
  expect(s.relay).toEqual({ value: "http://identity:1", source: "identity", from: "identity alice" });
  expect(s.token).toEqual({ value: "t", source: "identity", from: "identity alice" });
  expect(s.me?.name).toBe("alice");
  expect(s.as).toMatchObject({ value: "alice", source: "default" });
});

test("a broken config file is a bad_config error naming the file and the problem", () => {
  const dir = tempHome();
  const file = join(dir, "config.json");
  const cases: [string, string][] = [
    ["not json", `the config file ${file} is not valid JSON`],
    [JSON.stringify({ relay: 9077 }), `the config file ${file} is not valid: relay: must be a URL`],
    [JSON.stringify({ token: "t" }), `the config file ${file} is not valid: unknown field token; allowed: relay, token_file, ca`],
    ["[]", `the config file ${file} is not valid: it holds an array, not one JSON object`],
    ['"relay"', `the config file ${file} is not valid: it holds a string, not one JSON object`],
    [JSON.stringify({ relay: "" }), `the config file ${file} is not valid: relay: must not be empty`],
  ];
  for (const [text, message] of cases) {
    writeFileSync(file, text);
    let err: unknown;
    try {
      resolveSettings({}, { CLAWLINK_HOME: dir });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClawlinkError);
    expect((err as ClawlinkError).code).toBe("bad_config");
    expect((err as ClawlinkError).message).toStartWith(message);
    expect((err as ClawlinkError).hint).toContain('"token_file"');
  }
  // Skipped on request (doctor reports it and carries on).
  expect(resolveSettings({}, { CLAWLINK_HOME: dir }, { config: null }).relay.source).toBe("default");
});
