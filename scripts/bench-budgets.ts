/**
 * Resource attacks on one relay, and whether another client stays responsive through them (issue 9).
 * The relay runs as the compiled binary on loopback; every flood is bounded in time.
 *   bun scripts/bench-budgets.ts                  every section
 *   bun scripts/bench-budgets.ts acks progress    some sections
 *   --duration S     measured seconds per phase (default 5)
 *   --binary PATH    attack this build instead of dist/ (A/B against an older one)
 *   --profile DIR    run the relay from source under `bun --cpu-prof-md`; its profiles land in DIR
 * Sections:
 *   acks      one agent with 10,000 messages in its inbox floods ack frames naming 1000 of its tasks
 *   progress  one agent holding a task floods its requester with 10 KB progress notes
 *   uploads   8 concurrent uploads of 200 MiB against the default budget: the relay's peak memory
 *   sink      agents that never read, flooded with 1 MB tasks: the recipient cap, and answers that still flow
 *   held      tasks acknowledged and never answered; finished tasks with big results; their pages
 *   watch     32 task watches that never read, while the task changes 200 times
 *   trickle   uploads declaring 256 MiB sent a byte a second: how long they hold the file budget
 * (the last four are in _bench-held.ts, and print the relay's memory against what the budgets bound)
 * A bystander agent, in a process of its own, sends a heartbeat every 5 ms; its p99 with no attack
 * (the baseline, same run) and under attack are printed, and the verdict is whether the latter stays
 * under 50 ms. The relay's CPU share during the attack says how much of a core the attack took.
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { cpuMeter, describeMachine, fmtCpu, machineLine, rssMiBOf } from "./_machine";
import { BINARY, ensureBinary, registerAgents, spawnRelay, track, useBinary, type AgentCred, type ServerProcess } from "./_relay";
import { fmtInt, fmtMs, type Summary } from "./_stats";
import { bearer, openSocket, wsUrl } from "./_ws";
import { held, sink, trickle, watch } from "./_bench-held";

const P99_TARGET_MS = 50;

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    duration: { type: "string", default: "5" },
    binary: { type: "string" },
    profile: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
const bench = { withRelay, log: (line: string) => log(line) };
const SECTIONS: Record<string, () => Promise<boolean>> = { acks, progress, uploads, sink: () => sink(bench), held: () => held(bench), watch: () => watch(bench), trickle: () => trickle(bench) };
if (values.help) {
  process.stdout.write(`usage: bun scripts/bench-budgets.ts [${Object.keys(SECTIONS).join("|")}...] [--duration S] [--binary PATH]\n`);
  process.exit(0);
}
const unknown = positionals.filter((p) => !(p in SECTIONS));
if (unknown.length) {
  process.stderr.write(`unknown section ${unknown.join(", ")}; sections: ${Object.keys(SECTIONS).join(", ")}\n`);
  process.exit(2);
}
const durationMs = Number(values.duration) * 1000;
const log = (line: string) => process.stdout.write(line + "\n");

/** A socket that sends frames and waits for their answers, in order. */
class Frames {
  private waiting: ((frame: any) => void)[] = [];
  private constructor(readonly ws: WebSocket) {}

  static async open(url: string, secret: string, query = ""): Promise<Frames> {
    let frames: Frames | undefined;
    const ws = await openSocket(wsUrl(url, query), bearer(secret), (text) => frames?.answer(JSON.parse(text)));
    return (frames = new Frames(ws));
  }
  private answer(frame: any) {
    if (frame.op === "sent" || frame.op === "error" || frame.op === "pong") this.waiting.shift()?.(frame);
  }
  /** Sends frames that each get an answer (send, ping) and resolves with the answers. */
  ask(frames: unknown[]): Promise<any[]> {
    return Promise.all(
      frames.map((f) => {
        const answered = new Promise<any>((r) => this.waiting.push(r));
        this.ws.send(JSON.stringify(f));
        return answered;
      }),
    );
  }
  close() {
    this.ws.close();
  }
}

/** Sends `messages` in windows of `window`, so the relay's answers pace the sender. */
async function sendAll(f: Frames, messages: unknown[], window = 500): Promise<any[]> {
  const out: any[] = [];
  for (let i = 0; i < messages.length; i += window) out.push(...(await f.ask(messages.slice(i, i + window).map((message) => ({ op: "send", message })))));
  return out;
}

const post = (url: string, path: string, secret: string, body?: unknown) =>
  fetch(url + path, { method: "POST", headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });

/** The bystander (scripts/_bystander.ts), in its own process: one heartbeat every 5 ms for `ms`. */
async function bystander(url: string, me: AgentCred, ms: number): Promise<Summary> {
  const proc = track(Bun.spawn([process.execPath, join(import.meta.dir, "_bystander.ts"), url, me.id, me.secret, String(ms)], { stdout: "pipe", stderr: "pipe" }));
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const line = /^latency (.*)$/m.exec(out);
  if (code !== 0 || !line) throw new Error(`the bystander failed (exit ${code}): ${err || out}`);
  return JSON.parse(line[1]!) as Summary;
}

/** Baseline, then the same bystander while `attack` runs; prints both and the verdict. */
async function measure(name: string, relay: ServerProcess, me: AgentCred, attack: (stop: () => boolean) => Promise<string>): Promise<boolean> {
  const base = await bystander(relay.url, me, durationMs);
  let stopped = false;
  const cpu = cpuMeter(relay.pid);
  const flooding = attack(() => stopped);
  const under = await bystander(relay.url, me, durationMs);
  stopped = true;
  const told = await flooding;
  const share = cpu();
  const ok = under.p99 < P99_TARGET_MS;
  log(`${name}: ${told}; ${fmtCpu("relay CPU", share)} of a core`);
  log(`  bystander heartbeat p50/p99/max: no attack ${fmtMs(base.p50)} / ${fmtMs(base.p99)} / ${fmtMs(base.max)} (n=${base.n}); under attack ${fmtMs(under.p50)} / ${fmtMs(under.p99)} / ${fmtMs(under.max)} (n=${under.n})`);
  log(`  verdict: p99 under attack ${fmtMs(under.p99)} vs target < ${P99_TARGET_MS} ms: ${ok ? "ok" : "NOT MET"}`);
  return ok;
}

async function withRelay<T>(flags: string[], run: (relay: ServerProcess) => Promise<T>): Promise<T> {
  const relay = await spawnRelay({ flags, profileDir: values.profile && resolve(values.profile) });
  try {
    return await run(relay);
  } finally {
    await relay.stop();
  }
}

/** One agent holding 10,000 broadcasts and 1000 status messages acks its 1000 tasks by task id, over and over. */
async function acks(): Promise<boolean> {
  return withRelay(["--max-queue", "20000"], async (relay) => {
    const { url } = relay;
    const [attacker, chatty] = await registerAgents(url, ["attacker", "chatty"]);
    const talk = await Frames.open(url, chatty!.secret, "types=status");
    await sendAll(talk, Array.from({ length: 10_000 }, (_, i) => ({ type: "broadcast", content: `news ${i}` })));
    talk.close();
    const [taker, me] = await registerAgents(url, ["taker", "bystander"]);
    const own = await Frames.open(url, attacker!.secret, "files=none/");
    const ids = (await sendAll(own, Array.from({ length: 1000 }, (_, i) => ({ type: "task", to: "taker", task: `job ${i}` })))).map((f) => f.id as string);
    own.close();
    await fetch(`${url}/v1/agents/${taker!.id}/inbox?max=1000&ack=true`, { headers: bearer(taker!.secret) });
    const watch = await Frames.open(url, attacker!.secret, `task=${ids[0]}`);
    return measure("acks", relay, me!, async (stop) => {
      let frames = 0;
      const frame = JSON.stringify({ op: "ack", tasks: ids });
      const t0 = performance.now();
      while (!stop()) {
        // Acks get no answer: a ping after each burst paces the flood at the relay's speed.
        for (let i = 0; i < 20; i++) watch.ws.send(frame);
        frames += 20;
        await watch.ask([{ op: "ping" }]);
      }
      const s = (performance.now() - t0) / 1000;
      watch.close();
      return `${fmtInt(frames)} ack frames of ${ids.length} task ids in ${s.toFixed(1)} s (${fmtInt(frames / s)}/s) from an agent holding 11,000 messages`;
    });
  });
}

/** One agent holding a task sends 10 KB progress notes about it as fast as the relay answers. */
async function progress(): Promise<boolean> {
  return withRelay([], async (relay) => {
    const { url } = relay;
    const [boss, holder, me] = await registerAgents(url, ["boss", "holder", "bystander"]);
    const sent = (await (await post(url, "/v1/messages", boss!.secret, { type: "task", to: "holder", task: "a long job" })).json()) as { id: string };
    await fetch(`${url}/v1/agents/${holder!.id}/inbox?ack=true`, { headers: bearer(holder!.secret) });
    const ws = await Frames.open(url, holder!.secret, "types=broadcast");
    const note = "n".repeat(10_000);
    return measure("progress", relay, me!, async (stop) => {
      let notes = 0;
      let refused = 0;
      const t0 = performance.now();
      while (!stop()) {
        const answers = await ws.ask(Array.from({ length: 100 }, () => ({ op: "send", message: { type: "progress", in_reply_to: sent.id, note } })));
        notes += answers.length;
        refused += answers.filter((a) => a.op === "error").length;
      }
      const s = (performance.now() - t0) / 1000;
      ws.close();
      const pending = ((await (await post(url, `/v1/agents/${boss!.id}/heartbeat`, boss!.secret)).json()) as { pending: number }).pending;
      return `${fmtInt(notes)} progress notes of 10 KB in ${s.toFixed(1)} s (${fmtInt(notes / s)}/s, ${fmtInt(refused)} refused); the requester's queue holds ${pending} message(s) after`;
    });
  });
}

/** Eight uploads of 200 MiB at once against the default --max-total-file-bytes (1 GiB): the relay's resident memory at its peak. */
async function uploads(): Promise<boolean> {
  return withRelay([], async (relay) => {
    const [me] = await registerAgents(relay.url, ["uploader"]);
    const size = 200 * 1024 * 1024;
    const body = new Uint8Array(size).fill(7);
    const idle = rssMiBOf(relay.pid);
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiBOf(relay.pid))), 20);
    const t0 = performance.now();
    const statuses = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const res = await fetch(`${relay.url}/v1/files/upload-${i}`, { method: "PUT", headers: { authorization: `Bearer ${me!.secret}`, "content-type": "application/octet-stream" }, body });
        const text = await res.text();
        return res.status === 429 || res.status === 413 ? `${res.status} ${(JSON.parse(text) as { error: { code: string } }).error.code}` : String(res.status);
      }),
    );
    const s = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    peak = Math.max(peak, rssMiBOf(relay.pid));
    const counts = new Map<string, number>();
    for (const st of statuses) counts.set(st, (counts.get(st) ?? 0) + 1);
    const limit = 1.6 * 1024;
    const ok = peak < limit;
    log(`uploads: 8 × 200 MiB at once in ${s.toFixed(1)} s: ${[...counts].map(([k, n]) => `${n} × ${k}`).join(", ")}`);
    log(`  relay RSS: idle ${fmtInt(idle)} MiB, peak ${fmtInt(peak)} MiB (kept: what the 201s stored)`);
    log(`  verdict: peak ${fmtInt(peak)} MiB vs target < ${fmtInt(limit)} MiB: ${ok ? "ok" : "NOT MET"}`);
    return ok;
  });
}

if (values.binary) useBinary(resolve(values.binary));
await ensureBinary();
log(machineLine(describeMachine()));
log(`binary: ${BINARY}; measured ${durationMs / 1000} s per phase`);
let allOk = true;
for (const name of positionals.length ? positionals : Object.keys(SECTIONS)) {
  try {
    allOk = (await SECTIONS[name]!()) && allOk;
  } catch (err) {
    allOk = false;
    log(`${name}: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
}
process.exit(allOk ? 0 : 1);
