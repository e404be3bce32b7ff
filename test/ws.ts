/** WebSocket events as promises, so tests read top to bottom. */
import * as v from "valibot";
import { describeIssues } from "../src/protocol/codec";
import { ServerFrame } from "../src/protocol/schemas";

/** An agent's socket: every frame the relay sends it must be a ServerFrame of the wire contract. */
export function wsConnect(url: string, secret: string): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, "ws"), { headers: { authorization: `Bearer ${secret}` } } as any);
    const client = new WsClient(ws, ServerFrame);
    ws.onopen = () => resolve(client);
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
  });
}

export class WsClient {
  private frames: any[] = [];
  private waiters: ((f: any) => void)[] = [];
  closed: Promise<{ code: number; reason: string }>;

  constructor(
    readonly ws: WebSocket,
    schema?: v.GenericSchema,
  ) {
    ws.onmessage = (ev) => {
      let f = JSON.parse(String(ev.data));
      const checked = schema && v.safeParse(schema, f);
      // Handed to the test as an error, so a frame off the contract fails whoever reads it.
      if (checked && !checked.success) f = new Error(`a frame off the wire contract: ${describeIssues(checked.issues)}: ${String(ev.data).slice(0, 500)}`);
      const w = this.waiters.shift();
      if (w) w(f);
      else this.frames.push(f);
    };
    this.closed = new Promise((r) => ws.addEventListener("close", (ev) => r({ code: ev.code, reason: ev.reason })));
  }

  /** The next frame, or an error after `timeoutMs`. */
  next(timeoutMs = 3000): Promise<any> {
    const f = this.frames.shift();
    if (f) return f instanceof Error ? Promise.reject(f) : Promise.resolve(f);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no frame in time")), timeoutMs);
      this.waiters.push((x) => {
        clearTimeout(t);
        if (x instanceof Error) reject(x);
        else resolve(x);
      });
    });
  }

  /** The next frame with this op, skipping others. */
  async nextOp(op: string, timeoutMs = 3000): Promise<any> {
    for (;;) {
      const f = await this.next(timeoutMs);
      if (f.op === op) return f;
    }
  }

  send(frame: unknown) {
    this.ws.send(JSON.stringify(frame));
  }

  close() {
    this.ws.close();
  }
}

/**
 * Sends one WebSocket upgrade request by hand and returns the relay's answer: the status, and the
 * JSON error when it refuses (a browser's or a WebSocket client's API would hide both).
 */
export function rawUpgrade(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const target = new URL(url);
  const all: Record<string, string> = {
    host: target.host,
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
    ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
  };
  const lines = [`GET ${target.pathname}${target.search} HTTP/1.1`, ...Object.entries(all).map(([k, v]) => `${k}: ${v}`)];
  return new Promise((resolve, reject) => {
    let text = "";
    const settle = (socket: { end(): void }) => {
      const [head = "", body = ""] = text.split("\r\n\r\n");
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]);
      if (status === 101) return (socket.end(), resolve({ status, body: undefined }));
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? -1);
      if (length >= 0 && Buffer.byteLength(body) >= length) {
        socket.end();
        resolve({ status, body: JSON.parse(body) });
      }
    };
    Bun.connect({
      hostname: target.hostname,
      port: Number(target.port),
      socket: {
        open: (s) => void s.write(`${lines.join("\r\n")}\r\n\r\n`),
        data: (s, chunk) => {
          text += chunk.toString();
          settle(s);
        },
        error: (_, err) => reject(err),
      },
    }).catch(reject);
  });
}

/** A WebSocket with no credential, as a browser opens one (the dashboard sends its token in the first frame). */
export function wsOpen(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, "ws"), { headers } as any);
    const client = new WsClient(ws);
    ws.onopen = () => resolve(client);
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
  });
}
