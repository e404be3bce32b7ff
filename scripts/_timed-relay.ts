/**
 * The relay from source with in-process timestamps: every WebSocket `send` frame and HTTP route is
 * timed from handler entry to return (for a send to a connected agent: parse, validate, route, and
 * the pushed frame handed to the socket). Relay code is untouched: Bun.serve is wrapped before the
 * relay calls it. Prints its URL, and on SIGTERM one line `timings {...}` (microseconds) on stdout.
 *   bun scripts/_timed-relay.ts [--max-queue N] [--max-agents N]
 */
import { parseArgs } from "node:util";
import { Histogram } from "./_stats";

const ws = new Histogram();
const http = new Histogram();
const realServe = Bun.serve;

const timed =
  <A extends unknown[], R>(hist: Histogram, fn: (...args: A) => R) =>
  (...args: A): R => {
    const t0 = performance.now();
    const out = fn(...args);
    if (out instanceof Promise) void out.finally(() => hist.record((performance.now() - t0) * 1000));
    else hist.record((performance.now() - t0) * 1000);
    return out;
  };

(Bun as { serve: unknown }).serve = (options: any) => {
  const message = options.websocket?.message;
  if (message) {
    // Only sends: acks and pings would blur the figure.
    const timedMessage = timed(ws, message);
    options.websocket.message = (sock: unknown, raw: string | Buffer) =>
      (typeof raw === "string" ? raw : raw.toString()).startsWith('{"op":"send"') ? timedMessage(sock, raw) : message(sock, raw);
  }
  for (const [path, route] of Object.entries(options.routes ?? {})) {
    if (path === "/v1/ws") continue;
    if (typeof route === "function") options.routes[path] = timed(http, route as (...a: unknown[]) => unknown);
    else for (const [method, fn] of Object.entries(route as Record<string, (...a: unknown[]) => unknown>)) (route as Record<string, unknown>)[method] = timed(http, fn);
  }
  return realServe(options);
};

const { values } = parseArgs({ options: { "max-queue": { type: "string" }, "max-agents": { type: "string" } } });
const { startRelay } = await import("../src/relay/server");
const relay = startRelay({
  host: "127.0.0.1",
  port: 0,
  version: "timed",
  maxQueue: values["max-queue"] ? Number(values["max-queue"]) : undefined,
  maxAgents: values["max-agents"] ? Number(values["max-agents"]) : undefined,
});
console.log(`timed relay listening on ${relay.url}`);

process.once("SIGTERM", async () => {
  await relay.stop();
  const us = (h: Histogram) => ({ n: h.n, p50: h.percentile(50), p90: h.percentile(90), p99: h.percentile(99), max: h.max, mean: (h.summary().mean * 1000) });
  console.log(`timings ${JSON.stringify({ ws: us(ws), http: us(http) })}`);
  process.exit(0);
});
