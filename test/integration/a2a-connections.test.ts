/** A2A calls that wait leave no connection without an idle timeout once they have answered. */
import { afterAll, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { cleanup, startTestRelay } from "../_helpers";
import { api, registerAgent } from "../_http";

afterAll(cleanup);

const TOKEN = "t0ken";

/** One kept-alive HTTP/1.1 connection: send a request, read until `done(text)`, and see when the relay closes it. */
function rawConnection(port: number) {
  const sock: Socket = connect(port, "127.0.0.1");
  let received = "";
  let closedAt: number | null = null;
  sock.on("data", (d) => (received += d));
  sock.on("close", () => (closedAt = performance.now()));
  return {
    send(path: string, body: unknown) {
      const json = JSON.stringify(body);
      sock.write(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
      );
    },
    async until(done: (text: string) => boolean, ms: number) {
      const end = performance.now() + ms;
      while (!done(received) && closedAt === null && performance.now() < end) await Bun.sleep(20);
      return received;
    },
    async closedWithin(ms: number) {
      const end = performance.now() + ms;
      while (closedAt === null && performance.now() < end) await Bun.sleep(50);
      sock.destroy();
      return closedAt !== null;
    },
  };
}

const sendMessage = (text: string, method = "SendMessage") => ({
  jsonrpc: "2.0",
  id: 1,
  method,
  params: { message: { messageId: crypto.randomUUID(), role: "ROLE_USER", parts: [{ text }] } },
});

describe("A2A connections", async () => {
  const relay = startTestRelay({ token: TOKEN });
  const port = Number(new URL(relay.url).port);
  const bob = await registerAgent(relay.url, "bob", TOKEN);
  const asBob = api(relay.url);

  /** Bob answers the next task in his inbox. */
  async function bobAnswers(result: string) {
    const inbox = await asBob("GET", `/v1/agents/${bob.id}/inbox?wait=10`, { bearer: bob.secret });
    const task = inbox.body.messages.find((m: { type: string }) => m.type === "task");
    await asBob("POST", "/v1/messages", { bearer: bob.secret, json: { type: "response", in_reply_to: task.id, result } });
  }

  test("after a blocking SendMessage answers, its kept-alive connection is closed when idle again", async () => {
    const conn = rawConnection(port);
    conn.send("/a2a/bob", sendMessage("wait for me"));
    await bobAnswers("done");
    const text = await conn.until((t) => t.includes('"state":"TASK_STATE_COMPLETED"'), 10_000);
    expect(text).toContain("HTTP/1.1 200");
    expect(await conn.closedWithin(15_000)).toBe(true);
  }, 30_000);

  test("a streamed task's connection closes when the stream ends", async () => {
    const conn = rawConnection(port);
    conn.send("/a2a/bob", sendMessage("stream me", "SendStreamingMessage"));
    await bobAnswers("streamed");
    const text = await conn.until((t) => t.includes("TASK_STATE_COMPLETED"), 10_000);
    expect(text).toContain("text/event-stream");
    expect(await conn.closedWithin(2_000)).toBe(true);
  }, 20_000);
});
