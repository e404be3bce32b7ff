/**
 * One agent flooding frames delays itself, not everyone: its frames wait for its share of later turns of the
 * event loop, and a socket that sends faster than the relay reads is closed (1008) rather than buffered for;
 * its agent then waits out a cooldown before the relay takes another of its sockets.
 */
import { afterAll, expect, test } from "bun:test";
import { cleanup, eventually, startTestRelay } from "../_helpers";
import { api, registerAgent } from "../_http";
import { rawUpgrade, wsConnect } from "../ws";

afterAll(cleanup);

const ids = Array.from({ length: 1000 }, (_, i) => `t_${String(i).padStart(12, "0")}`);
/** The largest ack frame there is: 1000 task ids and 1000 message ids. */
const ackFrame = JSON.stringify({ op: "ack", tasks: ids, ids: ids.map((id) => id.replace("t_", "m_")) });

test("a socket flooding ack frames is closed with 1008 past its backlog, while another agent is answered; the flooder may connect again after its cooldown", async () => {
  const relay = startTestRelay({ floodCooldownMs: 5000 });
  const [flooder, bystander] = [await registerAgent(relay.url, "flooder"), await registerAgent(relay.url, "bystander")];
  const flood = await wsConnect(`${relay.url}/v1/ws`, flooder.secret);
  await flood.nextOp("hello");
  const other = await wsConnect(`${relay.url}/v1/ws`, bystander.secret);
  await other.nextOp("hello");
  // 32 MiB of frames at once: twice what one agent may have waiting.
  for (let i = 0; i < Math.ceil((32 * 1024 * 1024) / ackFrame.length); i++) flood.ws.send(ackFrame);
  other.ws.send('{"op":"ping"}');
  expect((await other.nextOp("pong", 10_000)).op).toBe("pong");
  expect(await flood.closed).toEqual({ code: 1008, reason: "frames arrive faster than the relay reads them: wait for answers; reconnect after 5s" });
  // At once, its next socket is refused (a second later, as a connection limit's refusal), and a plain request to the same URL says why.
  const asked = performance.now();
  const upgrade = await rawUpgrade(`${relay.url}/v1/ws`, { authorization: `Bearer ${flooder.secret}` });
  expect(performance.now() - asked).toBeGreaterThanOrEqual(900);
  expect(upgrade.status).toBe(429);
  const wait = /in (\d)s$/.exec(upgrade.body.error.message)?.[1];
  expect(upgrade.body.error).toEqual({
    code: "too_many_frames",
    message: `this agent's last WebSocket sent frames faster than the relay reads them and was closed (1008); it may open another in ${wait}s`,
    hint: `retry after ${wait}s, and wait for answers before sending more frames (an ack frame names up to 1000 ids: send fewer, larger acks)`,
  });
  // Whole seconds left of the 5 s, however long the close took to arrive here.
  expect(["1", "2", "3", "4", "5"]).toContain(wait!);
  const plain = await api(relay.url)("GET", "/v1/ws", { bearer: flooder.secret });
  expect(plain.status).toBe(429);
  expect(plain.body.error.code).toBe("too_many_frames");
  expect(Number(plain.headers.get("retry-after"))).toBeLessThanOrEqual(Number(wait));
  // Its HTTP requests go on meanwhile.
  expect((await api(relay.url)("POST", `/v1/agents/${flooder.id}/heartbeat`, { bearer: flooder.secret })).status).toBe(200);
  await eventually(async () => (await rawUpgrade(`${relay.url}/v1/ws`, { authorization: `Bearer ${flooder.secret}` })).status === 101, 15_000);
  const again = await wsConnect(`${relay.url}/v1/ws`, flooder.secret);
  expect((await again.nextOp("hello", 10_000)).op).toBe("hello");
  again.ws.send('{"op":"ping"}');
  expect((await again.nextOp("pong", 10_000)).op).toBe("pong");
  for (const s of [again, other]) s.close();
}, 30_000);
