/** Every limit: what crosses it, the status and message it gets, and the exit code the CLI turns it into. */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_LIMITS, resolveLimits } from "../../src/relay/limits";
import { cleanup, pendingOf, runCli, startTestRelay, tempHome } from "../_helpers";
import { api, registerAgent } from "../_http";
import { wsConnect } from "../ws";

afterAll(cleanup);

const cliAs = (relay: { url: string }, home: string) => ({ home, relay: relay.url });

describe("request body and message size", () => {
  const relay = startTestRelay({ maxMessageBytes: 2048 });
  const call = api(relay.url);

  test("a JSON body past --max-message-bytes is 413, whether it declares its length or streams it", async () => {
    const a = await registerAgent(relay.url, "a");
    const big = { type: "broadcast", content: "x".repeat(3000) };
    const declared = await call("POST", "/v1/messages", { bearer: a.secret, json: big });
    expect(declared.status).toBe(413);
    expect(declared.body.error).toEqual({
      code: "too_large",
      message: "the message is larger than the relay's limit of 2048 bytes",
      hint: "send less, or start the relay with a higher --max-message-bytes",
    });
    const bytes = new TextEncoder().encode(JSON.stringify(big));
    const streamed = await call("POST", "/v1/messages", {
      bearer: a.secret,
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < bytes.length; i += 500) c.enqueue(bytes.slice(i, i + 500));
          c.close();
        },
      }),
    });
    expect(streamed.status).toBe(413);
    expect(await pendingOf(relay, a)).toBe(0);
  });

  test("the CLI exits 2 with the limit in the message", async () => {
    const home = tempHome();
    await runCli(["register", "--name", "b"], cliAs(relay, home));
    const r = await runCli(["broadcast", "--content", "y".repeat(3000)], cliAs(relay, home));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: the message is larger than the relay's limit of 2048 bytes");
    expect(r.stderr).toContain("--max-message-bytes");
  });
});

describe("agents per relay", () => {
  const relay = startTestRelay({ maxAgents: 2 });

  test("past --max-agents, registering is 429 and the CLI exits 7", async () => {
    await registerAgent(relay.url, "one");
    await registerAgent(relay.url, "two");
    const r = await runCli(["register", "--name", "three"], cliAs(relay, tempHome()));
    expect(r.code).toBe(7);
    expect(r.stderr).toContain("error: the relay holds its maximum of 2 agents");
    expect(r.stderr).toContain("--max-agents");
    expect((await relay.core.health()).agents).toBe(2);
  });
});

describe("queue length per agent", () => {
  const relay = startTestRelay({ maxQueue: 2 });
  const call = api(relay.url);

  test("past --max-queue, sending to the agent is 429 with Retry-After, and the CLI exits 7", async () => {
    const sender = tempHome();
    await runCli(["register", "--name", "sender"], cliAs(relay, sender));
    const busy = await registerAgent(relay.url, "busy");
    for (const n of [1, 2]) expect((await runCli(["delegate", "--to", "busy", "--task", `job ${n}`], cliAs(relay, sender))).code).toBe(0);
    const r = await runCli(["delegate", "--to", "busy", "--task", "job 3"], cliAs(relay, sender));
    expect(r.code).toBe(7);
    expect(r.stderr).toContain("error: busy's queue is full (2 messages waiting)");

    const s = await registerAgent(relay.url, "raw");
    const raw = await call("POST", "/v1/messages", { bearer: s.secret, json: { type: "task", to: "busy", task: "job 4" } });
    expect(raw.status).toBe(429);
    expect(raw.headers.get("retry-after")).toBe("1");
    expect(raw.body.error.code).toBe("queue_full");
    expect(await pendingOf(relay, busy)).toBe(2);
  });
});

describe("shared files", () => {
  const relay = startTestRelay({ maxFileBytes: 1000, maxTotalFileBytes: 1500 });
  const home = tempHome();
  const put = (key: string, size: number) => {
    const path = join(home, `${key}.bin`);
    writeFileSync(path, new Uint8Array(size));
    return runCli(["file-put", "--key", key, "--file", path], cliAs(relay, home));
  };

  test("a file past --max-file-bytes is 413 and the CLI exits 2", async () => {
    await runCli(["register", "--name", "writer"], cliAs(relay, home));
    const r = await put("big", 1001);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: the file is larger than the relay's limit of 1000 bytes");
    expect(r.stderr).toContain("--max-file-bytes");
  });

  test("files past --max-total-file-bytes together are 413; a new version frees the old one's bytes", async () => {
    expect((await put("a", 800)).code).toBe(0);
    const over = await put("b", 800);
    expect(over.code).toBe(2);
    expect(over.stderr).toContain("error: storing 800 bytes would take the shared files to 1600 bytes, over the relay's limit of 1500 bytes");
    expect(over.stderr).toContain("clawlink file-rm");
    expect((await put("a", 1000)).code).toBe(0);
    // Older versions give way to new ones; the latest version of a key never does.
    const history = await runCli(["file-history", "--key", "a", "--json"], cliAs(relay, home));
    expect(history.json.map((v: any) => [v.version, v.size])).toEqual([[2, 1000]]);
    expect((await put("b", 500)).code).toBe(0);
    expect((await runCli(["file-rm", "--key", "a"], cliAs(relay, home))).code).toBe(0);
    expect((await put("c", 900)).code).toBe(0);
  });
});

describe("WebSocket payload size", () => {
  const relay = startTestRelay({ maxFrameBytes: 4096 });

  test("a frame past --max-frame-bytes closes the socket with 1009; smaller frames are answered", async () => {
    const a = await registerAgent(relay.url, "talker");
    const ws = await wsConnect(`${relay.url}/v1/ws`, a.secret);
    await ws.nextOp("hello");
    ws.send({ op: "ping" });
    await ws.nextOp("pong");
    ws.send({ op: "send", message: { type: "broadcast", content: "z".repeat(5000) } });
    expect((await ws.closed).code).toBe(1009);
  });

  test("by default a frame holds a whole message plus its envelope", () => {
    expect(resolveLimits({}).maxFrameBytes).toBe(DEFAULT_LIMITS.maxMessageBytes + 16 * 1024);
    expect(resolveLimits({ maxMessageBytes: 4096 }).maxFrameBytes).toBe(4096 + 16 * 1024);
    expect(resolveLimits({ maxMessageBytes: 4096, maxFrameBytes: 9000 }).maxFrameBytes).toBe(9000);
  });
});
