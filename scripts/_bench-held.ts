/**
 * bench-budgets.ts sections for what an agent can make the relay hold (issue 9, second review):
 * a recipient that never reads, tasks acknowledged and never answered, finished tasks and their
 * pages, task watches that never read, and uploads trickled a byte at a time. Each prints the
 * relay's resident memory before, at its peak and after, against a bound the budgets imply.
 */
import net from "node:net";
import { rssMiBOf } from "./_machine";
import { registerAgents, type AgentCred, type ServerProcess } from "./_relay";
import { fmtInt } from "./_stats";

export interface Bench {
  withRelay<T>(flags: string[], run: (relay: ServerProcess) => Promise<T>): Promise<T>;
  log(line: string): void;
}

const MiB = 1024 * 1024;
const J = { "content-type": "application/json" };
const send = (url: string, who: AgentCred, message: unknown) =>
  fetch(`${url}/v1/messages`, { method: "POST", headers: { ...J, authorization: `Bearer ${who.secret}` }, body: JSON.stringify(message) }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
const get = (url: string, who: AgentCred, path: string) => fetch(url + path, { headers: { authorization: `Bearer ${who.secret}` } });

/** Samples the relay's RSS every 50 ms while `run` runs. */
async function peakOf<T>(relay: ServerProcess, run: () => Promise<T>): Promise<{ idle: number; peak: number; after: number; out: T }> {
  Bun.gc(true);
  const idle = rssMiBOf(relay.pid);
  let peak = idle;
  const t = setInterval(() => (peak = Math.max(peak, rssMiBOf(relay.pid))), 50);
  try {
    const out = await run();
    const after = rssMiBOf(relay.pid);
    return { idle, peak: Math.max(peak, after), after, out };
  } finally {
    clearInterval(t);
  }
}

function verdict(b: Bench, name: string, m: { idle: number; peak: number; after: number }, boundMiB: number, what: string) {
  const ok = m.peak - m.idle < boundMiB;
  b.log(`  relay RSS: idle ${fmtInt(m.idle)} MiB, peak ${fmtInt(m.peak)} MiB, after ${fmtInt(m.after)} MiB`);
  b.log(`  verdict (${name}): growth ${fmtInt(m.peak - m.idle)} MiB vs bound < ${fmtInt(boundMiB)} MiB (${what}): ${ok ? "ok" : "NOT MET"}`);
  return ok;
}

/** Tasks of `size` from `senders` in turn to `to` until each sender is refused; the refusals by code. */
async function flood(url: string, senders: AgentCred[], to: string, size: number) {
  const codes = new Map<string, number>();
  let ok = 0;
  const body = { type: "task", to, task: "y".repeat(size) };
  for (const s of senders) {
    for (let i = 0; i < 2000; i++) {
      const r = await send(url, s, body);
      if (r.status === 201) {
        ok++;
        continue;
      }
      codes.set(r.body.error.code, (codes.get(r.body.error.code) ?? 0) + 1);
      break;
    }
  }
  return { ok, codes: [...codes].map(([c, n]) => `${n} × ${c}`).join(", ") };
}

/** Agents that never read: 5 senders flood 1 MB tasks to one, then to 9 more; bystanders still answer tasks in flight. */
export async function sink(b: Bench): Promise<boolean> {
  return b.withRelay([], async (relay) => {
    const { url } = relay;
    const senders = await registerAgents(url, [1, 2, 3, 4, 5].map((i) => `flood${i}`));
    const sinks = await registerAgents(url, Array.from({ length: 10 }, (_, i) => `sink${i}`));
    const [alice, bob] = await registerAgents(url, ["alice", "bob"]);
    const job = (await send(url, alice!, { type: "task", to: "bob", task: "a real job" })).body.id;
    await get(url, bob!, `/v1/agents/${bob!.id}/inbox?ack=true`);
    const m = await peakOf(relay, async () => {
      const one = await flood(url, senders, "sink0", 1_000_000);
      const bystander = (await send(url, alice!, { type: "task", to: "bob", task: "hello" })).status;
      b.log(`sink: 5 senders, 1 MB tasks to one agent that never reads: ${one.ok} accepted, then ${one.codes}; a bystander's task: ${bystander}`);
      let more = 0;
      for (const s of sinks.slice(1)) more += (await flood(url, senders, s.name, 1_000_000)).ok;
      const refused = await send(url, alice!, { type: "task", to: "bob", task: "x".repeat(1_000_000) });
      const answered = await send(url, bob!, { type: "response", in_reply_to: job, result: "r".repeat(100_000) });
      b.log(`  then to 9 more such agents: ${more} more accepted; a new 1 MB task: ${refused.status} ${refused.body.error?.code ?? ""}; the answer to a task in flight: ${answered.status}`);
      return answered.status === 201;
    });
    return verdict(b, "sink", m, 2 * 256, "twice --max-queued-bytes") && m.out;
  });
}

/** Tasks taken and acknowledged, never answered; then tasks answered with 1 MB results; then a page of all of them. */
export async function held(b: Bench): Promise<boolean> {
  return b.withRelay([], async (relay) => {
    const { url } = relay;
    const [boss, worker, hoarder] = await registerAgents(url, ["boss", "worker", "hoarder"]);
    const m = await peakOf(relay, async () => {
      let accepted = 0;
      let code = "";
      for (let i = 0; i < 200 && !code; i++) {
        const r = await send(url, boss!, { type: "task", to: "hoarder", task: "h".repeat(1_000_000) });
        if (r.status !== 201) code = r.body.error.code;
        else accepted++;
        await get(url, hoarder!, `/v1/agents/${hoarder!.id}/inbox?ack=true&max=100`);
      }
      b.log(`held: 1 MB tasks taken and acknowledged by an agent that never answers: ${accepted} accepted, then ${code || "none refused"}`);
      let done = 0;
      for (let i = 0; i < 300; i++) {
        const r = await send(url, worker!, { type: "task", to: "worker", task: "w".repeat(500_000) });
        if (r.status !== 201) break;
        await get(url, worker!, `/v1/agents/${worker!.id}/inbox?ack=true&max=100`);
        if ((await send(url, worker!, { type: "response", in_reply_to: r.body.id, result: "r".repeat(500_000) })).status === 201) done++;
      }
      let pages = 0;
      let biggest = 0;
      let cursor: string | null = null;
      do {
        const res = await get(url, worker!, `/v1/tasks?limit=1000${cursor ? `&cursor=${cursor}` : ""}`);
        const text = await res.text();
        biggest = Math.max(biggest, text.length);
        cursor = (JSON.parse(text) as { next_cursor: string | null }).next_cursor;
        pages++;
      } while (cursor && pages < 1000);
      b.log(`  ${done} tasks of 0.5 MB answered with 0.5 MB; listing them took ${pages} page(s) of at most ${(biggest / MiB).toFixed(1)} MiB`);
    });
    return verdict(b, "held", m, 64 + 128 + 256, "--max-sender-bytes + --max-finished-bytes, with room for the collector");
  });
}

/** 32 task watches that never read, on a 1 MB task whose holder sends 200 progress notes. */
export async function watch(b: Bench): Promise<boolean> {
  return b.withRelay([], async (relay) => {
    const { url } = relay;
    const [boss, holder] = await registerAgents(url, ["boss", "holder"]);
    const id = (await send(url, boss!, { type: "task", to: "holder", task: "q".repeat(1_000_000) })).body.id;
    await get(url, holder!, `/v1/agents/${holder!.id}/inbox?ack=true`);
    const port = Number(new URL(url).port);
    let closed = 0;
    const socks = Array.from({ length: 32 }, () => {
      const c = net.connect({ port, host: "127.0.0.1" }, () =>
        c.write(`GET /v1/ws?task=${id} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${boss!.secret}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`),
      );
      c.once("data", () => c.pause());
      c.on("close", () => closed++);
      c.on("error", () => {});
      return c;
    });
    await Bun.sleep(1000);
    const m = await peakOf(relay, async () => {
      for (let i = 0; i < 200; i++) await send(url, holder!, { type: "progress", in_reply_to: id, note: `step ${i}` });
      await Bun.sleep(1000);
    });
    b.log(`watch: 32 watchers that never read a 1 MB task, 200 progress notes (unbounded: ${fmtInt(32 * 200)} MB of snapshots); sockets closed by the relay so far: ${closed}`);
    for (const c of socks) c.destroy();
    return verdict(b, "watch", m, 32 * 2 + 128, "two snapshots per watcher, with room for the collector");
  });
}

/** Four uploads declaring 256 MiB each, sent a byte a second: how long they hold their room, and a real upload after. */
export async function trickle(b: Bench): Promise<boolean> {
  return b.withRelay([], async (relay) => {
    const { url } = relay;
    const [me] = await registerAgents(url, ["trickler"]);
    const port = Number(new URL(url).port);
    const t0 = performance.now();
    const answered: number[] = [];
    const socks = Array.from({ length: 4 }, (_, i) => {
      const s = net.connect({ port, host: "127.0.0.1" }, () =>
        s.write(`PUT /v1/files/hog${i} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${me!.secret}\r\nContent-Length: ${256 * MiB}\r\n\r\n`),
      );
      s.once("data", () => answered.push(performance.now() - t0));
      s.on("error", () => {});
      return s;
    });
    const tick = setInterval(() => socks.forEach((s) => s.write("x")), 1000);
    for (let i = 0; i < 40 && answered.length < socks.length; i++) await Bun.sleep(500);
    clearInterval(tick);
    socks.forEach((s) => s.destroy());
    const real = await fetch(`${url}/v1/files/real`, { method: "PUT", headers: { authorization: `Bearer ${me!.secret}`, "content-type": "application/octet-stream" }, body: new Uint8Array(200 * MiB) });
    await real.text();
    const held = answered.length ? Math.max(...answered) / 1000 : Infinity;
    const ok = answered.length === socks.length && real.status === 201;
    b.log(`trickle: 4 uploads declaring 256 MiB, a byte a second: all refused within ${held.toFixed(1)} s (${answered.length}/4 answered); a 200 MiB upload after: ${real.status}`);
    b.log(`  verdict (trickle): ${ok ? "ok" : "NOT MET"} (the room comes back after the 10 s grace and --min-upload-rate)`);
    return ok;
  });
}
