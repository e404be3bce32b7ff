/**
 * An HTTP/1.1 load generator in the spirit of wrk: raw keep-alive TCP connections, one request in
 * flight on each (fixed concurrency, closed loop), latencies in a histogram. Raw sockets because
 * `fetch` costs more per request than the relay does, and the bench would measure the client.
 */
import type { Socket } from "bun";
import { takeResponses } from "./_http";
import { Histogram } from "./_stats";

export interface LoadOptions {
  /** `http://127.0.0.1:PORT` */
  url: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  durationMs: number;
  /** Requests in this first stretch warm the JIT and are not counted. */
  warmupMs: number;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  latency: Histogram;
  /** Responses per HTTP status. */
  statuses: Record<number, number>;
  /** Connections that failed or closed under load. */
  socketErrors: number;
}

interface Conn {
  buf: Buffer | null;
  sentAt: number;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const { hostname, port } = new URL(opts.url);
  const body = Buffer.from(opts.body);
  const head = [`${opts.method} ${opts.path} HTTP/1.1`, `host: ${hostname}:${port}`, ...Object.entries(opts.headers).map(([k, v]) => `${k}: ${v}`), `content-length: ${body.length}`];
  const request = Buffer.concat([Buffer.from(head.join("\r\n") + "\r\n\r\n"), body]);

  let latency = new Histogram();
  let statuses: Record<number, number> = {};
  let requests = 0;
  let socketErrors = 0;
  let sending = true;
  let inFlight = 0;
  let settled: () => void = () => {};

  const send = (s: Socket<Conn>) => {
    s.data.sentAt = performance.now();
    inFlight++;
    s.write(request);
  };

  const onResponse = (s: Socket<Conn>, status: number) => {
    inFlight--;
    latency.record((performance.now() - s.data.sentAt) * 1000);
    statuses[status] = (statuses[status] ?? 0) + 1;
    requests++;
    if (sending) send(s);
    else if (inFlight === 0) settled();
  };

  const sockets: Socket<Conn>[] = [];
  for (let i = 0; i < opts.connections; i++) {
    sockets.push(
      await Bun.connect<Conn>({
        hostname,
        port: Number(port),
        data: { buf: null, sentAt: 0 },
        socket: {
          data(s, chunk) {
            s.data.buf = takeResponses(s.data.buf ? Buffer.concat([s.data.buf, chunk]) : chunk, (status) => onResponse(s, status));
          },
          close() {
            if (sending) socketErrors++;
          },
          error() {
            socketErrors++;
          },
        },
      }),
    );
  }

  for (const s of sockets) send(s);
  await Bun.sleep(opts.warmupMs);
  latency = new Histogram();
  statuses = {};
  requests = 0;
  const started = performance.now();
  await Bun.sleep(opts.durationMs);
  const seconds = (performance.now() - started) / 1000;
  const result = { requests, seconds, rps: requests / seconds, latency, statuses, socketErrors };
  // What completes from here on is not counted.
  latency = new Histogram();
  statuses = {};
  sending = false;
  // Let the last requests finish so the relay is quiet for whatever runs next.
  await Promise.race([new Promise<void>((r) => (settled = r)), Bun.sleep(2000)]);
  for (const s of sockets) s.end();
  return result;
}

/** `201 x 150000, 429 x 12` */
export const fmtStatuses = (s: Record<number, number>) =>
  Object.entries(s)
    .map(([code, n]) => `${code} x ${n}`)
    .join(", ") || "none";
