/** Names after an in-memory restart: the identity that held a name before takes it back from whoever registered it since. */
import { afterAll, describe, expect, test } from "bun:test";
import { claimedAt, nameClaim } from "../../src/relay/keys";
import { SqliteStore } from "../../src/relay/store/sqlite";
import { cleanup, startTestRelay, tempHome } from "../_helpers";
import { api } from "../_http";
import { wsConnect } from "../ws";
import { join } from "node:path";

afterAll(cleanup);

const KEY = new Uint8Array(32).fill(9);
const TOKEN = "team-token";

interface Held {
  id: string;
  secret: string;
  claim: string;
}

/** A relay started again on the same key: a new process to the registry, which forgot every agent. */
async function restart(prev?: { stop(): unknown }) {
  await prev?.stop();
  // Claims carry milliseconds: the new relay starts strictly after the last one it must treat as older.
  await Bun.sleep(5);
  return startTestRelay({ token: TOKEN, secretKey: KEY, maxAuthFailures: 1000 });
}

async function register(url: string, body: Record<string, unknown>, bearer = TOKEN) {
  return api(url)("POST", "/v1/agents", { bearer, json: body });
}

async function registered(url: string, name: string): Promise<Held> {
  const r = await register(url, { name });
  expect(r.status).toBe(201);
  return { id: r.body.id, secret: r.body.secret, claim: r.body.claim };
}

/** The owner coming back as `heartbeat` and `listen` do: its id, its secret and its claim. */
const comeBack = (url: string, who: Held, name = "bob") => register(url, { name, id: who.id, secret: who.secret, claim: who.claim }, who.secret);

describe("a name claim", () => {
  test("is `<ms>.` + base64url(HMAC-SHA256(key, name NUL id NUL name NUL ms)), for that id and name only", () => {
    const claim = nameClaim(KEY, "a_0000000000aa", "bob", 1234);
    expect(claim).toMatch(/^1234\.[A-Za-z0-9_-]{43}$/);
    expect(claimedAt(KEY, "a_0000000000aa", "bob", claim)).toBe(1234);
    expect(claimedAt(KEY, "a_0000000000bb", "bob", claim)).toBeUndefined();
    expect(claimedAt(KEY, "a_0000000000aa", "bobby", claim)).toBeUndefined();
    expect(claimedAt(new Uint8Array(32), "a_0000000000aa", "bob", claim)).toBeUndefined();
    expect(claimedAt(KEY, "a_0000000000aa", "bob", claim.replace("1234.", "1235."))).toBeUndefined();
  });
});

describe("squatting a name after an in-memory restart (the review's H4)", () => {
  let owner: Held;
  let squatter: Held;
  let relay: Awaited<ReturnType<typeof restart>>;
  let alice: Held;
  let taskId: string;

  test("the squatter gets the name first, and a task sent to it", async () => {
    relay = await restart();
    owner = await registered(relay.url, "bob");
    relay = await restart(relay);
    squatter = await registered(relay.url, "bob");
    alice = await registered(relay.url, "alice");
    const sent = await api(relay.url)("POST", "/v1/messages", { bearer: alice.secret, json: { type: "task", to: "bob", task: "deploy" } });
    expect(sent.body.to).toBe(squatter.id);
    taskId = sent.body.id;
  });

  test("the owner comes back and holds the name; the squatter's socket closes with 4009, its tasks fail", async () => {
    const ws = await wsConnect(`${relay.url}/v1/ws`, squatter.secret);
    const back = await comeBack(relay.url, owner);
    expect(back.status).toBe(201);
    expect(back.body).toMatchObject({ id: owner.id, name: "bob", secret: owner.secret });
    expect(claimedAt(KEY, owner.id, "bob", back.body.claim)).toBeGreaterThan(claimedAt(KEY, owner.id, "bob", owner.claim)!);
    owner = { ...owner, claim: back.body.claim };
    expect(await ws.closed).toEqual({ code: 4009, reason: `name reclaimed by ${owner.id}` });
    expect((await api(relay.url)("GET", "/v1/agents/bob", { bearer: TOKEN })).body.id).toBe(owner.id);
    const task = await api(relay.url)("GET", `/v1/tasks/${taskId}`, { bearer: alice.secret });
    expect(task.body).toMatchObject({ state: "failed" });
    expect(task.body.history.at(-1).note).toBe(`assignee left: its name was reclaimed by agent ${owner.id}, which held it before the relay restarted`);
  });

  test("the squatter's next request says its name was reclaimed: 409 name_reclaimed", async () => {
    const r = await api(relay.url)("POST", `/v1/agents/${squatter.id}/heartbeat`, { bearer: squatter.secret });
    expect(r.status).toBe(409);
    expect(r.body.error).toEqual({
      code: "name_reclaimed",
      message: `agent ${squatter.id} was removed: the name "bob" was reclaimed by agent ${owner.id}, which held it before the relay restarted`,
      hint: "register under another name (`clawlink register --name NEW`)",
    });
  });

  test("neither the squatter's own claim (made since the restart) nor the token takes the name again", async () => {
    const again = await comeBack(relay.url, squatter);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("name_taken");
    const fresh = await register(relay.url, { name: "bob" });
    expect(fresh.status).toBe(409);
    expect(fresh.body.error.message).toContain(`the name "bob" belongs to agent ${owner.id}`);
  });

  test("after another restart the newest claim wins, whoever comes back first", async () => {
    relay = await restart(relay);
    const first = await comeBack(relay.url, squatter);
    expect(first.status).toBe(201);
    squatter = { ...squatter, claim: first.body.claim };
    const reclaimed = await comeBack(relay.url, owner);
    expect(reclaimed.status).toBe(201);
    owner = { ...owner, claim: reclaimed.body.claim };
    expect((await api(relay.url)("GET", "/v1/agents/bob", { bearer: TOKEN })).body.id).toBe(owner.id);
    // And the other way round, the squatter's claim does not take it back.
    relay = await restart(relay);
    expect((await comeBack(relay.url, owner)).status).toBe(201);
    const late = await comeBack(relay.url, squatter);
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe("name_taken");
  });
});

describe("what does not take a name back", () => {
  test("no claim, a claim for another name, or another agent's claim: 409 name_taken, and the holder stays", async () => {
    let relay = await restart();
    const owner = await registered(relay.url, "carol");
    const other = await registered(relay.url, "dave");
    relay = await restart(relay);
    const squatter = await registered(relay.url, "carol");
    for (const claim of [undefined, other.claim, nameClaim(KEY, owner.id, "carolyn", 1)]) {
      const r = await register(relay.url, { name: "carol", id: owner.id, secret: owner.secret, ...(claim ? { claim } : {}) }, owner.secret);
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe("name_taken");
    }
    expect((await api(relay.url)("GET", "/v1/agents/carol", { bearer: TOKEN })).body.id).toBe(squatter.id);
  });

  test("a malformed claim is a 400 past 128 characters, and otherwise proves nothing", async () => {
    const relay = await restart();
    const a = await registered(relay.url, "erin");
    const long = await register(relay.url, { name: "erin", id: a.id, secret: a.secret, claim: "1".repeat(129) }, a.secret);
    expect(long.status).toBe(400);
    expect(long.body.error.message).toContain("claim");
    expect((await register(relay.url, { name: "erin", id: a.id, secret: a.secret, claim: "nonsense" }, a.secret)).status).toBe(201);
  });

  test("a durable relay keeps its names, so a claim never takes one from an agent registered since", async () => {
    const path = join(tempHome(), "relay.db");
    const relay = startTestRelay({ token: TOKEN, secretKey: KEY, store: new SqliteStore(path) });
    const gone = await registered(relay.url, "frank");
    await relay.core.unregister((await relay.core.authenticate(gone.secret))!);
    const next = await registered(relay.url, "frank");
    // A claim from long before this relay started would take the name back from an in-memory relay.
    const r = await register(relay.url, { name: "frank", id: gone.id, secret: gone.secret, claim: nameClaim(KEY, gone.id, "frank", 1) }, gone.secret);
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe("name_taken");
    expect((await api(relay.url)("GET", "/v1/agents/frank", { bearer: TOKEN })).body.id).toBe(next.id);
  });
});
