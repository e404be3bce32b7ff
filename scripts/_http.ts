/**
 * A keep-alive HTTP/1.1 client on one raw TCP connection, for the benchmarks' timed requests: `fetch`
 * costs its caller more CPU per request than the relay spends answering it, and on a machine with few
 * cores that CPU is taken from the relays under test (`_load.ts` is built the same way). Requests go
 * out one at a time, in order; each resolves with its status and body.
 */
import type { Socket } from "bun";

const HEADER_END = Buffer.from("\r\n\r\n");

/**
 * Takes each whole response off the front of what a connection read (responses come one after another,
 * and a read may end mid-response): `each` gets its status and body; what is left (or null) comes back.
 */
export function takeResponses(buf: Buffer, each: (status: number, body: Buffer) => void): Buffer | null {
  for (;;) {
    const end = buf.indexOf(HEADER_END);
    if (end < 0) break;
    const header = buf.toString("latin1", 0, end);
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(header);
    const total = end + 4 + (m ? Number(m[1]) : 0);
    if (buf.length < total) break;
    const body = buf.subarray(end + 4, total);
    buf = buf.subarray(total);
    each(Number(header.slice(9, 12)), body);
  }
  return buf.length ? Buffer.from(buf) : null;
}

export interface HttpReply {
  status: number;
  body: string;
}

interface Pending {
  request: Buffer;
  resolve: (r: HttpReply) => void;
  reject: (e: Error) => void;
}

export class KeptAlive {
  private socket: Socket<undefined> | null = null;
  private connecting: Promise<Socket<undefined>> | null = null;
  private queue: Pending[] = [];
  private buf: Buffer | null = null;
  private readonly host: string;
  private readonly port: number;

  constructor(url: string) {
    const u = new URL(url);
    this.host = u.hostname;
    this.port = Number(u.port);
  }

  post(path: string, headers: Record<string, string>, body: string): Promise<HttpReply> {
    const bytes = Buffer.from(body);
    const head = [`POST ${path} HTTP/1.1`, `host: ${this.host}:${this.port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), `content-length: ${bytes.length}`];
    const request = Buffer.concat([Buffer.from(`${head.join("\r\n")}\r\n\r\n`), bytes]);
    return new Promise<HttpReply>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      if (this.queue.length === 1) void this.sendHead();
    });
  }

  close() {
    this.socket?.end();
    this.socket = null;
  }

  private async sendHead() {
    const next = this.queue[0];
    if (!next) return;
    try {
      (this.socket ?? (await this.connect())).write(next.request);
    } catch (e) {
      this.failAll(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private connect(): Promise<Socket<undefined>> {
    this.connecting ??= Bun.connect({
      hostname: this.host,
      port: this.port,
      socket: {
        data: (_s, chunk) => this.onData(chunk),
        close: () => {
          this.socket = null;
          this.connecting = null;
          this.failAll(new Error("connection closed"));
        },
        error: (_s, e) => this.failAll(e),
      },
    }).then(
      (s) => (this.socket = s),
      (e) => {
        // A failed attempt is not kept: the next request connects again.
        this.connecting = null;
        throw e;
      },
    );
    return this.connecting;
  }

  private onData(chunk: Buffer) {
    this.buf = takeResponses(this.buf ? Buffer.concat([this.buf, chunk]) : chunk, (status, body) => {
      this.queue.shift()?.resolve({ status, body: body.toString("utf8") });
      void this.sendHead();
    });
  }

  private failAll(e: Error) {
    for (const p of this.queue.splice(0)) p.reject(e);
    this.buf = null;
  }
}
