/**
 * Round trip: `clawlink delegate --wait` to an agent served by `clawlink listen --exec CMD --respond`,
 * all compiled binaries, timed end to end. Then the relay's own share, with no process starts: one
 * message at a time over WebSockets, from the moment a client sends a frame to the moment the other
 * client has it (an upper bound on message-in to message-out, loopback included), next to the same
 * loop through the bare Bun forwarder, so the difference is what the relay itself adds.
 */
import { join } from "node:path";
import { idOf, openRaw } from "./_rawws";
import { BINARY, cliEnv, registerAgents, runBinary, spawnBaseline, spawnRelay, spawnTimedRelay, tempHome, track, type ServerProcess } from "./_relay";
import { verdict, type BenchContext, type Figure } from "./_report";
import { fmtMs, summarize, type Summary } from "./_stats";
import { Acker, bearer, wsUrl, type Peer, type TextHandler } from "./_ws";

const DELEGATE_RUNS = 30;
const DELEGATE_WARMUP = 3;
const LOOP_WARMUP = 200;
const LOOP_RUNS = 3000;
const TARGET_RELAY_P99_MS = 1;
const EXEC = "cat >/dev/null; echo done";

async function timeCommand(cmd: string[], env?: Record<string, string>): Promise<{ ms: number; out: string; code: number }> {
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, { env, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  return { ms: performance.now() - t0, out, code };
}

/** Starts `clawlink listen` and resolves once it says it is listening. */
async function startListener(env: Record<string, string>) {
  const proc = track(Bun.spawn([BINARY, "listen", "--exec", EXEC, "--respond"], { env, stdout: "pipe", stderr: "pipe", stdin: "ignore" }));
  const decoder = new TextDecoder();
  let log = "";
  const ready = new Promise<void>((resolve, reject) => {
    const watch = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) {
        log += decoder.decode(chunk, { stream: true });
        if (log.includes("listening as")) resolve();
      }
    };
    void watch(proc.stdout);
    void watch(proc.stderr);
    void proc.exited.then((code) => reject(new Error(`listen exited ${code}: ${log}`)));
    setTimeout(() => reject(new Error(`listen did not start: ${log}`)), 10_000);
  });
  await ready;
  return proc;
}

async function delegateLoop(ctx: BenchContext): Promise<{ total: Summary; startup: Summary; exec: Summary }> {
  const relay = await spawnRelay({ profileDir: ctx.profileDir && join(ctx.profileDir, "roundtrip-delegate") });
  const workerHome = tempHome();
  const bossHome = tempHome();
  try {
    const workerEnv = cliEnv(workerHome.dir, relay.url);
    const bossEnv = cliEnv(bossHome.dir, relay.url);
    await runBinary(["register", "--name", "worker", "--caps", "echo"], workerEnv);
    await runBinary(["register", "--name", "boss"], bossEnv);
    const listener = await startListener(workerEnv);
    try {
      const cmd = [BINARY, "delegate", "--to", "worker", "--task", "say done", "--wait", "--json"];
      const times: number[] = [];
      for (let i = 0; i < DELEGATE_WARMUP + DELEGATE_RUNS; i++) {
        const r = await timeCommand(cmd, bossEnv);
        const result = r.code === 0 ? JSON.parse(r.out).result : undefined;
        if (result !== "done") throw new Error(`delegate --wait exited ${r.code}: ${r.out}`);
        if (i >= DELEGATE_WARMUP) times.push(r.ms);
      }
      // What the round trip cannot avoid: one CLI start for delegate and one shell for --exec.
      const startup: number[] = [];
      const exec: number[] = [];
      for (let i = 0; i < DELEGATE_RUNS; i++) {
        startup.push((await timeCommand([BINARY, "--version"])).ms);
        exec.push((await timeCommand(["sh", "-c", EXEC])).ms);
      }
      return { total: summarize(times), startup: summarize(startup), exec: summarize(exec) };
    } finally {
      listener.kill("SIGTERM");
      await listener.exited;
    }
  } finally {
    workerHome.remove();
    bossHome.remove();
    await relay.stop();
  }
}

type Opener = (name: string, onText: TextHandler) => Promise<Peer>;

/**
 * One message at a time from A to B; with `task`, B answers each task and the time runs until A
 * has the response (two passes through the relay).
 */
async function loop(open: Opener, to: string, from: string, mode: "message" | "task"): Promise<Summary> {
  const times: number[] = [];
  let t0 = 0;
  // Counts arrivals; the first call of `next` only sends.
  let n = -1;
  let done = () => {};
  const finished = new Promise<void>((r) => (done = r));
  const message = mode === "task" ? { type: "task", to, task: "say done" } : { type: "response", to, in_reply_to: "m_ping", result: "pong" };
  const frame = JSON.stringify({ op: "send", message });

  let ackA: Acker;
  let ackB: Acker;
  let a: Peer;
  const next = () => {
    if (n++ >= LOOP_WARMUP) times.push(performance.now() - t0);
    if (n >= LOOP_WARMUP + LOOP_RUNS) return done();
    t0 = performance.now();
    a.send(frame);
  };
  const b = await open("b", (text) => {
    if (!text.startsWith('{"op":"message"')) return;
    const id = idOf(text)!;
    ackB.add(id);
    if (mode === "message") return next();
    if (text.includes('"type":"task"')) b.send(JSON.stringify({ op: "send", message: { type: "response", in_reply_to: id, to: from, result: "done" } }));
  });
  a = await open("a", (text) => {
    if (!text.startsWith('{"op":"message"')) return;
    ackA.add(idOf(text)!);
    if (mode === "task" && text.includes('"type":"response"')) next();
  });
  ackA = new Acker(a.send);
  ackB = new Acker(b.send);
  next();
  await Promise.race([finished, Bun.sleep(60_000)]);
  ackA.stop();
  ackB.stop();
  await Promise.all([a.close(), b.close()]);
  return summarize(times);
}

export async function roundtrip(ctx: BenchContext): Promise<Figure[]> {
  const d = await delegateLoop(ctx);
  ctx.log(
    `roundtrip (delegate --wait -> listen --exec '${EXEC}' --respond, binaries, ${DELEGATE_RUNS} runs): p50 ${fmtMs(d.total.p50)}, p99 ${fmtMs(d.total.p99)} (p99 of ${DELEGATE_RUNS} is the slowest run); ` +
      `baseline: one clawlink start (--version) p50 ${fmtMs(d.startup.p50)}, one sh for --exec p50 ${fmtMs(d.exec.p50)}`,
  );

  const base = await spawnBaseline();
  let baseOneWay: Summary;
  try {
    baseOneWay = await loop((name, onText) => openRaw(wsUrl(base.url, `as=${name}`), {}, onText), "b", "a", "message");
  } finally {
    await base.stop();
  }

  const relay: ServerProcess = await spawnRelay({ profileDir: ctx.profileDir && join(ctx.profileDir, "roundtrip-ws") });
  try {
    const creds = new Map((await registerAgents(relay.url, ["a", "b"])).map((c) => [c.name, c]));
    const open: Opener = (name, onText) => openRaw(wsUrl(relay.url), bearer(creds.get(name)!.secret), onText);
    const oneWay = await loop(open, creds.get("b")!.id, creds.get("a")!.id, "message");
    const task = await loop(open, creds.get("b")!.id, creds.get("a")!.id, "task");
    const p99: Figure = { name: "relay one-way message (p99)", value: oneWay.p99, unit: "ms", better: "lower", target: TARGET_RELAY_P99_MS };
    ctx.log(
      `relay share (one message at a time over WS, ${LOOP_RUNS} runs): send -> pushed p50 ${fmtMs(oneWay.p50)}, p99 ${fmtMs(oneWay.p99)} vs bare Bun forwarder p50 ${fmtMs(baseOneWay.p50)}, p99 ${fmtMs(baseOneWay.p99)} ` +
        `(relay adds ~${fmtMs(oneWay.p50 - baseOneWay.p50)} at p50); task -> response back (2 passes) p50 ${fmtMs(task.p50)}, p99 ${fmtMs(task.p99)} (target p99 < ${TARGET_RELAY_P99_MS} ms per pass) ${verdict(p99)}`,
    );
    return [
      { name: "delegate --wait (p50)", value: d.total.p50, unit: "ms", better: "lower" },
      { name: "delegate --wait (p99)", value: d.total.p99, unit: "ms", better: "lower" },
      p99,
      { name: "relay task round trip (p99)", value: task.p99, unit: "ms", better: "lower", target: 2 * TARGET_RELAY_P99_MS },
      ...(await inProcess(ctx)),
    ];
  } finally {
    await relay.stop();
  }
}

/** The same loops against the relay run from source with its frame handler timed inside the process. */
async function inProcess(ctx: BenchContext): Promise<Figure[]> {
  const relay = await spawnTimedRelay();
  try {
    const creds = new Map((await registerAgents(relay.url, ["a", "b"])).map((c) => [c.name, c]));
    const open: Opener = (name, onText) => openRaw(wsUrl(relay.url), bearer(creds.get(name)!.secret), onText);
    await loop(open, creds.get("b")!.id, creds.get("a")!.id, "message");
    await loop(open, creds.get("b")!.id, creds.get("a")!.id, "task");
  } finally {
    await relay.stop();
  }
  const t = relay.timings()?.ws;
  if (!t) throw new Error(`the timed relay printed no timings: ${relay.output()}`);
  const p99: Figure = { name: "relay in-process send handler (p99)", value: t.p99 / 1000, unit: "ms", better: "lower", target: TARGET_RELAY_P99_MS };
  ctx.log(
    `relay share in-process (bun scripts/_timed-relay.ts, from source; frame in -> pushed frame handed to the socket, ${t.n} send frames incl. warm-up): ` +
      `p50 ${fmtMs(t.p50 / 1000)}, p90 ${fmtMs(t.p90 / 1000)}, p99 ${fmtMs(t.p99 / 1000)}, max ${fmtMs(t.max / 1000)} (target p99 < ${TARGET_RELAY_P99_MS} ms) ${verdict(p99)}`,
  );
  return [p99];
}
