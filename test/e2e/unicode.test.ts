/**
 * Text that is not valid Unicode (half of a UTF-16 surrogate pair, sent as a `\u` escape) is refused
 * where it comes in, as a 400 that says so, on every path and every store, and changes nothing; Redis
 * could not read it back, so it once failed there as a 500.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, runCli, spawnRelay, tempHome } from "../_helpers";
import { api, registerAgent } from "../_http";
import { redisMissing, startRedis } from "../_redis";
import { wsConnect } from "../ws";

afterAll(cleanup);

const LONE = "half \ud800 of a pair";
const REFUSED = "holds a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape without its pair), which is not valid Unicode";

async function checks(name: string, extra: () => Promise<string[]>) {
  describe(`lone surrogates, ${name}`, async () => {
    const { url } = await spawnRelay(await extra());
    const call = api(url);
    const boss = await registerAgent(url, "boss");
    const worker = await registerAgent(url, "worker");
    const inboxOf = async (who: { id: string; secret: string }) => (await call("GET", `/v1/agents/${who.id}/inbox`, { bearer: who.secret })).body.messages;

    test("a registration, a task's text, its context and a response's result are each a 400 naming the problem; nothing is kept", async () => {
      const reg = await call("POST", "/v1/agents", { json: { name: "odd", description: LONE } });
      expect(reg.status).toBe(400);
      expect(reg.body.error).toMatchObject({ code: "bad_request", message: `registration ${REFUSED}` });
      expect(reg.body.error.hint).toContain("UTF-8");
      const caps = await call("POST", "/v1/agents", { json: { name: "odd", caps: ["a\udc00"] } });
      expect(caps.status).toBe(400);
      expect((await call("GET", "/v1/agents", { bearer: boss.secret })).body.agents.map((a: { name: string }) => a.name).sort()).toEqual(["boss", "worker"]);

      for (const body of [
        { type: "task", to: "worker", task: LONE },
        { type: "task", to: "worker", task: "t", context: { note: LONE } },
        { type: "task", to: "worker", task: "t", context: { [LONE]: 1 } },
        { type: "broadcast", content: LONE },
      ]) {
        const r = await call("POST", "/v1/messages", { bearer: boss.secret, json: body });
        expect(r.status).toBe(400);
        expect(r.body.error.message).toBe(`message ${REFUSED}`);
      }
      expect(await inboxOf(worker)).toEqual([]);

      const sent = await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "worker", task: "t" } });
      expect(sent.status).toBe(201);
      const answer = await call("POST", "/v1/messages", { bearer: worker.secret, json: { type: "response", in_reply_to: sent.body.id, status: "completed", result: LONE } });
      expect(answer.status).toBe(400);
      expect(answer.body.error.message).toBe(`message ${REFUSED}`);
      expect((await call("GET", `/v1/tasks/${sent.body.id}`, { bearer: boss.secret })).body.state).toBe("queued");
    });

    test("a pair of halves, and a backslash followed by u as text, are kept as sent", async () => {
      const text = "smile \ud83d\ude00 and the six characters \\ud800";
      const sent = await call("POST", "/v1/messages", { bearer: boss.secret, body: JSON.stringify({ type: "task", to: "worker", task: text }).replace("\ud83d\ude00", "\\ud83d\\ude00"), headers: { "content-type": "application/json" } });
      expect(sent.status).toBe(201);
      const got = (await inboxOf(worker)).find((m: { id: string }) => m.id === sent.body.id);
      expect(got.task).toBe(text);
    });

    test("a WebSocket frame is refused with an error frame that echoes its ref; the socket stays open", async () => {
      const ws = await wsConnect(`${url}/v1/ws`, boss.secret);
      await ws.nextOp("hello");
      ws.send({ op: "send", ref: "r1", message: { type: "task", to: "worker", task: LONE } });
      const refused = await ws.nextOp("error");
      expect(refused.ref).toBe("r1");
      expect(refused.error).toMatchObject({ code: "bad_request", message: `the frame ${REFUSED}` });
      ws.send({ op: "ping" });
      await ws.nextOp("pong");
      ws.close();
    });

    test("A2A: JSON-RPC answers -32602 and HTTP+JSON 400, and no task is made", async () => {
      const message = { messageId: crypto.randomUUID(), role: "ROLE_USER", parts: [{ text: LONE }] };
      const rpc = await call("POST", "/a2a/worker", { bearer: boss.secret, json: { jsonrpc: "2.0", id: 3, method: "SendMessage", params: { message, configuration: { returnImmediately: true } } } });
      expect(rpc.status).toBe(200);
      expect(rpc.body).toMatchObject({ id: 3, error: { code: -32602 } });
      expect(rpc.body.error.message).toBe(`the request ${REFUSED}`);
      const rest = await call("POST", "/a2a/worker/message:send", { bearer: boss.secret, json: { message, configuration: { returnImmediately: true } } });
      expect(rest.status).toBe(400);
      expect(rest.body.error.message).toBe(`the request ${REFUSED}`);
      expect((await inboxOf(worker)).filter((m: { task?: string }) => m.task === LONE)).toEqual([]);
    });

    test("the CLI says what the relay refused, with the usage exit code", async () => {
      const home = tempHome();
      expect((await runCli(["register", "--name", "cli", "--json"], { home, relay: url })).code).toBe(0);
      const r = await runCli(["delegate", "--to", "worker", "--task", "t", "--context", '{"note":"\\ud800"}', "--json"], { home, relay: url });
      expect(r.code).toBe(2);
      expect(r.json.error).toMatchObject({ code: "bad_request", message: `message ${REFUSED}` });
    });
  });
}

await checks("memory relay", async () => []);
if (!redisMissing("test/e2e/unicode.test.ts")) {
  const redis = await startRedis();
  afterAll(() => redis.stop());
  await checks("Redis relay", async () => ["--redis", redis.url]);
}
