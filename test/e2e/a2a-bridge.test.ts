/** `a2a-bridge` makes an A2A agent nobody here wrote (@a2a-js/sdk's server) a ClawLink agent that takes delegated tasks. */
import { afterAll, describe, expect, test } from "bun:test";
import { CliProcess, cleanup, eventually, runCli, spawnRelay, tempHome } from "../_helpers";
import { startShouter, textOf } from "../_a2a";

afterAll(cleanup);

const TOKEN = "bridge-token";

describe("a2a-bridge", async () => {
  const shouter = startShouter();
  afterAll(() => shouter.stop());
  const { url } = await spawnRelay(["--token", TOKEN]);
  const boss = { home: tempHome(), relay: url, env: { CLAWLINK_TOKEN: TOKEN } };
  const bridgeHome = { home: tempHome(), relay: url, env: { CLAWLINK_TOKEN: TOKEN } };
  await runCli(["register", "--name", "boss"], boss);
  const bridge = new CliProcess(["a2a-bridge", "--card", `${shouter.url}/.well-known/agent-card.json`, "--name", "shouter"], bridgeHome);
  await bridge.waitFor(/bridging Shouter Agent as shouter/);

  test("registers the agent under --name, with the card's description and its skills as capabilities", async () => {
    const agents = (await runCli(["discover", "--json"], boss)).json;
    expect(agents.find((a: any) => a.name === "shouter")).toMatchObject({ caps: ["shout", "voice-amplification"], description: "Repeats what it is told, louder.", connected: true });
    // The bridge keeps its identity without making it the home's default.
    expect(await Bun.file(`${bridgeHome.home}/identities/shouter.json`).exists()).toBe(true);
    expect(await Bun.file(`${bridgeHome.home}/default`).exists()).toBe(false);
  });

  test("a task delegated with --wait goes out as SendMessage, and the agent's artifact is the response", async () => {
    const r = await runCli(["delegate", "--to", "shouter", "--task", "hello from clawlink", "--context", '{"ticket":42}', "--wait", "--timeout", "20"], boss);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("HELLO FROM CLAWLINK");
    const sent = shouter.received.at(-1)!;
    expect(textOf(sent)).toBe("hello from clawlink");
    expect(sent.parts.find((p) => p.content?.$case === "data")?.content?.value).toEqual({ ticket: 42 });
    const id = (await runCli(["tasks", "--json"], boss)).json.tasks.at(-1).id;
    const task = (await runCli(["task", "--id", id, "--json"], boss)).json;
    expect(task.history.map((h: any) => h.state)).toContain("working");
  });

  test("a task the agent fails is failed in ClawLink, with the agent's words (exit 10)", async () => {
    const r = await runCli(["delegate", "--to", "shouter", "--task", "please fail", "--wait", "--json", "--timeout", "20"], boss);
    expect(r.code).toBe(10);
    expect(r.json).toMatchObject({ type: "response", status: "failed", result: 'cannot shout "please fail"' });
  });

  test("canceling the ClawLink task cancels the agent's task", async () => {
    const id = (await runCli(["delegate", "--to", "shouter", "--task", "wait for it"], boss)).stdout.trim();
    await eventually(async () => (await runCli(["task", "--id", id, "--json"], boss)).json.state === "working", 10_000);
    expect((await runCli(["cancel", "--msg-id", id], boss)).code).toBe(0);
    await bridge.waitFor(new RegExp(`${id} was canceled; canceling Shouter Agent task`), 10_000);
  });

  test("stops cleanly on SIGTERM", async () => {
    expect(await bridge.stop("SIGTERM")).toBe(0);
  });
});

test("a card without an A2A 1.0 interface it can speak is refused with what it lists", async () => {
  const card = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => Response.json({ name: "Old Agent", supportedInterfaces: [{ url: "http://127.0.0.1:1/rpc", protocolBinding: "GRPC", protocolVersion: "1.0" }] }),
  });
  afterAll(() => card.stop(true));
  const { url } = await spawnRelay();
  const r = await runCli(["a2a-bridge", "--card", `http://127.0.0.1:${card.port}/`], { home: tempHome(), relay: url });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("offers no A2A 1.0 JSON-RPC or HTTP+JSON interface (it lists: GRPC 1.0)");
  const missing = await runCli(["a2a-bridge", "--card", `http://127.0.0.1:${card.port}/nothing.json`.replace(String(card.port), "1")], { home: tempHome(), relay: url });
  expect(missing.code).toBe(3);
  expect(missing.stderr).toContain("the A2A agent is not reachable");
});

test("an agent that refuses the bridge's credentials fails the task at once, saying so and naming --agent-token", async () => {
  let calls = 0;
  const guarded = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/.well-known/agent-card.json") {
        return Response.json({ name: "Guarded", supportedInterfaces: [{ url: `${url.origin}/rpc`, protocolBinding: "JSONRPC", protocolVersion: "1.0" }], skills: [] });
      }
      calls++;
      return new Response("Unauthorized", { status: 401, headers: { "www-authenticate": "Bearer" } });
    },
  });
  afterAll(() => guarded.stop(true));
  const { url } = await spawnRelay();
  const boss = { home: tempHome(), relay: url };
  await runCli(["register", "--name", "boss"], boss);
  const bridge = new CliProcess(["a2a-bridge", "--card", `http://127.0.0.1:${guarded.port}`, "--name", "guarded"], { home: tempHome(), relay: url });
  await bridge.waitFor(/bridging Guarded as guarded/);
  const r = await runCli(["delegate", "--to", "guarded", "--task", "let me in", "--wait", "--json", "--timeout", "20"], boss);
  expect(r.code).toBe(10);
  expect(r.json.result).toBe(
    `Guarded did not take the task: the A2A agent at http://127.0.0.1:${guarded.port}/rpc refused the call: it wants authentication (HTTP 401); pass its token with --agent-token (or CLAWLINK_A2A_TOKEN)`,
  );
  // Refused once, not retried as if it might pass.
  expect(calls).toBe(1);
  await bridge.waitFor(/refused the call: it wants authentication/);
  expect(await bridge.stop("SIGTERM")).toBe(0);
});
