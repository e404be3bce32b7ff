/** Identities: only the relay issues ids, names never stand for ids, and taking an identity back needs its secret. */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { agentSecret, weakness } from "../../src/relay/keys";
import { sha256Hex } from "../../src/relay/ids";
import { NAME_HINT } from "../../src/protocol/schemas";
import { MemoryStore } from "../../src/relay/store/memory";
import { agentOf, CliProcess, cleanup, eventually, runCli, spawnRelay, startTestRelay, tempHome } from "../_helpers";
import { api, registerAgent } from "../_http";

afterAll(cleanup);

const KEY = new Uint8Array(32).fill(7);
const forged = (id: string) => `${id}.${"A".repeat(43)}`;

describe("squatting another agent's identity (the review's repro)", () => {
  const store = new MemoryStore();
  const relay = startTestRelay({ secretKey: KEY, store });
  const call = api(relay.url);
  const bob = { home: tempHome(), relay: relay.url };
  const alice = { home: tempHome(), relay: relay.url };

  test("a registration that chooses its id is a 400 with a hint, whatever the id", async () => {
    expect((await runCli(["register", "--name", "bob"], bob)).code).toBe(0);
    expect((await runCli(["register", "--name", "alice"], alice)).code).toBe(0);
    for (const id of ["bob", "relay", "a2a", "__proto__", "../../etc", "a_short", "a_0123456789AB"]) {
      const r = await call("POST", "/v1/agents", { json: { name: "mallory", id, secret: `${id}.x` } });
      expect(r.status).toBe(400);
      expect(r.body.error).toEqual({
        code: "bad_request",
        message: "invalid registration: id: an agent id is issued by the relay (a_ and 12 lowercase letters or digits); leave out id and secret to register a new agent",
        hint: "see docs/protocol.md for the fields",
      });
    }
    expect((await relay.core.listAgents({ all: true })).map((a) => a.name)).toEqual(["alice", "bob"]);
  });

  test("so `delegate --to bob` reaches bob, from alice", async () => {
    const bobId = (await runCli(["whoami", "--json"], bob)).json.id;
    const aliceId = (await runCli(["whoami", "--json"], alice)).json.id;
    const sent = await runCli(["delegate", "--to", "bob", "--task", "review PR 7", "--json"], alice);
    expect(sent.code).toBe(0);
    expect(sent.json.to).toBe(bobId);
    const inbox = (await runCli(["poll", "--json"], bob)).json;
    expect(inbox).toEqual([expect.objectContaining({ type: "task", task: "review PR 7", from: aliceId })]);
  });

  test("names shaped like ids and the reserved names are refused at registration", async () => {
    const bobId = (await runCli(["whoami", "--json"], bob)).json.id;
    for (const [name, message] of [
      [bobId, "a name must not start with a_, which is how agent ids start"],
      ["A_anything", "a name must not start with a_, which is how agent ids start"],
      ["relay", "the names relay and a2a are reserved for the relay"],
      ["A2A", "the names relay and a2a are reserved for the relay"],
    ]) {
      const r = await call("POST", "/v1/agents", { json: { name } });
      expect(r.status).toBe(400);
      expect(r.body.error.message).toBe(`invalid registration: name: ${message}`);
      // The next step is another name, not the protocol's field list.
      expect(r.body.error.hint).toBe(NAME_HINT);
      const cli = await runCli(["register", "--name", name!], { home: tempHome(), relay: relay.url });
      expect(cli.code).toBe(2);
      expect(cli.stderr).toContain(`error: --name: ${message}\nhint: choose another --name`);
    }
  });

  test("a name held by an agent that is connected now says so, not when it was last seen", async () => {
    const listener = new CliProcess(["listen"], bob);
    await listener.waitFor(/listening as bob/);
    const r = await runCli(["register", "--name", "bob"], { home: tempHome(), relay: relay.url });
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/error: the name "bob" belongs to agent a_\w+ on .+, connected now\n/);
    expect(r.stderr).toContain("hint: choose another --name");
    await listener.stop();
  });

  test("a value shaped like an id resolves by id only, anything else by name only", async () => {
    const bobId = (await runCli(["whoami", "--json"], bob)).json.id;
    const aliceId = (await runCli(["whoami", "--json"], alice)).json.id;
    // Records a relay of an earlier version may have kept: an agent whose id is "bob", one whose name is bob's id.
    const legacy = { caps: [], description: "", machine: "", secretHash: sha256Hex("x") };
    const keep = { staleBefore: 0, maxAgents: 100, takeOver: false, allowNew: true, note: "", room: {} };
    await store.claimName({ ...legacy, id: "bob", name: "mallory" }, Date.now(), keep);
    await store.claimName({ ...legacy, id: "a_mallory00000", name: bobId }, Date.now(), keep);
    expect((await call("GET", `/v1/agents/${bobId}`)).body.name).toBe("bob");
    expect((await call("GET", "/v1/agents/bob")).body.id).toBe(bobId);
    const sent = await runCli(["delegate", "--to", "bob", "--task", "still bob's", "--json"], alice);
    expect(sent.json.to).toBe(bobId);
    const byId = await runCli(["delegate", "--to", bobId, "--task", "by id", "--json"], alice);
    expect(byId.json.to).toBe(bobId);
    expect((await runCli(["poll", "--json"], bob)).json.map((m: any) => [m.task, m.from])).toEqual([
      ["still bob's", aliceId],
      ["by id", aliceId],
    ]);
    await store.unregisterAgent("bob", Date.now(), "", {});
    await store.unregisterAgent("a_mallory00000", Date.now(), "", {});
  });
});

describe("re-registering an existing id", () => {
  const TOKEN = "team-token";
  const store = new MemoryStore();
  const relay = startTestRelay({ token: TOKEN, secretKey: KEY, maxAuthFailures: 1000, store });
  const call = api(relay.url);

  test("the relay issues `<id>.` + base64url(HMAC-SHA256(key, id)) and keeps only its SHA-256", async () => {
    const a = await registerAgent(relay.url, "derived", TOKEN);
    expect(a.id).toMatch(/^a_[0-9a-z]{12}$/);
    expect(a.secret).toBe(agentSecret(KEY, a.id));
    expect((await store.getAgent(a.id))!.secretHash).toBe(sha256Hex(a.secret));
  });

  test("a wrong secret in the body is 403; a wrong secret in the header is 401", async () => {
    const a = await registerAgent(relay.url, "known", TOKEN);
    const body = await call("POST", "/v1/agents", { bearer: TOKEN, json: { name: "known", id: a.id, secret: forged(a.id) } });
    expect(body.status).toBe(403);
    expect(body.body.error).toMatchObject({ code: "forbidden", message: `the secret does not match agent ${a.id}` });
    const header = await call("POST", "/v1/agents", { bearer: forged(a.id), json: { name: "known", id: a.id, secret: a.secret } });
    expect(header.status).toBe(401);
    expect(header.body.error).toMatchObject({ code: "unauthorized", message: `the secret does not match agent ${a.id}` });
    const none = await call("POST", "/v1/agents", { bearer: TOKEN, json: { name: "known", id: a.id } });
    expect(none.status).toBe(403);
    expect(none.body.error.message).toBe(`re-registering agent ${a.id} needs its secret`);
  });

  test("an id the relay forgot comes back only with the secret it issued: the token alone cannot claim it", async () => {
    const a = await registerAgent(relay.url, "forgotten", TOKEN);
    await relay.core.unregister(await agentOf(relay, a.secret));
    const claim = await call("POST", "/v1/agents", { bearer: TOKEN, json: { name: "forgotten", id: a.id, secret: forged(a.id) } });
    expect(claim.status).toBe(403);
    expect(claim.body.error).toMatchObject({
      code: "unrecognized_identity",
      message: `the relay does not know agent ${a.id} and did not issue this secret: its key changed (a relay without --key-file or --data makes a new one at each start)`,
    });
    expect(claim.body.error.hint).toContain("register afresh under the same name");
    expect(await relay.core.knows(a.id)).toBe(false);
    // Its own secret is proof enough, in the header as well as in the body: no token needed.
    const back = await call("POST", "/v1/agents", { bearer: a.secret, json: { name: "forgotten", id: a.id, secret: a.secret } });
    expect(back.status).toBe(201);
    expect(back.body).toMatchObject({ id: a.id, secret: a.secret });
  });

  test("a forgotten agent's secret re-registers that agent only", async () => {
    const a = await registerAgent(relay.url, "returner", TOKEN);
    const b = await registerAgent(relay.url, "other", TOKEN);
    await relay.core.unregister(await agentOf(relay, a.secret));
    await relay.core.unregister(await agentOf(relay, b.secret));
    const r = await call("POST", "/v1/agents", { bearer: a.secret, json: { name: "other", id: b.id, secret: b.secret } });
    expect(r.status).toBe(403);
    expect(r.body.error.message).toBe(`agent ${a.id} can re-register only itself; a new agent joins with the relay token`);
  });
});

describe("taking over a stale agent's name", () => {
  const TOKEN = "team-token";
  const relay = startTestRelay({ token: TOKEN, staleAfterMs: 200, maxAuthFailures: 1000 });
  const call = api(relay.url);

  test("needs the relay token: an agent's own secret cannot take another agent's stale name", async () => {
    const bob = await registerAgent(relay.url, "bob", TOKEN);
    const mallory = await registerAgent(relay.url, "mallory", TOKEN);
    await eventually(async () => (await call("GET", "/v1/agents/bob", { bearer: TOKEN })).body.status === "stale");
    const taken = await call("POST", "/v1/agents", { bearer: mallory.secret, json: { name: "bob", id: mallory.id, secret: mallory.secret } });
    expect(taken.status).toBe(403);
    expect(taken.body.error.message).toMatch(new RegExp(`^the name "bob" belongs to agent ${bob.id}, not seen for \\d+s; only a registration with the relay token can take over a stale agent's name$`));
    expect(taken.body.error.hint).toBe("pass the relay token with --token (or CLAWLINK_TOKEN), or choose another --name");
    expect((await relay.core.getAgent(bob.id)).name).toBe("bob");
    expect((await relay.core.getAgent(mallory.id)).name).toBe("mallory");

    const withToken = await call("POST", "/v1/agents", { bearer: TOKEN, json: { name: "bob" } });
    expect(withToken.status).toBe(201);
    expect(await relay.core.knows(bob.id)).toBe(false);
  });
});

describe("--key-file", () => {
  test("a key file shorter than 32 bytes is a usage error", async () => {
    const path = join(tempHome(), "short.key");
    writeFileSync(path, "too short", { mode: 0o600 });
    const r = await runCli(["relay", "--port", "0", "--key-file", path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the key file ${path} holds 9 bytes; a relay key needs at least 32 random bytes`);
  });

  test("a key file with a pattern or little entropy is a usage error that says how to make one", async () => {
    const dir = tempHome();
    const cases: [string, string | Uint8Array, string][] = [
      ["same.key", "a".repeat(64), "it repeats a short pattern"],
      ["abab.key", "ab".repeat(32) + "\n", "it repeats a short pattern"],
      ["run.key", new Uint8Array(64).map((_, i) => i), "it repeats a short pattern"],
      ["typed.key", "my relay key is password password!", "its bytes hold about 125 bits of entropy, under 128"],
    ];
    for (const [name, content, why] of cases) {
      const path = join(dir, name);
      writeFileSync(path, content, { mode: 0o600 });
      const r = await runCli(["relay", "--port", "0", "--key-file", path]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`the key file ${path} is not random enough for a relay key: ${why}; whoever guesses it can make any agent's secret`);
      // The hint follows the error on stderr, stdout stays empty (consola's fancy reporter drops the backticks, its plain one in CI keeps them).
      expect(r.stdout).toBe("");
      expect(r.stderr.replaceAll("`", "")).toContain(`write a random one with openssl rand -hex 32 > ${path} && chmod 600 ${path}`);
    }
  });

  test("keys made as the docs say are never taken for weak ones: 32 random bytes, or `openssl rand -hex 32`", () => {
    for (let i = 0; i < 500; i++) {
      const raw = crypto.getRandomValues(new Uint8Array(32));
      expect(weakness(raw)).toBeUndefined();
      expect(weakness(new TextEncoder().encode(Buffer.from(raw).toString("hex") + "\n"))).toBeUndefined();
    }
  });

  test("a key file other users can read is a usage error: chmod 600", async () => {
    const path = join(tempHome(), "shared.key");
    writeFileSync(path, Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex"), { mode: 0o644 });
    const r = await runCli(["relay", "--port", "0", "--key-file", path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the key file ${path} can be read or changed by other users (mode 644); whoever reads it can make any agent's secret`);
    expect(r.stdout).toBe("");
    expect(r.stderr.replaceAll("`", "")).toContain(`run chmod 600 ${path} and start the relay again`);
    chmodSync(path, 0o600);
    const { relay } = await spawnRelay(["--key-file", path]);
    await relay.stop();
  });

  test("a missing key file is created with mode 0600", async () => {
    const path = join(tempHome(), "keys", "relay.key");
    const { relay } = await spawnRelay(["--key-file", path]);
    await relay.waitFor(/created the relay key/);
    const file = Bun.file(path);
    expect(file.size).toBe(32);
    expect((await file.stat()).mode & 0o777).toBe(0o600);
    await relay.stop();
  });
});
