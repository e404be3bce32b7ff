/** The admin API and the dashboard's WebSocket: what a person watching the relay sees, and the three actions. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as v from "valibot";
import { AdminServerFrame, AdminState, FileDiff } from "../../src/protocol/admin";
import { Message, Task } from "../../src/protocol/schemas";
import { cleanup, startTestRelay } from "../_helpers";
import { api, registerAgent } from "../_http";
import { wsOpen, type WsClient } from "../ws";

afterAll(cleanup);

const seen = new WeakMap<WsClient, AdminServerFrame[]>();

/** The first frame so far or from now on that satisfies `pick`; every frame must match the schema. */
async function frameWhere(ws: WsClient, pick: (f: AdminServerFrame) => boolean, timeoutMs = 4000): Promise<AdminServerFrame> {
  let log = seen.get(ws);
  if (!log) seen.set(ws, (log = []));
  const found = log.find(pick);
  if (found) return found;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const raw = await ws.next(Math.max(1, deadline - Date.now()));
    const parsed = v.safeParse(AdminServerFrame, raw);
    if (!parsed.success) throw new Error(`frame off the schema: ${JSON.stringify(raw).slice(0, 300)}: ${v.summarize(parsed.issues)}`);
    log.push(parsed.output);
    if (pick(parsed.output)) return parsed.output;
  }
}

describe("a loopback relay without a token: the dashboard is open", () => {
  const relay = startTestRelay();
  const call = api(relay.url);
  let alice: { id: string; secret: string };
  let bob: { id: string; secret: string };

  beforeAll(async () => {
    alice = await registerAgent(relay.url, "alice", undefined, { caps: ["planning"], machine: "laptop" });
    bob = await registerAgent(relay.url, "bob", undefined, { caps: ["code-review"] });
  });

  test("GET / serves the page and its assets, small and from the relay itself", async () => {
    const page = await call("GET", "/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.text).toContain("<title>ClawLink relay</title>");
    const assets = [...page.text.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    let bytes = page.text.length;
    for (const path of assets) {
      const res = await fetch(relay.url + path);
      expect(res.status).toBe(200);
      bytes += (await res.arrayBuffer()).byteLength;
    }
    expect(bytes).toBeLessThan(200 * 1024);
    // Nothing from elsewhere: no CDN, no absolute URL to another host.
    expect(page.text).not.toMatch(/(?:src|href)="https?:/);
  });

  test("other methods on / answer 405 in JSON", async () => {
    const r = await call("POST", "/");
    expect(r.status).toBe(405);
    expect(r.body.error).toMatchObject({ code: "method_not_allowed", hint: "use GET" });
  });

  test("the session says no token is needed, and the state lists agents with the core's counts", async () => {
    expect((await call("GET", "/v1/admin/session")).body).toEqual({ auth: "none", version: "test" });
    await call("POST", "/v1/messages", { bearer: alice.secret, json: { type: "task", to: "bob", task: "review the parser" } });
    const state = await call("GET", "/v1/admin/state");
    expect(state.status).toBe(200);
    const s = v.parse(AdminState, state.body);
    const rows = Object.fromEntries(s.agents.map((a) => [a.name, a]));
    expect(rows.alice).toMatchObject({ status: "online", machine: "laptop", caps: ["planning"], queued: 0, tasks_held: 0 });
    expect(rows.bob).toMatchObject({ status: "online", queued: 1, in_flight: 0, tasks_held: 1 });
    expect(s.tasks[0]).toMatchObject({ from: alice.id, to: bob.id, state: "queued", task: "review the parser" });
    expect(s.task_counts.queued).toBe(1);
    expect(s.health).toMatchObject({ version: "test", store: { kind: "memory" }, agents: { total: 2, online: 2 } });
    expect(s.throughput.counts).toHaveLength(300);
  });

  test("the socket sends a snapshot after auth, then a task's moves, the feed and queue depths as they happen", async () => {
    const ws = await wsOpen(`${relay.url}/v1/admin/ws`);
    ws.send({ op: "auth" });
    const snap = await frameWhere(ws, (f) => f.op === "snapshot");
    expect(snap.op === "snapshot" && snap.state.agents.length).toBe(2);

    const sent = await call("POST", "/v1/messages", { bearer: alice.secret, json: { type: "task", to: "bob", task: "write the changelog", priority: "high" } });
    const id = sent.body.id;
    const queued = await frameWhere(ws, (f) => f.op === "tasks" && f.upsert.some((t) => t.id === id));
    expect(queued.op === "tasks" && queued.upsert.find((t) => t.id === id)).toMatchObject({ state: "queued", priority: "high" });
    const feed = await frameWhere(ws, (f) => f.op === "feed" && f.items.some((m) => m.id === id));
    expect(feed.op === "feed" && feed.items.find((m) => m.id === id)).toMatchObject({ type: "task", from: alice.id, to: bob.id, priority: "high", task_id: id });

    await call("GET", `/v1/agents/${bob.id}/inbox?max=10`, { bearer: bob.secret });
    await call("POST", "/v1/messages", { bearer: bob.secret, json: { type: "progress", in_reply_to: id, note: "reading" } });
    const working = await frameWhere(ws, (f) => f.op === "tasks" && f.upsert.some((t) => t.id === id && t.state === "working"));
    const since = working.op === "tasks" ? working.upsert.find((t) => t.id === id)!.updated_at : "";
    // A later note changes no state, and is news all the same.
    await Bun.sleep(5);
    await call("POST", "/v1/messages", { bearer: bob.secret, json: { type: "progress", in_reply_to: id, note: "half way" } });
    await frameWhere(ws, (f) => f.op === "tasks" && f.upsert.some((t) => t.id === id && t.updated_at > since));
    await call("POST", "/v1/messages", { bearer: bob.secret, json: { type: "response", in_reply_to: id, result: "done" } });
    const done = await frameWhere(ws, (f) => f.op === "tasks" && f.upsert.some((t) => t.id === id && t.state === "completed"));
    expect(done.op === "tasks" && done.counts.completed).toBe(1);
    const bobRow = await frameWhere(ws, (f) => f.op === "agents" && f.upsert.some((a) => a.id === bob.id && a.in_flight > 0));
    expect(bobRow.op).toBe("agents");
    // The task, the response, and the status messages its sender got: counted in the throughput.
    const tick = await frameWhere(ws, (f) => f.op === "tick" && f.throughput.counts.reduce((a, b) => a + b, 0) >= 4);
    expect(tick.op === "tick" && tick.health.connections.dashboards).toBe(1);
    ws.close();
  });

  test("a broadcast shows once in the feed, and its body can be opened while the feed keeps it", async () => {
    const ws = await wsOpen(`${relay.url}/v1/admin/ws`);
    ws.send({ op: "auth" });
    await frameWhere(ws, (f) => f.op === "snapshot");
    const sent = await call("POST", "/v1/messages", { bearer: alice.secret, json: { type: "broadcast", content: "standup in 5 minutes" } });
    const feed = await frameWhere(ws, (f) => f.op === "feed" && f.items.some((m) => m.id === sent.body.id));
    expect(feed.op === "feed" && feed.items.filter((m) => m.id === sent.body.id)).toHaveLength(1);
    const body = await call("GET", `/v1/admin/messages/${sent.body.id}`);
    expect(v.parse(Message, body.body)).toMatchObject({ type: "broadcast", content: "standup in 5 minutes", to: null });
    const gone = await call("GET", "/v1/admin/messages/m_nosuchmessage");
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe("message_gone");
    ws.close();
  });

  test("a task opens with its history, context and result; an unknown one is 404", async () => {
    const sent = await call("POST", "/v1/messages", { bearer: alice.secret, json: { type: "task", to: "bob", task: "look", context: { pr: 7 } } });
    const task = await call("GET", `/v1/admin/tasks/${sent.body.id}`);
    expect(v.parse(Task, task.body)).toMatchObject({ id: sent.body.id, context: { pr: 7 }, history: [{ state: "queued", note: "for bob" }], result: null });
    const unknown = await call("GET", "/v1/admin/tasks/t_nosuchtask");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("unknown_task");
    const bad = await call("GET", `/v1/admin/tasks/${"x".repeat(65)}`);
    expect(bad.status).toBe(400);
  });

  test("canceling a task from the dashboard tells its sender; a finished one is 409, an unknown one 404", async () => {
    const sent = await call("POST", "/v1/messages", { bearer: alice.secret, json: { type: "task", to: "bob", task: "to be called off" } });
    const r = await call("POST", `/v1/admin/tasks/${sent.body.id}/cancel`, { json: { note: "wrong branch" } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ state: "canceled" });
    expect(r.body.history.at(-1)).toMatchObject({ state: "canceled", note: "wrong branch" });
    const inbox = await call("GET", `/v1/agents/${alice.id}/inbox?max=100&ack=true`, { bearer: alice.secret });
    expect(inbox.body.messages).toContainEqual(expect.objectContaining({ type: "status", task_id: sent.body.id, state: "canceled", note: "wrong branch" }));

    const again = await call("POST", `/v1/admin/tasks/${sent.body.id}/cancel`, { json: {} });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("task_finished");
    const unknown = await call("POST", "/v1/admin/tasks/t_nosuchtask/cancel", { json: {} });
    expect(unknown.status).toBe(404);
    const badNote = await call("POST", `/v1/admin/tasks/${sent.body.id}/cancel`, { json: { note: 5 } });
    expect(badNote.status).toBe(400);
    expect(badNote.body.error.message).toContain("note");
    const empty = await call("POST", `/v1/admin/tasks/${sent.body.id}/cancel`, { body: "", headers: { "content-type": "application/json" } });
    expect(empty.status).toBe(400);
    expect(empty.body.error.code).toBe("bad_request");
    // A form posted from another page would come as text/plain.
    const text = await call("POST", `/v1/admin/tasks/${sent.body.id}/cancel`, { body: "{}", headers: { "content-type": "text/plain" } });
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe("unsupported_media_type");
  });

  test("a lease is released whoever holds it; everyone is told; a free key is 404", async () => {
    const put = (who: { secret: string }, body: string) => call("PUT", "/v1/files/notes/plan.md", { bearer: who.secret, body });
    expect((await put(alice, "one\ntwo\nthree\n")).status).toBe(201);
    expect((await put(bob, "one\n2\nthree\nfour\n")).status).toBe(201);
    expect((await call("PUT", "/v1/file-locks/notes/plan.md", { bearer: bob.secret, json: { ttl_s: 600 } })).status).toBe(200);
    expect((await put(alice, "mine")).status).toBe(423);

    const state = v.parse(AdminState, (await call("GET", "/v1/admin/state")).body);
    expect(state.files.find((f) => f.key === "notes/plan.md")).toMatchObject({ version: 2, updated_by: "bob", lock: { holder: "bob", holder_id: bob.id } });

    const released = await call("DELETE", "/v1/admin/file-locks/notes/plan.md");
    expect(released.status).toBe(200);
    expect(released.body).toMatchObject({ key: "notes/plan.md", holder: "bob" });
    const told = await call("GET", `/v1/agents/${bob.id}/inbox?max=100&ack=true`, { bearer: bob.secret });
    expect(told.body.messages).toContainEqual(expect.objectContaining({ type: "file", key: "notes/plan.md", action: "unlock", by: "relay" }));
    expect((await put(alice, "one\ntwo\nthree\n")).status).toBe(201);

    const free = await call("DELETE", "/v1/admin/file-locks/notes/plan.md");
    expect(free.status).toBe(404);
    expect(free.body.error.code).toBe("not_locked");
  });

  test("a file's history and a diff between two versions; binary versions are said to be binary", async () => {
    const history = await call("GET", "/v1/admin/file-history/notes/plan.md");
    expect(history.body.versions.map((x: { version: number }) => x.version)).toEqual([3, 2, 1]);
    const diff = v.parse(FileDiff, (await call("GET", "/v1/admin/file-diff/notes/plan.md?from=1&to=2")).body);
    expect(diff.hunks).toEqual([
      { from_start: 1, to_start: 1, lines: [{ op: " ", text: "one" }, { op: "-", text: "two" }, { op: "+", text: "2" }, { op: " ", text: "three" }, { op: "+", text: "four" }] },
    ]);
    await call("PUT", "/v1/files/logo.png", { bearer: alice.secret, body: new Uint8Array([137, 80, 78, 71, 0, 1]) });
    await call("PUT", "/v1/files/logo.png", { bearer: alice.secret, body: new Uint8Array([137, 80, 78, 71, 0, 2]) });
    expect((await call("GET", "/v1/admin/file-diff/logo.png?from=1&to=2")).body).toMatchObject({ binary: true, hunks: [] });

    const missing = await call("GET", "/v1/admin/file-diff/notes/plan.md?from=1&to=9");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("unknown_version");
    const noQuery = await call("GET", "/v1/admin/file-diff/notes/plan.md");
    expect(noQuery.status).toBe(400);
    expect(noQuery.body.error.message).toContain("from");
    const badKey = await call("GET", "/v1/admin/file-history/a%5Cb");
    expect(badKey.status).toBe(400);
    expect(badKey.body.error.message).toContain("backslash");
  });

  test("unregistering an agent from the dashboard: it is gone, and a second try is 404", async () => {
    const carol = await registerAgent(relay.url, "carol");
    const r = await call("DELETE", `/v1/admin/agents/${carol.id}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ id: carol.id, unregistered: true });
    expect((await call("GET", `/v1/agents/${carol.id}`)).status).toBe(404);
    const again = await call("DELETE", `/v1/admin/agents/${carol.id}`);
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe("unknown_agent");
  });

  test("a page of another origin, or a name that is not loopback, is refused", async () => {
    const foreign = await call("GET", "/v1/admin/state", { headers: { origin: "http://evil.example" } });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe("cross_origin");
    const rebound = await call("GET", "/v1/admin/state", { headers: { host: "evil.example" } });
    expect(rebound.status).toBe(421);
    expect(rebound.body.error.code).toBe("wrong_host");
    const own = await call("GET", "/v1/admin/session", { headers: { origin: relay.url } });
    expect(own.status).toBe(200);
    const socket = await fetch(`${relay.url}/v1/admin/ws`, {
      headers: { origin: "http://evil.example", connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" },
    });
    expect(socket.status).toBe(403);
  });

  test("a frame that is not auth first closes the socket with an error", async () => {
    const ws = await wsOpen(`${relay.url}/v1/admin/ws`);
    ws.send({ op: "subscribe" });
    const err = await ws.next();
    expect(err).toMatchObject({ op: "error", error: { code: "bad_request" } });
    expect((await ws.closed).code).toBe(4400);
    const text = await wsOpen(`${relay.url}/v1/admin/ws`);
    text.ws.send("not json");
    expect((await text.next()).error.message).toContain("invalid frame");
    expect((await text.closed).code).toBe(4400);
  });
});

describe("a relay that forgets finished tasks", () => {
  const relay = startTestRelay({ maxFinishedTasks: 1 });
  const call = api(relay.url);

  test("a task forgotten after its retention leaves the dashboard's list and counts", async () => {
    const alice = await registerAgent(relay.url, "alice");
    const bob = await registerAgent(relay.url, "bob");
    const ws = await wsOpen(`${relay.url}/v1/admin/ws`);
    ws.send({ op: "auth" });
    await frameWhere(ws, (f) => f.op === "snapshot");
    const finish = async (text: string) => {
      const { id } = (await call("POST", "/v1/messages", { bearer: alice.secret, json: { type: "task", to: "bob", task: text } })).body;
      await call("GET", `/v1/agents/${bob.id}/inbox?max=10&ack=true`, { bearer: bob.secret });
      await call("POST", "/v1/messages", { bearer: bob.secret, json: { type: "response", in_reply_to: id, result: "done" } });
      return id as string;
    };
    const first = await finish("first");
    await frameWhere(ws, (f) => f.op === "tasks" && f.upsert.some((t) => t.id === first && t.state === "completed"));
    // Only one finished task is kept: the second one to finish pushes the first out.
    const second = await finish("second");
    const gone = await frameWhere(ws, (f) => f.op === "tasks" && f.remove.includes(first));
    expect(gone.op === "tasks" && gone.counts.completed).toBe(1);
    const state = v.parse(AdminState, (await call("GET", "/v1/admin/state")).body);
    expect(state.tasks.map((t) => t.id)).toEqual([second]);
    ws.close();
  });
});

describe("a relay with --token: the dashboard needs it", () => {
  const relay = startTestRelay({ token: "team-token", maxAuthFailures: 3 });
  const call = api(relay.url);

  test("no token, a wrong one and an agent's secret are refused; the relay token opens it", async () => {
    const none = await call("GET", "/v1/admin/session");
    expect(none.status).toBe(401);
    expect(none.body.error).toMatchObject({ code: "unauthorized", message: "the dashboard needs the admin token" });
    expect(none.body.error.hint).toContain("--admin-token");
    const alice = await registerAgent(relay.url, "alice", "team-token");
    const secret = await call("GET", "/v1/admin/state", { bearer: alice.secret });
    expect(secret.status).toBe(401);
    expect(secret.body.error.message).toBe("the admin token is not valid for this relay");
    const ok = await call("GET", "/v1/admin/session", { bearer: "team-token" });
    expect(ok.body).toEqual({ auth: "token", version: "test" });
    const cancel = await call("POST", "/v1/admin/tasks/t_x/cancel", { json: {} });
    expect(cancel.status).toBe(401);
  });

  test("on the socket: a wrong token gets an error and close 4401; the right one a snapshot", async () => {
    const wrong = await wsOpen(`${relay.url}/v1/admin/ws`);
    wrong.send({ op: "auth", token: "guess" });
    expect(await wrong.next()).toMatchObject({ op: "error", error: { code: "unauthorized", message: "the admin token is not valid for this relay" } });
    expect((await wrong.closed).code).toBe(4401);
    const right = await wsOpen(`${relay.url}/v1/admin/ws`);
    right.send({ op: "auth", token: "team-token" });
    expect((await frameWhere(right, (f) => f.op === "snapshot")).op).toBe("snapshot");
    right.send({ op: "ping" });
    expect((await frameWhere(right, (f) => f.op === "pong")).op).toBe("pong");
    right.close();
  });

  test("guessing the token counts as failed authentication, and is throttled", async () => {
    // One failure above (the socket), two more here, then the address is refused even with the right token.
    await call("GET", "/v1/admin/session", { bearer: "guess-1" });
    await call("GET", "/v1/admin/session", { bearer: "guess-2" });
    const throttled = await call("GET", "/v1/admin/session", { bearer: "team-token" });
    expect(throttled.status).toBe(429);
    expect(throttled.body.error.code).toBe("too_many_auth_failures");
  });
});

describe("--admin-token: dashboard access apart from agent joining", () => {
  const relay = startTestRelay({ token: "join-token", adminToken: "admin-token" });
  const call = api(relay.url);

  test("the admin token opens the dashboard and the relay token does not", async () => {
    expect((await call("GET", "/v1/admin/session", { bearer: "admin-token" })).status).toBe(200);
    const joining = await call("GET", "/v1/admin/session", { bearer: "join-token" });
    expect(joining.status).toBe(401);
    expect(joining.body.error.message).toBe("the admin token is not valid for this relay");
  });

  test("the admin token does not let an agent join", async () => {
    const r = await call("POST", "/v1/agents", { bearer: "admin-token", json: { name: "mallory" } });
    expect(r.status).toBe(401);
    expect((await call("POST", "/v1/agents", { bearer: "join-token", json: { name: "alice" } })).status).toBe(201);
  });
});
