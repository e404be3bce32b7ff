/** Per-agent credentials: who may do what, each rule refused with a 403 that names it. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha256Hex } from "../../src/relay/ids";
import { MemoryStore } from "../../src/relay/store/memory";
import { agentOf, cleanup, runCli, startTestRelay, taskOf, tempHome } from "../_helpers";
import { api, registerAgent } from "../_http";
import { wsConnect } from "../ws";

afterAll(cleanup);

const TOKEN = "team-token";

describe("per-agent credentials", () => {
  const store = new MemoryStore();
  const relay = startTestRelay({ token: TOKEN, maxAuthFailures: 1000, store });
  const call = api(relay.url);
  let alice: { id: string; secret: string };
  let bob: { id: string; secret: string };
  let carol: { id: string; secret: string };
  let taskId = "";

  beforeAll(async () => {
    alice = await registerAgent(relay.url, "alice", TOKEN);
    bob = await registerAgent(relay.url, "bob", TOKEN);
    carol = await registerAgent(relay.url, "carol", TOKEN);
    const sent = await call("POST", "/v1/messages", { bearer: alice.secret, json: { type: "task", to: "bob", task: "review PR 7" } });
    taskId = sent.body.id;
    // Bob takes the task, so it is delivered and held by him.
    await call("GET", `/v1/agents/${bob.id}/inbox`, { bearer: bob.secret });
  });

  test("registering needs the relay token and returns the secret once; the relay keeps only its hash", async () => {
    const none = await call("POST", "/v1/agents", { json: { name: "dave" } });
    expect(none.status).toBe(401);
    expect(none.body.error.message).toBe("this relay needs a token to register");
    const wrong = await call("POST", "/v1/agents", { bearer: "guess", json: { name: "dave" } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toBe("the token is not valid for this relay");

    expect(alice.secret.startsWith(`${alice.id}.`)).toBe(true);
    const record = (await store.getAgent(alice.id))!;
    expect(record.secretHash).toBe(sha256Hex(alice.secret));
    expect(JSON.stringify(record)).not.toContain(alice.secret.split(".")[1]);
    const view = await call("GET", `/v1/agents/${alice.id}`, { bearer: TOKEN });
    expect(view.body.secret).toBeUndefined();
    expect(view.text).not.toContain(alice.secret);
  });

  test("an agent reads, acknowledges, heartbeats and unregisters only itself", async () => {
    for (const [method, path] of [
      ["GET", `/v1/agents/${bob.id}/inbox`],
      ["POST", `/v1/agents/${bob.id}/ack`],
      ["POST", `/v1/agents/${bob.id}/heartbeat`],
      ["DELETE", `/v1/agents/${bob.id}`],
    ] as const) {
      const r = await call(method, path, { bearer: alice.secret, json: method === "POST" ? { ids: [] } : undefined });
      expect(r.status).toBe(403);
      expect(r.body.error).toMatchObject({ code: "forbidden", message: `you are agent ${alice.id}; an agent can act only on itself, not on ${bob.id}` });
    }
    expect(await relay.core.knows(bob.id)).toBe(true);
  });

  test("an agent's own name stands for its id in its paths; another agent's name is refused like its id", async () => {
    const inbox = await call("GET", "/v1/agents/carol/inbox", { bearer: carol.secret });
    expect(inbox.status).toBe(200);
    expect(inbox.body).toEqual({ messages: [] });
    const beat = await call("POST", "/v1/agents/carol/heartbeat", { bearer: carol.secret });
    expect(beat.status).toBe(200);
    expect(beat.body.id).toBe(carol.id);
    expect((await call("POST", "/v1/agents/carol/ack", { bearer: carol.secret, json: { ids: [] } })).body).toEqual({ acked: 0 });
    const other = await call("GET", "/v1/agents/bob/inbox", { bearer: carol.secret });
    expect(other.status).toBe(403);
    expect(other.body.error).toEqual({
      code: "forbidden",
      message: `you are agent ${carol.id}; an agent can act only on itself, not on bob`,
      hint: "use your own id or name (`clawlink whoami`)",
    });
  });

  test("an agent sends only as itself, over HTTP and over its WebSocket", async () => {
    const r = await call("POST", "/v1/messages", { bearer: alice.secret, json: { type: "broadcast", from: bob.id, content: "forged" } });
    expect(r.status).toBe(403);
    expect(r.body.error.message).toBe(`an agent can send only as itself: you are ${alice.id}, the message says from ${bob.id}`);

    const ws = await wsConnect(`${relay.url}/v1/ws`, alice.secret);
    await ws.nextOp("hello");
    ws.send({ op: "send", ref: "r1", message: { type: "broadcast", from: "bob", content: "forged" } });
    const err = await ws.nextOp("error");
    expect(err).toMatchObject({ ref: "r1", error: { code: "forbidden", message: `an agent can send only as itself: you are ${alice.id}, the message says from bob` } });
    ws.close();
  });

  test("an agent responds and reports progress only on tasks it holds", async () => {
    const respond = await call("POST", "/v1/messages", { bearer: carol.secret, json: { type: "response", in_reply_to: taskId, result: "done" } });
    expect(respond.status).toBe(403);
    expect(respond.body.error.message).toBe(`only the agent holding task ${taskId} can respond to it`);
    const progress = await call("POST", "/v1/messages", { bearer: carol.secret, json: { type: "progress", in_reply_to: taskId, note: "half" } });
    expect(progress.status).toBe(403);
    expect(progress.body.error.message).toBe(`only the agent holding task ${taskId} can report progress on it`);
    expect((await taskOf(relay, alice, taskId)).state).toBe("delivered");
  });

  test("an agent cancels only tasks it sent, and sees only tasks it sent or holds", async () => {
    const cancel = await call("POST", `/v1/tasks/${taskId}/cancel`, { bearer: bob.secret });
    expect(cancel.status).toBe(403);
    expect(cancel.body.error.message).toBe(`only the agent that sent task ${taskId} can cancel it`);
    const look = await call("GET", `/v1/tasks/${taskId}`, { bearer: carol.secret });
    expect(look.status).toBe(403);
    expect(look.body.error.message).toBe(`task ${taskId} is neither sent nor held by you`);
    expect((await taskOf(relay, alice, taskId)).state).toBe("delivered");
  });

  test("an agent's stream is its own: it cannot follow another agent's task", async () => {
    const ws = await wsConnect(`${relay.url}/v1/ws?task=${taskId}`, carol.secret);
    await ws.nextOp("hello");
    const err = await ws.nextOp("error");
    expect(err.error).toMatchObject({ code: "forbidden", message: `task ${taskId} is neither sent nor held by you` });
    expect((await ws.closed).code).toBe(4004);
  });

  test("the relay token lets an agent join but not act as one", async () => {
    const r = await call("GET", `/v1/agents/${alice.id}/inbox`, { bearer: TOKEN });
    expect(r.status).toBe(401);
    expect(r.body.error).toMatchObject({ code: "not_registered", message: "the relay token lets an agent register; acting as an agent needs that agent's own secret" });
  });

  test("an agent's secret re-registers that agent only: it cannot mint agents or take over others", async () => {
    const mint = await call("POST", "/v1/agents", { bearer: alice.secret, json: { name: "mallory" } });
    expect(mint.status).toBe(403);
    expect(mint.body.error.message).toBe(`agent ${alice.id} can re-register only itself; a new agent joins with the relay token`);
    const takeover = await call("POST", "/v1/agents", { bearer: TOKEN, json: { name: "bob", id: bob.id, secret: `${bob.id}.guessed` } });
    expect(takeover.status).toBe(403);
    expect(takeover.body.error.message).toBe(`the secret does not match agent ${bob.id}`);
    const self = await call("POST", "/v1/agents", { bearer: alice.secret, json: { name: "alice", id: alice.id, secret: alice.secret, caps: ["review"] } });
    expect(self.status).toBe(201);
    expect(self.body.caps).toEqual(["review"]);
  });

  test("a wrong secret for a known agent is refused; a secret the relay never saw asks to register again", async () => {
    const wrong = await call("GET", `/v1/agents/${alice.id}/inbox`, { bearer: `${alice.id}.not-the-secret` });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toMatchObject({ code: "unauthorized", message: `the secret does not match agent ${alice.id}` });
    const stale = await call("GET", "/v1/agents/a_gone/inbox", { bearer: "a_gone.whatever" });
    expect(stale.status).toBe(401);
    expect(stale.body.error).toMatchObject({ code: "not_registered", message: "the relay does not know agent a_gone (it may have restarted)" });
  });
});

describe("the CLI reports each refused rule with exit code 4", () => {
  const store = new MemoryStore();
  const relay = startTestRelay({ token: TOKEN, maxAuthFailures: 1000, store });
  const homes = { alice: tempHome(), bob: tempHome(), carol: tempHome() };
  const as = (home: string) => ({ home, relay: relay.url, env: { CLAWLINK_TOKEN: TOKEN } });
  let taskId = "";

  beforeAll(async () => {
    for (const [name, home] of Object.entries(homes)) expect((await runCli(["register", "--name", name], as(home))).code).toBe(0);
    taskId = (await runCli(["delegate", "--to", "bob", "--task", "write the changelog", "--json"], as(homes.alice))).json.id;
    await runCli(["poll"], as(homes.bob));
  });

  test("register without the token", async () => {
    const r = await runCli(["register", "--name", "dave"], { home: tempHome(), relay: relay.url });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("error: this relay needs a token to register");
    expect(r.stderr).toContain("hint: pass the same --token");
  });

  test("respond to a task held by someone else", async () => {
    const r = await runCli(["respond", "--msg-id", taskId, "--result", "mine now"], as(homes.carol));
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`error: only the agent holding task ${taskId} can respond to it`);
  });

  test("cancel a task someone else sent", async () => {
    const r = await runCli(["cancel", "--msg-id", taskId, "--json"], as(homes.bob));
    expect(r.code).toBe(4);
    expect(r.json.error).toMatchObject({ code: "forbidden", message: `only the agent that sent task ${taskId} can cancel it` });
  });

  test("a relay that forgot an agent (a restart) takes it back: heartbeat re-registers it with the token", async () => {
    const alice = JSON.parse(readFileSync(join(homes.alice, "identities", "alice.json"), "utf8"));
    await relay.core.unregister(await agentOf(relay, alice.secret));
    const poll = await runCli(["poll"], as(homes.alice));
    expect(poll.code).toBe(5);
    expect(poll.stderr).toContain(`error: the relay does not know agent ${alice.id} (it may have restarted)`);
    // Reading, too, names the forgotten agent rather than blaming the token.
    const look = await runCli(["discover"], as(homes.alice));
    expect(look.code).toBe(5);
    expect(look.stderr).toContain(`the relay does not know agent ${alice.id}`);
    const beat = await runCli(["heartbeat", "--json"], as(homes.alice));
    expect(beat.code).toBe(0);
    expect(beat.json).toMatchObject({ id: alice.id, reregistered: true });
  });

  test("an identity file edited to another agent's id reads nothing of that agent", async () => {
    const bobId = JSON.parse(readFileSync(join(homes.bob, "identities", "bob.json"), "utf8")).id;
    const file = join(homes.carol, "identities", "carol.json");
    const carol = JSON.parse(readFileSync(file, "utf8"));
    writeFileSync(file, JSON.stringify({ ...carol, id: bobId }));
    const r = await runCli(["poll"], as(homes.carol));
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`error: you are agent ${carol.id}; an agent can act only on itself, not on ${bobId}`);
  });
});
