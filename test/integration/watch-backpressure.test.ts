/** A task watch (`delegate --wait`) whose reader stops reading: the latest snapshot wins, and a reader that never reads is closed. */
import { afterAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { cleanup, startTestRelay } from "../_helpers";
import { api, registerAgent } from "../_http";
import { wsConnect } from "../ws";

afterAll(cleanup);

/** Reads the server's frames (unmasked) out of raw bytes: text payloads, and the close frame's code and reason. */
function parseFrames(buf: Buffer) {
  const texts: string[] = [];
  let close: { code: number; reason: string } | undefined;
  let at = 0;
  while (at + 2 <= buf.length) {
    const op = buf[at]! & 0x0f;
    let len = buf[at + 1]! & 0x7f;
    let head = 2;
    if (len === 126) (len = buf.readUInt16BE(at + 2)), (head = 4);
    else if (len === 127) (len = Number(buf.readBigUInt64BE(at + 2))), (head = 10);
    if (at + head + len > buf.length) break;
    const payload = buf.subarray(at + head, at + head + len);
    if (op === 1) texts.push(payload.toString());
    if (op === 8) close = { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString() };
    at += head + len;
  }
  return { texts, close };
}

describe("task watches and slow readers", () => {
  const relay = startTestRelay({ watchStallMs: 300 });
  const call = api(relay.url);

  test("a watcher that stops reading gets only the latest snapshot, then is closed with 1008; a reading watcher sees every change", async () => {
    const boss = await registerAgent(relay.url, "boss");
    const worker = await registerAgent(relay.url, "worker");
    const id = (await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "worker", task: "q".repeat(1_000_000) } })).body.id;
    await call("GET", `/v1/agents/${worker.id}/inbox?ack=true`, { bearer: worker.secret });

    const port = Number(new URL(relay.url).port);
    const raw = net.connect({ port, host: "127.0.0.1" });
    const chunks: Buffer[] = [];
    let ended = false;
    raw.on("data", (d: Buffer) => chunks.push(d));
    raw.on("close", () => (ended = true));
    raw.on("error", () => {});
    await new Promise<void>((r) => raw.once("connect", () => r()));
    raw.write(
      `GET /v1/ws?task=${id} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${boss.secret}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    while (!Buffer.concat(chunks).includes("\r\n\r\n")) await Bun.sleep(10);
    raw.pause();
    const reader = await wsConnect(`${relay.url}/v1/ws?task=${id}`, boss.secret);

    const NOTES = 40;
    for (let i = 0; i < NOTES; i++) {
      expect((await call("POST", "/v1/messages", { bearer: worker.secret, json: { type: "progress", in_reply_to: id, note: `step ${i}` } })).status).toBe(201);
      await Bun.sleep(15);
    }
    // The reading watcher saw every note.
    const notes: string[] = [];
    while (notes.at(-1) !== `step ${NOTES - 1}`) {
      const f = await reader.next(10_000);
      if (f.op === "task" && f.task.note) notes.push(f.task.note);
    }
    expect(notes.length).toBe(NOTES);
    reader.close();

    raw.resume();
    for (let i = 0; i < 500 && !ended; i++) await Bun.sleep(10);
    const all = Buffer.concat(chunks);
    const { texts, close } = parseFrames(all.subarray(all.indexOf("\r\n\r\n") + 4));
    const snapshots = texts.map((t) => JSON.parse(t)).filter((f) => f.op === "task");
    // Without backpressure it would have been sent all 41 snapshots of a 1 MB task.
    expect(snapshots.length).toBeLessThan(NOTES / 2);
    expect(close).toEqual({ code: 1008, reason: "task watch not read: the relay keeps only the latest snapshot for a slow reader; reconnect to get it" });
    raw.destroy();
  });
});
