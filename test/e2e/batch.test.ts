/**
 * Batched frames on the compiled relay: a sender puts many messages in one `send` frame and gets one
 * confirmation; a client that asks in its hello gets `messages` frames, a plain one single frames,
 * side by side, and `listen` asks for batches. Every confirmed message arrives once, and is acked.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { CliProcess, cleanup, eventually, runCli, spawnRelay, tempHome } from "../_helpers";
import { wsConnect, type WsClient } from "../ws";

afterAll(cleanup);

type Agent = { id: string; secret: string };

async function register(url: string, name: string): Promise<Agent> {
  const res = await fetch(`${url}/v1/agents`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name }) });
  return (await res.json()) as Agent;
}

/** What the relay still holds for an agent: waiting, and pushed but not acknowledged. */
async function held(url: string, agent: Agent): Promise<number> {
  const res = await fetch(`${url}/v1/agents/${agent.id}/heartbeat`, { method: "POST", headers: { authorization: `Bearer ${agent.secret}` } });
  const body = (await res.json()) as { pending: number; in_flight: number };
  return body.pending + body.in_flight;
}

/** Collects the messages a raw socket receives, acking each frame's ids at once, and the ops they came in. */
function collect(sock: WsClient) {
  const ids: string[] = [];
  const ops = new Set<string>();
  sock.ws.addEventListener("message", (ev) => {
    const f = JSON.parse(String(ev.data));
    const messages = f.op === "messages" ? f.messages : f.op === "message" ? [f.message] : [];
    if (messages.length === 0) return;
    ops.add(f.op);
    for (const m of messages) ids.push(m.id);
    sock.send({ op: "ack", ids: messages.map((m: { id: string }) => m.id) });
  });
  return { ids, ops };
}

const note = (to: string, i: number) => ({ type: "response", to, in_reply_to: "m_batchtest", result: `result ${i}` });

describe("batched frames", async () => {
  const { url } = await spawnRelay();
  const sender = await register(url, "sender");
  const batcher = await register(url, "batcher");
  const plain = await register(url, "plain");
  const home = tempHome();
  const listenerId = (await runCli(["register", "--name", "listener", "--json"], { home, relay: url })).json.id as string;
  const listenerAgent = { id: listenerId, secret: (await Bun.file(join(home, "identities", "listener.json")).json()).secret as string };

  test("a batching client, a plain one and `listen` side by side: every confirmed message arrives once and is acked", async () => {
    const b = await wsConnect(`${url}/v1/ws`, batcher.secret);
    expect(await b.nextOp("hello")).toMatchObject({ batch: true });
    b.send({ op: "hello", batch: true });
    const p = await wsConnect(`${url}/v1/ws`, plain.secret);
    await p.nextOp("hello");
    const listener = new CliProcess(["listen", "--json"], { home, relay: url });
    await listener.waitFor(/listening as listener/);
    const got = { batcher: collect(b), plain: collect(p) };

    const s = await wsConnect(`${url}/v1/ws`, sender.secret);
    await s.nextOp("hello");
    const to = ["batcher", "plain", "listener"];
    const confirmed: Record<string, string[]> = { batcher: [], plain: [], listener: [] };
    for (let batch = 0; batch < 4; batch++) {
      const messages = Array.from({ length: 150 }, (_, i) => note(to[i % 3]!, batch * 150 + i));
      s.send({ op: "send", ref: `b${batch}`, messages });
      const sent = await s.nextOp("sent", 10_000);
      expect(sent.ref).toBe(`b${batch}`);
      expect(sent.results).toHaveLength(150);
      sent.results.forEach((r: { id: string; to: string }, i: number) => confirmed[to[i % 3]!]!.push(r.id));
    }

    await eventually(() => got.batcher.ids.length >= 200 && got.plain.ids.length >= 200 && listener.jsonLines().length >= 200, 15_000);
    expect(got.batcher.ids.sort()).toEqual(confirmed.batcher!.sort());
    expect(got.plain.ids.sort()).toEqual(confirmed.plain!.sort());
    expect(listener.jsonLines().map((m) => m.id).sort()).toEqual(confirmed.listener!.sort());
    expect([...got.batcher.ops]).toContain("messages");
    expect([...got.plain.ops]).toEqual(["message"]);
    // Acked: nothing waits or is in flight for any of them.
    await eventually(async () => (await held(url, batcher)) + (await held(url, plain)) + (await held(url, listenerAgent)) === 0, 5000);
    await listener.stop();
    for (const c of [b, p, s]) c.close();
  });

  test("one refused message in a batch is reported in its place; the others are sent", async () => {
    const s = await wsConnect(`${url}/v1/ws`, sender.secret);
    await s.nextOp("hello");
    s.send({ op: "send", ref: "mixed", messages: [note("plain", 1), note("ghost", 2), note("plain", 3)] });
    const sent = await s.nextOp("sent");
    expect(sent.results[0]).toMatchObject({ to: plain.id });
    expect(sent.results[1].error).toMatchObject({ code: "unknown_agent" });
    expect(sent.results[1].error.hint).toBeString();
    expect(sent.results[2]).toMatchObject({ to: plain.id });
    const p = await wsConnect(`${url}/v1/ws`, plain.secret);
    await p.nextOp("hello");
    const ids = [(await p.nextOp("message")).message.id, (await p.nextOp("message")).message.id];
    expect(ids).toEqual([sent.results[0].id, sent.results[2].id]);
    p.send({ op: "ack", ids });
    await eventually(async () => (await held(url, plain)) === 0);
    p.close();
    s.close();
  });

  test("a malformed batch is refused whole, with an error that names the message, and nothing is sent", async () => {
    const s = await wsConnect(`${url}/v1/ws`, sender.secret);
    await s.nextOp("hello");
    s.send({ op: "send", ref: "bad", messages: [note("plain", 1), { type: "task", to: "plain" }, note("plain", 3)] });
    const err = await s.nextOp("error");
    expect(err.ref).toBe("bad");
    expect(err.error.code).toBe("bad_request");
    expect(err.error.message).toContain("messages[1]");
    expect(err.error.message).toContain("nothing in the batch was sent");
    expect(err.error.hint).toContain("send the whole batch again");

    s.send({ op: "send", ref: "empty", messages: [] });
    expect((await s.nextOp("error")).error.message).toContain("at least one message");
    s.send({ op: "send", ref: "big", messages: Array.from({ length: 1001 }, (_, i) => note("plain", i)) });
    expect((await s.nextOp("error")).error.message).toContain("at most 1000 messages");
    s.send({ op: "send", ref: "both", message: note("plain", 0), messages: [note("plain", 1)] });
    expect((await s.nextOp("error")).error.message).toContain("either `message` (one) or `messages` (a batch)");
    // A frame after them still works, and it is the only thing the recipient got.
    s.send({ op: "send", ref: "ok", message: note("plain", 9) });
    const ok = await s.nextOp("sent");
    expect(await held(url, plain)).toBe(1);
    const p = await wsConnect(`${url}/v1/ws`, plain.secret);
    await p.nextOp("hello");
    expect((await p.nextOp("message")).message.id).toBe(ok.id);
    p.close();
    s.close();
  });
});
