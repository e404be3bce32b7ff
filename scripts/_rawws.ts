/**
 * A minimal WebSocket client over Bun.connect, for load: no event objects per frame, and the frames
 * sent in one tick go out in one write. Bun's WebSocket class costs the client more per frame than
 * the relay spends routing it, so with it the bench would measure the client. Text frames only;
 * answers pings; frames are masked with a zero key (RFC 6455 requires a mask, not a secret one).
 */
import type { Socket } from "bun";
import type { Peer, TextHandler } from "./_ws";

interface State {
  buf: Buffer | null;
  upgraded: boolean;
  /** Pieces of a fragmented message. */
  parts: Buffer[];
  out: Buffer[];
  tail: Buffer | null;
  scheduled: boolean;
  closed: boolean;
}

const HEADER_END = Buffer.from("\r\n\r\n");

function encode(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const ext = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const frame = Buffer.allocUnsafe(2 + ext + 4 + n);
  frame[0] = 0x80 | opcode;
  if (ext === 0) frame[1] = 0x80 | n;
  else if (ext === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  frame.writeUInt32BE(0, 2 + ext);
  payload.copy(frame, 2 + ext + 4);
  return frame;
}

/**
 * Connects to `url` (ws://host:port/path?query) and resolves once the server's first text frame
 * (the hello) has arrived; `onText` then gets every later text frame.
 */
export function openRaw(url: string, headers: Record<string, string>, onText: TextHandler, timeoutMs = 15_000): Promise<Peer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    let hello = false;
    let sock: Socket<State> | undefined;
    let onClosed = () => {};
    const closed = new Promise<void>((r) => (onClosed = r));
    const fail = (why: string) => {
      if (hello) return;
      clearTimeout(timer);
      sock?.end();
      reject(new Error(`${url}: ${why}`));
    };
    const timer = setTimeout(() => fail("no hello in time"), timeoutMs);

    const flush = (s: Socket<State>) => {
      s.data.scheduled = false;
      if (s.data.closed || s.data.out.length === 0) return;
      const chunk = s.data.out.length === 1 ? s.data.out[0]! : Buffer.concat(s.data.out);
      s.data.out = [];
      if (s.data.tail) {
        s.data.tail = Buffer.concat([s.data.tail, chunk]);
        return;
      }
      const n = s.write(chunk);
      if (n < chunk.length) s.data.tail = chunk.subarray(Math.max(0, n));
    };
    const enqueue = (s: Socket<State>, frame: Buffer) => {
      s.data.out.push(frame);
      if (!s.data.scheduled) {
        s.data.scheduled = true;
        queueMicrotask(() => flush(s));
      }
    };

    // The last text sent and its frame: a load that sends the same text again is not encoded again.
    let last: { text: string; frame: Buffer } | undefined;
    const peer: Peer = {
      send: (text) => {
        if (last?.text !== text) last = { text, frame: encode(0x1, Buffer.from(text)) };
        enqueue(sock!, last.frame);
      },
      async close() {
        if (!sock || sock.data.closed) return;
        flush(sock);
        sock.write(encode(0x8, Buffer.from([0x03, 0xe8])));
        sock.end();
        await Promise.race([closed, Bun.sleep(2000)]);
      },
    };

    const onFrame = (s: Socket<State>, opcode: number, payload: Buffer) => {
      if (opcode === 0x9) return enqueue(s, encode(0xa, payload));
      if (opcode === 0x8) return void s.end();
      if (opcode !== 0x1) return;
      const text = payload.toString("utf8");
      if (hello) return onText(text);
      if (text.startsWith('{"op":"hello"')) {
        hello = true;
        clearTimeout(timer);
        peer.hello = text;
        resolve(peer);
      } else fail(`expected hello, got ${text.slice(0, 200)}`);
    };

    const parse = (s: Socket<State>, buf: Buffer): Buffer => {
      let at = 0;
      for (;;) {
        if (buf.length - at < 2) break;
        const b0 = buf[at]!;
        let len = buf[at + 1]! & 0x7f;
        let head = 2;
        if (len === 126) {
          if (buf.length - at < 4) break;
          len = buf.readUInt16BE(at + 2);
          head = 4;
        } else if (len === 127) {
          if (buf.length - at < 10) break;
          len = Number(buf.readBigUInt64BE(at + 2));
          head = 10;
        }
        if (buf.length - at < head + len) break;
        const payload = buf.subarray(at + head, at + head + len);
        at += head + len;
        const opcode = b0 & 0x0f;
        if (!(b0 & 0x80)) s.data.parts.push(Buffer.from(payload));
        else if (opcode === 0x0) onFrame(s, 0x1, Buffer.concat([...s.data.parts.splice(0), payload]));
        else onFrame(s, opcode, payload);
      }
      return buf.subarray(at);
    };

    const path = `${u.pathname}${u.search}`;
    const request = [
      `GET ${path} HTTP/1.1`,
      `host: ${u.host}`,
      "upgrade: websocket",
      "connection: Upgrade",
      `sec-websocket-key: ${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64")}`,
      "sec-websocket-version: 13",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      "",
      "",
    ].join("\r\n");

    Bun.connect<State>({
      hostname: u.hostname,
      port: Number(u.port),
      data: { buf: null, upgraded: false, parts: [], out: [], tail: null, scheduled: false, closed: false },
      socket: {
        open(s) {
          sock = s;
          s.setNoDelay(true);
          s.write(request);
        },
        data(s, chunk) {
          let buf = s.data.buf ? Buffer.concat([s.data.buf, chunk]) : chunk;
          if (!s.data.upgraded) {
            const end = buf.indexOf(HEADER_END);
            if (end < 0) {
              s.data.buf = Buffer.from(buf);
              return;
            }
            const status = buf.toString("latin1", 0, end);
            if (!status.startsWith("HTTP/1.1 101")) return fail(status.split("\r\n")[0] ?? status);
            s.data.upgraded = true;
            buf = buf.subarray(end + 4);
          }
          const rest = parse(s, buf);
          s.data.buf = rest.length ? Buffer.from(rest) : null;
        },
        drain(s) {
          const tail = s.data.tail;
          if (!tail) return;
          s.data.tail = null;
          const n = s.write(tail);
          if (n < tail.length) s.data.tail = tail.subarray(Math.max(0, n));
        },
        close(s) {
          s.data.closed = true;
          onClosed();
          fail("closed");
        },
        error(_s, err) {
          fail(err.message);
        },
      },
    }).catch((err: Error) => fail(err.message));
  });
}

/** The `"id"` of a message frame's message, or a sent frame's id, without parsing the whole frame. */
export function idOf(text: string): string | undefined {
  const at = text.indexOf('"id":"');
  if (at < 0) return undefined;
  const start = at + 6;
  return text.slice(start, text.indexOf('"', start));
}
