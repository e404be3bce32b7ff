/** A connection reset: at once it may be a TLS relay spoken to in http (the hint says so); after the relay took the request for seconds, it is not. */
import { afterAll, expect, test } from "bun:test";
import { cleanup, runCli, tempHome } from "../_helpers";

afterAll(cleanup);

/** A server that reads the request, then closes the connection after `delayMs` without answering. */
function resetting(delayMs: number) {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s) => void setTimeout(() => s.end(), delayMs) } });
  afterAll(() => server.stop(true));
  return `http://127.0.0.1:${server.port}`;
}

test("a reset at once suggests https://", async () => {
  const r = await runCli(["whoami", "--json"], { home: tempHome(), relay: resetting(0) });
  expect(r.code).toBe(3);
  expect(r.json.problem).toMatchObject({ code: "unreachable", hint: "if the relay was started with --tls-cert, use an https:// URL" });
});

test("a reset seconds after the request went out says the relay took it, without the TLS hint", async () => {
  const r = await runCli(["whoami", "--json"], { home: tempHome(), relay: resetting(2500) });
  expect(r.code).toBe(3);
  expect(r.json.problem.message).toMatch(/took the request, then closed the connection after 2\.\d s \(ECONNRESET\)/);
  expect(r.json.problem.hint).not.toContain("https");
});
