/**
 * One agent flooding frames delays itself, not everyone: its frames wait for its share of later turns of the
 * event loop, and a socket that sends faster than the relay reads is closed (1008) rather than buffered for.
 */
import { afterAll, expect, test } from "bun:test";
import { cleanup, startTestRelay } from "../_helpers";
import { api, registerAgent } from "../_http";
import { wsConnect } from "../ws";

afterAll(cleanup);

test("a socket flooding ack frames is closed with 1008 past its backlog, while another agent is answered; the flooder may connect again", async () => {
  const relay = startTestRelay();
  const [flooder, bystander] = [await registerAgent(relay.url, "flooder"), await registerAgent(relay.url, "bystander")];
  const ids = Array.from({ length: 1000 }, (_, i) => `t_${String(i).padStart(12, "0")}`);
  const frame = JSON.stringify({ op: "ack", tasks: ids, ids: ids.map((id) => id.replace("t_", "m_")) });
  const flood = await wsConnect(`${relay.url}/v1/ws`, flooder.secret);
  await flood.nextOp("hello");
  const other = await wsConnect(`${relay.url}/v1/ws`, bystander.secret);
  await other.nextOp("hello");
  // 32 MiB of frames at once: twice what one agent may have waiting.
  for (let i = 0; i < Math.ceil((32 * 1024 * 1024) / frame.length); i++) flood.ws.send(frame);
  other.ws.send('{"op":"ping"}');
  expect((await other.nextOp("pong", 10_000)).op).toBe("pong");
  expect(await flood.closed).toEqual({ code: 1008, reason: "frames arrive faster than the relay reads them: wait for answers before sending more" });
  const again = await wsConnect(`${relay.url}/v1/ws`, flooder.secret);
  expect((await again.nextOp("hello", 10_000)).op).toBe("hello");
  again.ws.send('{"op":"ping"}');
  expect((await again.nextOp("pong", 10_000)).op).toBe("pong");
  expect((await api(relay.url)("POST", `/v1/agents/${flooder.id}/heartbeat`, { bearer: flooder.secret })).status).toBe(200);
  for (const s of [again, other]) s.close();
}, 30_000);
