/**
 * Push delivery: senders put `{op:"send"}` frames on /v1/ws, one listen-style client receives the
 * pushed messages and acknowledges them in batches like `clawlink listen`. Every id the relay
 * confirmed to a sender must arrive exactly once (scripts/_tally.ts). Senders stop at a window of
 * messages sent but not yet received, so the receiver's queue never reaches --max-queue and nothing is
 * rejected with 429. The bare forwarder runs under the same clients, so its figure is the harness's
 * ceiling as much as the server's; the clients' CPU per message is printed with every run.
 */
import { join } from "node:path";
import { cpuMeter, fmtCpu, fmtCpuPerOp, selfCpuMeter } from "./_machine";
import { idOf, openRaw } from "./_rawws";
import { registerAgents, spawnBaseline, spawnRelay, tempHome, type ServerProcess } from "./_relay";
import { verdict, type BenchContext, type Figure } from "./_report";
import { fmtInt } from "./_stats";
import { Tally } from "./_tally";
import { Acker, bearer, openStd, wsUrl, type Peer, type TextHandler } from "./_ws";

const TARGET_MPS = 150_000;
/** With frames batched both ways (issue 10). */
const TARGET_BATCHED_MPS = 250_000;
/** Messages per `send` frame in the batched runs. */
const BATCH = 100;
const SENDERS = 4;
const WINDOW = 2000;

type Kind = "task" | "response";

const messageFor = (kind: Kind, to: string) =>
  kind === "task"
    ? { type: "task", to, task: "summarize the failing test in ci run 4812", context: { run: 4812 } }
    : { type: "response", to, in_reply_to: "m_bench", result: "the failing test is flaky: it sleeps 10 ms and races the timer" };

interface PushResult {
  rate: number;
  sent: number;
  lost: number;
  duplicated: number;
  unexpected: number;
  rejected: Record<string, number>;
  serverCpu: number;
  clientCpu: number;
}

/** Connects as a named agent. */
type Opener = (name: string, onText: TextHandler) => Promise<Peer>;

const MESSAGE = '{"op":"message"';
const MESSAGES = '{"op":"messages"';
const SENT = '{"op":"sent"';

/**
 * Every `"id":"…"` in a frame, found without parsing it: each message of a batch, or each result of a
 * batch's `sent`, has one (the bench's messages carry no other `id` key), so the client's CPU goes to
 * the messages rather than to building objects it throws away.
 */
function scanIds(text: string): string[] {
  const ids: string[] = [];
  for (let at = text.indexOf('"id":"'); at >= 0; at = text.indexOf('"id":"', at)) {
    const end = text.indexOf('"', at + 6);
    ids.push(text.slice(at + 6, end));
    at = end;
  }
  return ids;
}

/** The ids a pushed frame carries: one message, or a batch of them. */
function pushedIds(text: string): string[] | undefined {
  if (text.startsWith(MESSAGES)) return scanIds(text);
  if (text.startsWith(MESSAGE)) return [idOf(text)!];
  return undefined;
}

/** `batch` > 1: senders put that many messages in each frame, and every client asks for `messages` frames. */
async function runPush(server: ServerProcess, open: Opener, to: string, kind: Kind, ctx: BenchContext, batch = 1): Promise<PushResult | undefined> {
  const tally = new Tally();
  const rejected: Record<string, number> = {};
  let sent = 0;
  let answered = 0;
  let counted = 0;
  let counting = false;
  let sending = true;
  let settle = () => {};
  // Done when every send is answered and every confirmed message has arrived.
  const check = () => {
    if (!sending && answered === sent && tally.waiting === 0) settle();
  };

  // Ackers are made once their socket is open; no message arrives before the first send.
  let acker: Acker;
  const receiver = await open("receiver", (text) => {
    const ids = pushedIds(text);
    if (!ids) return;
    for (const id of ids) {
      tally.arrive(id);
      acker.add(id);
    }
    if (counting) counted += ids.length;
    fill();
    check();
  });
  if (batch > 1) {
    // A build from before batched frames (a --baseline) has nothing to measure here.
    if (!receiver.hello?.includes('"batch":true')) {
      await receiver.close();
      return undefined;
    }
    receiver.send('{"op":"hello","batch":true}');
  }
  acker = new Acker(receiver.send);

  const senders: Peer[] = [];
  const senderAckers: Acker[] = [];
  for (let i = 0; i < SENDERS; i++) {
    let a: Acker;
    const ws = await open(`sender-${i}`, (text) => {
      if (text.startsWith(SENT)) {
        if (batch > 1 && !text.includes('"error"')) {
          for (const id of scanIds(text)) tally.confirm(id);
          answered += batch;
        } else if (batch > 1) {
          for (const r of (JSON.parse(text) as { results: { id?: string; error?: { code: string } }[] }).results) {
            if (r.id) tally.confirm(r.id);
            else rejected[r.error!.code] = (rejected[r.error!.code] ?? 0) + 1;
            answered++;
          }
        } else {
          tally.confirm(idOf(text)!);
          answered++;
        }
      } else if (text.startsWith(MESSAGE) || text.startsWith(MESSAGES)) {
        for (const id of pushedIds(text)!) a.add(id); // a task's delivered status, back to its sender
      } else {
        const f = JSON.parse(text);
        if (f.op === "error") {
          rejected[f.error.code] = (rejected[f.error.code] ?? 0) + 1;
          answered++;
        }
      }
      check();
    });
    if (batch > 1) ws.send('{"op":"hello","batch":true}');
    a = new Acker(ws.send);
    senders.push(ws);
    senderAckers.push(a);
  }

  const body = JSON.stringify(messageFor(kind, to));
  // One batch frame, made once: the raw client encodes a text it has just sent again only once.
  const batchFrame = `{"op":"send","ref":"batch","messages":[${Array.from({ length: batch }, () => body).join(",")}]}`;
  let turn = 0;
  function fill() {
    while (sending && sent - tally.arrivals < WINDOW) {
      if (batch > 1) {
        senders[turn++ % SENDERS]!.send(batchFrame);
        sent += batch;
      } else {
        senders[turn++ % SENDERS]!.send(`{"op":"send","ref":"${sent}","message":${body}}`);
        sent++;
      }
    }
  }

  fill();
  await Bun.sleep(ctx.warmupMs);
  const serverCpu = cpuMeter(server.pid);
  const clientCpu = selfCpuMeter();
  counting = true;
  const t0 = performance.now();
  await Bun.sleep(ctx.durationMs);
  counting = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = { server: serverCpu(), client: clientCpu() };
  sending = false;
  // Everything confirmed must still arrive; give it a few seconds.
  await Promise.race([
    new Promise<void>((r) => {
      settle = r;
      check();
    }),
    Bun.sleep(5000),
  ]);
  acker.stop();
  for (const a of senderAckers) a.stop();
  await Promise.all([receiver, ...senders].map((p) => p.close()));

  return { rate: counted / seconds, sent, ...tally.result(), rejected, serverCpu: cpu.server, clientCpu: cpu.client };
}

const describe = (r: PushResult) =>
  `${fmtInt(r.rate)} msg/s received; ${fmtInt(r.sent)} sent, ${r.lost} lost, ${r.duplicated} duplicated, ${r.unexpected} unexpected, ` +
  `${Object.keys(r.rejected).length ? `rejected ${JSON.stringify(r.rejected)}` : "0 rejected"}; cpu ${fmtCpu("server", r.serverCpu)}, ${fmtCpu("clients", r.clientCpu)}; ` +
  `server ${fmtCpuPerOp(r.serverCpu, r.rate, "msg")}; clients ${fmtCpuPerOp(r.clientCpu, r.rate, "msg")}`;

interface Run {
  kind: Kind;
  client: "raw" | "std";
  what: string;
  headline: boolean;
  /** Run the relay with --data (durable mode). */
  durable?: boolean;
  /** Messages per send frame, with `messages` frames pushed back. */
  batch?: number;
}

const RUNS: Run[] = [
  { kind: "response", client: "raw", what: "plain messages: a response to a named agent, no task kept", headline: true },
  { kind: "task", client: "raw", what: "tasks: each also sends a delivered status back to its sender", headline: true },
  { kind: "response", client: "std", what: "plain messages, clients on Bun's WebSocket class", headline: false },
  { kind: "task", client: "raw", what: "tasks to a durable relay (--data): each confirmed once on disk", headline: false, durable: true },
  { kind: "response", client: "raw", what: `plain messages, batched both ways (${BATCH} per send frame, messages frames pushed)`, headline: true, batch: BATCH },
  { kind: "task", client: "raw", what: `tasks, batched both ways (${BATCH} per send frame)`, headline: false, batch: BATCH },
];

export async function push(ctx: BenchContext): Promise<Figure[]> {
  const base = await spawnBaseline();
  let baseRate = NaN;
  let baseBatchedRate = NaN;
  try {
    const open: Opener = (name, onText) => openRaw(wsUrl(base.url, `as=${name}`), {}, onText);
    const r = (await runPush(base, open, "receiver", "response", ctx))!;
    baseRate = r.rate;
    ctx.log(`push baseline (bare Bun WS forwarder: parse, confirm, forward by name; ${SENDERS} senders -> 1 receiver, raw clients): ${describe(r)}`);
    const b = (await runPush(base, open, "receiver", "response", ctx, BATCH))!;
    baseBatchedRate = b.rate;
    ctx.log(`push baseline, batched both ways (${BATCH} per send frame; the same forwarder): ${describe(b)}`);
  } finally {
    await base.stop();
  }

  const figures: Figure[] = [];
  for (const run of RUNS) {
    const home = run.durable ? tempHome() : undefined;
    const relay = await spawnRelay({
      flags: home ? ["--data", join(home.dir, "relay.db")] : [],
      profileDir: ctx.profileDir && join(ctx.profileDir, `push-${run.kind}-${run.client}${run.durable ? "-durable" : ""}${run.batch ? "-batched" : ""}`),
    });
    const label = `${run.kind} ${run.client}${run.durable ? " durable" : ""}${run.batch ? " batched" : ""}`;
    try {
      const names = ["receiver", ...Array.from({ length: SENDERS }, (_, i) => `sender-${i}`)];
      const creds = new Map((await registerAgents(relay.url, names)).map((c) => [c.name, c]));
      const connect = run.client === "raw" ? openRaw : openStd;
      const open: Opener = (name, onText) => connect(wsUrl(relay.url), bearer(creds.get(name)!.secret), onText);
      const r = await runPush(relay, open, creds.get("receiver")!.id, run.kind, ctx, run.batch);
      if (!r) {
        ctx.log(`push (${run.what}): skipped, this build offers no batched frames in its hello`);
        continue;
      }
      const target = run.headline ? (run.batch ? TARGET_BATCHED_MPS : TARGET_MPS) : undefined;
      const rate: Figure = { name: `push ${label} (msg/s)`, value: r.rate, unit: "msg/s", better: "higher", target };
      const clean: Figure = { name: `push ${label} lost+duplicated`, value: r.lost + r.duplicated + r.unexpected, unit: "", better: "lower", target: 0 };
      figures.push(rate, clean, { name: `push ${label} (relay µs CPU/msg)`, value: (r.serverCpu * 1e6) / r.rate, unit: "µs", better: "lower" });
      ctx.log(
        `push (${run.what}; ${SENDERS} senders -> 1 listener, window ${WINDOW}, ${run.client} clients, ${ctx.durationMs / 1000}s): ${describe(r)}; ` +
          `${Math.round((r.rate / (run.batch ? baseBatchedRate : baseRate)) * 100)}% of ${run.batch ? "the batched " : ""}baseline${target ? ` (target >= ${fmtInt(target)} msg/s, none lost or duplicated)` : " (none lost or duplicated)"} ${verdict(rate, clean)}`,
      );
    } finally {
      await relay.stop();
      home?.remove();
    }
  }
  return figures;
}
