/** A2A calls that wait leave no connection without an idle timeout once they have answered. */
import { afterAll, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { cleanup, eventually, startTestRelay } from "../_helpers";
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

const HELD = "open connections (WebSockets, long polls, A2A streams and blocking A2A sends)";

describe("A2A calls that wait are held connections", async () => {
  const relay = startTestRelay({ token: TOKEN, maxConnectionsPerAgent: 2 });
  const port = Number(new URL(relay.url).port);
  const bob = await registerAgent(relay.url, "bob", TOKEN);
  const call = api(relay.url);
  const inboxTasks = async () => (await call("GET", `/v1/agents/${bob.id}/inbox?max=1000`, { bearer: bob.secret })).body.messages.filter((m: { type: string }) => m.type === "task");

  test("past the caller's limit, streams and blocking sends are 429 before any task is sent", async () => {
    const streams = [rawConnection(port), rawConnection(port)];
    streams[0]!.send("/a2a/bob", sendMessage("one", "SendStreamingMessage"));
    streams[1]!.send("/a2a/bob", sendMessage("two", "SendStreamingMessage"));
    for (const s of streams) await s.until((t) => t.includes("TASK_STATE_SUBMITTED"), 5_000);
    const blocking = await call("POST", "/a2a/bob", { bearer: TOKEN, json: sendMessage("three") });
    expect(blocking.status).toBe(429);
    expect(blocking.headers.get("retry-after")).toBe("1");
    expect(blocking.body.error.message).toBe(`agent a2a already holds 2 ${HELD}, the relay's limit (--max-connections-per-agent)`);
    expect(blocking.body.error.data[0].reason).toBe("TOO_MANY_CONNECTIONS");
    const rest = await call("POST", "/a2a/bob/message:stream", { bearer: TOKEN, json: { message: sendMessage("four").params.message } });
    expect(rest.status).toBe(429);
    expect(rest.body.error.status).toBe("RESOURCE_EXHAUSTED");
    // Nothing of the refused calls was sent; a send that does not wait is not held.
    expect((await inboxTasks()).map((m: { task: string }) => m.task)).toEqual(["one", "two"]);
    const quick = await call("POST", "/a2a/bob", { bearer: TOKEN, json: { ...sendMessage("five"), params: { ...sendMessage("five").params, configuration: { returnImmediately: true } } } });
    expect(quick.status).toBe(200);
    // A stream whose client leaves gives its place back.
    await streams[0]!.closedWithin(0);
    const again = rawConnection(port);
    again.send("/a2a/bob", sendMessage("six", "SendStreamingMessage"));
    expect(await again.until((t) => t.includes("TASK_STATE_SUBMITTED"), 5_000)).toContain("text/event-stream");
    await again.closedWithin(0);
    await streams[1]!.closedWithin(0);
  }, 20_000);

  test("a stream whose reader stops reading is closed once it falls 4 MiB behind, not buffered for without end", async () => {
    const sock: Socket = connect(port, "127.0.0.1");
    let text = "";
    let closed = false;
    let stalled = false;
    sock.on("close", () => (closed = true));
    sock.on("data", (d) => {
      text += d;
      // Reads the answer's start, then nothing more: the relay's writes back up.
      if (stalled || !text.includes("TASK_STATE_SUBMITTED")) return;
      stalled = true;
      sock.pause();
    });
    const json = JSON.stringify(sendMessage("flood me", "SendStreamingMessage"));
    sock.write(`POST /a2a/bob HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
    await eventually(() => text.includes("TASK_STATE_SUBMITTED"));
    const task = (await inboxTasks()).find((m: { task: string }) => m.task === "flood me");
    // Progress notes of 10,000 characters, each a status update on the stream: far more than the socket buffers hold.
    const note = "n".repeat(9_990);
    for (let i = 0; i < 6_000 && relay.server.pendingRequests > 0; i += 40) {
      await Promise.all(Array.from({ length: 40 }, (_, k) => call("POST", "/v1/messages", { bearer: bob.secret, json: { type: "progress", in_reply_to: task.id, note: `${note}${String(i + k).padStart(4, "0")}` } })));
    }
    // The relay let go of the connection: reading what the socket held, the client finds the stream cut short.
    await eventually(() => relay.server.pendingRequests === 0, 10_000);
    sock.resume();
    await eventually(() => closed, 10_000);
    expect(text).not.toContain("TASK_STATE_COMPLETED");
    // Its place is free again.
    const next = rawConnection(port);
    next.send("/a2a/bob", sendMessage("after", "SendStreamingMessage"));
    expect(await next.until((t) => t.includes("TASK_STATE_SUBMITTED"), 5_000)).toContain("HTTP/1.1 200");
    await next.closedWithin(0);
  }, 40_000);
});
