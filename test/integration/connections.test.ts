/** One agent, or one address, cannot hold every WebSocket: past its limit an upgrade is 429 naming the limit and its flag. */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, eventually, startTestRelay } from "../_helpers";
import { api, registerAgent } from "../_http";
import { rawUpgrade, wsConnect, type WsClient } from "../ws";

afterAll(cleanup);

const open = async (url: string, secret: string, n: number): Promise<WsClient[]> => {
  const socks: WsClient[] = [];
  for (let i = 0; i < n; i++) {
    const s = await wsConnect(`${url}/v1/ws`, secret);
    await s.nextOp("hello");
    socks.push(s);
  }
  return socks;
};

describe("WebSocket limits", () => {
  const relay = startTestRelay({ maxConnectionsPerAgent: 3, maxConnectionsPerAddress: 5 });
  const call = api(relay.url);

  test("an agent flooding sockets is refused past --max-connections-per-agent, at the upgrade, with the flag to raise", async () => {
    const a = await registerAgent(relay.url, "a");
    const socks = await open(relay.url, a.secret, 3);
    const refused = await rawUpgrade(`${relay.url}/v1/ws`, { authorization: `Bearer ${a.secret}` });
    expect(refused.status).toBe(429);
    expect(refused.body.error).toEqual({
      code: "too_many_connections",
      message: `agent ${a.id} already has 3 open WebSockets, the relay's limit (--max-connections-per-agent)`,
      hint: "close the sockets this agent no longer uses (one `clawlink listen` per agent is enough), or start the relay with a higher --max-connections-per-agent",
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

  test("many agents from one address are refused past --max-connections-per-address", async () => {
    const own = startTestRelay({ maxConnectionsPerAgent: 3, maxConnectionsPerAddress: 5 });
    const [c, d] = [await registerAgent(own.url, "c"), await registerAgent(own.url, "d")];
    const socks = [...(await open(own.url, c.secret, 3)), ...(await open(own.url, d.secret, 2))];
    const refused = await rawUpgrade(`${own.url}/v1/ws`, { authorization: `Bearer ${d.secret}` });
    expect(refused.status).toBe(429);
    expect(refused.body.error.message).toBe("127.0.0.1 already has 5 open WebSockets, the relay's limit (--max-connections-per-address)");
    expect(refused.body.error.hint).toContain("--max-connections-per-address");
    for (const s of socks) s.close();
  });

  test("an upgrade refused for another reason holds no place", async () => {
    const e = await registerAgent(relay.url, "e");
    for (let i = 0; i < 5; i++) expect((await rawUpgrade(`${relay.url}/v1/ws?types=nope`, { authorization: `Bearer ${e.secret}` })).status).toBe(400);
    const socks = await open(relay.url, e.secret, 3);
    for (const s of socks) s.close();
  });
});
