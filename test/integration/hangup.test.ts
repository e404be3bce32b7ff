/** A client that hangs up mid-request is not an error of the relay's: nothing is logged as one, and nothing changes. */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, pendingOf, startTestRelay } from "../_helpers";
import { registerAgent } from "../_http";

afterAll(cleanup);

/** Sends the head of a request and part of its body, then closes the connection. */
async function hangUp(url: string, head: string, partial: string) {
  const { hostname, port } = new URL(url);
  const socket = await Bun.connect({ hostname, port: Number(port), socket: { data() {} } });
  socket.write(`${head}\r\n\r\n${partial}`);
  await Bun.sleep(100);
  socket.end();
}

describe("a client that hangs up", () => {
  const unexpected: unknown[] = [];
  const relay = startTestRelay({ onError: (err) => unexpected.push(err) });

  test("half-way through a JSON body, with or without a length, or while a poll waits: nothing logged, nothing sent", async () => {
    const a = await registerAgent(relay.url, "a");
    const b = await registerAgent(relay.url, "b");
    const auth = `authorization: Bearer ${a.secret}\r\ncontent-type: application/json\r\nhost: 127.0.0.1`;
    await hangUp(relay.url, `POST /v1/messages HTTP/1.1\r\n${auth}\r\ncontent-length: 100`, '{"type":"broadcast",');
    await hangUp(relay.url, `POST /v1/messages HTTP/1.1\r\n${auth}\r\ntransfer-encoding: chunked`, '5\r\n{"typ\r\n');
    await hangUp(relay.url, `PUT /v1/files/a.txt HTTP/1.1\r\n${auth}\r\ncontent-length: 100000`, "abc");
    const poll = new AbortController();
    const waiting = fetch(`${relay.url}/v1/agents/${a.id}/inbox?wait=5`, { headers: { authorization: `Bearer ${a.secret}` }, signal: poll.signal }).catch(() => "aborted");
    await Bun.sleep(100);
    poll.abort();
    expect(await waiting).toBe("aborted");
    await Bun.sleep(300);
    expect(unexpected).toEqual([]);
    expect(await pendingOf(relay, b)).toBe(0);
    expect(await relay.core.listFiles()).toEqual([]);
  });
});
