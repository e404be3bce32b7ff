/**
 * No client can hold every connection: WebSockets and long polls are counted per agent, per address and
 * relay-wide, and past a limit the relay answers 429 (or 503, relay-wide) naming the limit and its flag.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, eventually, startTestRelay } from "../_helpers";
import { api, registerAgent } from "../_http";
import { rawUpgrade, wsConnect, type WsClient } from "../ws";

afterAll(cleanup);

const HELD = "open connections (WebSockets, long polls, A2A streams and blocking A2A sends)";

const open = async (url: string, secret: string, n: number): Promise<WsClient[]> => {
  const socks: WsClient[] = [];
  for (let i = 0; i < n; i++) {
    const s = await wsConnect(`${url}/v1/ws`, secret);
    await s.nextOp("hello");
    socks.push(s);
  }
  return socks;
};

/** A long poll that waits until it is aborted: it holds its connection meanwhile. */
function longPoll(url: string, agent: { id: string; secret: string }) {
  const stop = new AbortController();
  let ended = false;
  const done = fetch(`${url}/v1/agents/${agent.id}/inbox?wait=30`, { headers: { authorization: `Bearer ${agent.secret}` }, signal: stop.signal })
    .catch(() => undefined)
    .finally(() => (ended = true));
  return { abort: () => stop.abort(), done, ended: () => ended };
}

describe("connection limits", () => {
  const relay = startTestRelay({ maxConnectionsPerAgent: 3, maxConnectionsPerAddress: 5 });
  const call = api(relay.url);

  test("an agent flooding sockets is refused past --max-connections-per-agent, at the upgrade, with the flag to raise", async () => {
    const a = await registerAgent(relay.url, "a");
    const socks = await open(relay.url, a.secret, 3);
    const refused = await rawUpgrade(`${relay.url}/v1/ws`, { authorization: `Bearer ${a.secret}` });
    expect(refused.status).toBe(429);
    expect(refused.body.error).toEqual({
      code: "too_many_connections",
      message: `agent ${a.id} already holds 3 ${HELD}, the relay's limit (--max-connections-per-agent)`,
      hint: "close what this agent no longer uses (one `clawlink listen` per agent is enough; a long poll ends when it answers), or start the relay with a higher --max-connections-per-agent",
    });
    await expect(wsConnect(`${relay.url}/v1/ws`, a.secret)).rejects.toThrow("cannot connect");
    // A closed socket gives its place back.
    socks[0]!.close();
    await eventually(async () => (await rawUpgrade(`${relay.url}/v1/ws`, { authorization: `Bearer ${a.secret}` })).status === 101);
    for (const s of socks) s.close();
  });

  test("task watches count too; the agent's HTTP requests are not affected", async () => {
    const b = await registerAgent(relay.url, "b");
    const sent = await call("POST", "/v1/messages", { bearer: b.secret, json: { type: "task", to: "b", task: "mine" } });
    const socks = await open(relay.url, b.secret, 2);
    const watch = await wsConnect(`${relay.url}/v1/ws?task=${sent.body.id}`, b.secret);
    const refused = await call("GET", `/v1/ws?task=${sent.body.id}`, { bearer: b.secret });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe("too_many_connections");
    expect((await call("GET", `/v1/agents/${b.id}/inbox`, { bearer: b.secret })).status).toBe(200);
    for (const s of [...socks, watch]) s.close();
    await eventually(async () => (await call("GET", "/v1/ws", { bearer: b.secret })).status === 400);
  });

  test("long polls are held connections: past the agent's limit a poll with wait is 429, one without wait still answers", async () => {
    const p = await registerAgent(relay.url, "p");
    const polls = [longPoll(relay.url, p), longPoll(relay.url, p), longPoll(relay.url, p)];
    await eventually(async () => (await call("GET", `/v1/agents/${p.id}/inbox?wait=5`, { bearer: p.secret })).status === 429);
    const refused = await call("GET", `/v1/agents/${p.id}/inbox?wait=5`, { bearer: p.secret });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.body.error.message).toBe(`agent ${p.id} already holds 3 ${HELD}, the relay's limit (--max-connections-per-agent)`);
    expect((await rawUpgrade(`${relay.url}/v1/ws`, { authorization: `Bearer ${p.secret}` })).status).toBe(429);
    expect((await call("GET", `/v1/agents/${p.id}/inbox`, { bearer: p.secret })).status).toBe(200);
    // A poll that ends (its client gave up) gives its place back.
    polls[0]!.abort();
    await polls[0]!.done;
    await eventually(async () => (await rawUpgrade(`${relay.url}/v1/ws`, { authorization: `Bearer ${p.secret}` })).status === 101);
    for (const poll of polls) poll.abort();
  });

  test("an upgrade refused for another reason holds no place", async () => {
    const e = await registerAgent(relay.url, "e");
    for (let i = 0; i < 5; i++) expect((await rawUpgrade(`${relay.url}/v1/ws?types=nope`, { authorization: `Bearer ${e.secret}` })).status).toBe(400);
    const socks = await open(relay.url, e.secret, 3);
    for (const s of socks) s.close();
  });
});

describe("one address, many agents", () => {
  const relay = startTestRelay({ maxConnectionsPerAgent: 6, maxConnectionsPerAddress: 8 });

  test("past --max-connections-per-address an agent is refused once it holds its guaranteed 4", async () => {
    const [c, d] = [await registerAgent(relay.url, "c"), await registerAgent(relay.url, "d")];
    const socks = [...(await open(relay.url, c.secret, 6)), ...(await open(relay.url, d.secret, 2))];
    // The address is at its limit, yet d holds fewer than 4: it still gets two more.
    socks.push(...(await open(relay.url, d.secret, 2)));
    const refused = await rawUpgrade(`${relay.url}/v1/ws`, { authorization: `Bearer ${d.secret}` });
    expect(refused.status).toBe(429);
    expect(refused.body.error.message).toBe(`127.0.0.1 already holds 10 ${HELD}, the relay's limit (--max-connections-per-address)`);
    expect(refused.body.error.hint).toBe("close connections that are no longer used, or start the relay with a higher --max-connections-per-address");
    expect((await rawUpgrade(`${relay.url}/v1/ws`, { authorization: `Bearer ${c.secret}` })).status).toBe(429);
    for (const s of socks) s.close();
  });

  test("a local process with many agents cannot starve another local agent (all of 127.0.0.0/8 is one address)", async () => {
    const hogs = await Promise.all(["h1", "h2"].map((name) => registerAgent(relay.url, name)));
    const held = [...(await open(relay.url, hogs[0]!.secret, 6)), ...(await open(relay.url, hogs[1]!.secret, 4))];
    expect((await rawUpgrade(`${relay.url}/v1/ws`, { authorization: `Bearer ${hogs[1]!.secret}` })).status).toBe(429);
    const honest = await registerAgent(relay.url, "honest");
    const listen = await wsConnect(`${relay.url}/v1/ws`, honest.secret);
    expect((await listen.nextOp("hello")).op).toBe("hello");
    const poll = longPoll(relay.url, honest);
    await api(relay.url)("POST", "/v1/messages", { bearer: hogs[0]!.secret, json: { type: "task", to: "honest", task: "reaches you" } });
    expect((await listen.nextOp("message")).message.task).toBe("reaches you");
    poll.abort();
    for (const s of [...held, listen]) s.close();
  });
});

describe("relay-wide", () => {
  const relay = startTestRelay({ maxConnections: 3 });

  test("past --max-connections every agent is 503 relay_busy, with Retry-After, until a connection ends", async () => {
    const [f, g] = [await registerAgent(relay.url, "f"), await registerAgent(relay.url, "g")];
    const socks = await open(relay.url, f.secret, 2);
    let poll = longPoll(relay.url, g);
    await eventually(async () => {
      // A probe that got in before the poll was counted held the last place for a moment, and the poll was refused: poll again.
      if (poll.ended()) poll = longPoll(relay.url, g);
      return (await rawUpgrade(`${relay.url}/v1/ws`, { authorization: `Bearer ${g.secret}` })).status === 503;
    }, 10_000);
    const refused = await api(relay.url)("GET", `/v1/agents/${g.id}/inbox?wait=1`, { bearer: g.secret });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.body.error).toEqual({
      code: "relay_busy",
      message: `the relay already holds 3 ${HELD}, its limit (--max-connections)`,
      hint: "retry in a moment; whoever runs the relay can start it with a higher --max-connections (and raise `ulimit -n`)",
    });
    poll.abort();
    await eventually(async () => (await rawUpgrade(`${relay.url}/v1/ws`, { authorization: `Bearer ${g.secret}` })).status === 101);
    for (const s of socks) s.close();
  });
});
