/**
 * Relays on one Redis (`relay --redis`): the cross-relay round trip (a task sent on relay A, answered
 * by an agent on relay B, the response back on A) next to the same round trip on one memory relay and
 * on one Redis relay in the same run, and the CPU it costs each process (the bench's client, the three
 * relays, Redis and its scripts: together, on few cores, a floor under the round trip); the Redis
 * commands each send and each delivery costs (counted with MONITOR; the commands inside a script are
 * not round trips) and the server CPU they take (the capacity model), throughput against memory mode
 * in the same run, and one relay against three. The bench's agents send over kept-alive HTTP
 * connections of their own (`_http.ts`), not `fetch`, whose CPU would be taken from the processes under
 * test on a machine with few cores.
 * Needs redis-server on the PATH; it runs its own on a free loopback port, without persistence.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerAgents, spawnRelay, track, type ServerProcess } from "./_relay";
import { KeptAlive } from "./_http";
import { runLoad } from "./_load";
import { verdict, type BenchContext, type Figure } from "./_report";
import { fmtInt, fmtMs, summarize } from "./_stats";
import { measure } from "./_throughput";
import { bearer, Acker, openSocket, wsUrl } from "./_ws";
import { countCommands, describeCounted, serverCpuMs, timeIn, tripsOf, usPerCall, writesDuring } from "./_redis-count";
import { cpuUsOf, describeMachine, fmtCpuPerOp } from "./_machine";

const ROUNDTRIPS = 500;
const WARMUP = 50;
const COUNTED = 500;
const TARGET_P50_MS = 1;
const TARGET_TRIPS_PER_SEND = 3;
const TARGET_RATIO = 0.5;
const TASK = { type: "task", to: "worker", task: "review the diff of PR 1234 and list style problems", context: { repo: "api", pr: 1234 }, priority: "normal" };
const HOLD_ALL = ["--max-queue", "10000000", "--max-queued-bytes", String(8 * 2 ** 30), "--max-sender-bytes", String(8 * 2 ** 30), "--max-recipient-bytes", String(8 * 2 ** 30)];

async function startRedis() {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = server.port!;
  server.stop(true);
  const dir = mkdtempSync(join(tmpdir(), "clawlink-bench-redis-"));
  const proc = track(Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"], { stdout: "ignore", stderr: "ignore" }));
  for (let i = 0; i < 200; i++) {
    try {
      (await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } })).end();
      break;
    } catch {
      await Bun.sleep(20);
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: proc.pid,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One kept-alive connection per relay and agent, as a client that sends often keeps one. */
const connections = new Map<string, KeptAlive>();

const post = (relay: ServerProcess, secret: string, body: object) => {
  const key = `${relay.url} ${secret}`;
  let http = connections.get(key);
  if (!http) connections.set(key, (http = new KeptAlive(relay.url)));
  return http.post("/v1/messages", { ...bearer(secret), "content-type": "application/json" }, JSON.stringify(body));
};

let pairs = 0;

/**
 * A boss on relay `a` and a worker on relay `b` (maybe the same): `run(n)` times n round trips in turn,
 * each a task the boss sends, which the worker answers as soon as its socket shows it, timed until the
 * response reaches the boss. Both send over HTTP, as `clawlink delegate` and `respond` do, or, `over`
 * "socket", in `send` frames on the WebSocket each already holds, as any client may.
 */
async function openPair(a: ServerProcess, b: ServerProcess, over: "http" | "socket" = "http") {
  const n = ++pairs;
  const [boss, worker] = await registerAgents(a.url, [`boss-${n}`, `worker-${n}`]);
  let answered: (() => void) | undefined;
  // The boss acknowledges what it receives (the statuses and the response), as `listen` does.
  const received: string[] = [];
  const bossWs = await openSocket(wsUrl(a.url), bearer(boss!.secret), (text) => {
    const frame = JSON.parse(text) as { message?: { id: string }; messages?: { id: string }[] };
    for (const m of frame.messages ?? (frame.message ? [frame.message] : [])) received.push(m.id);
    if (text.includes('"type":"response"')) answered?.();
  });
  const bossAcks = new Acker((t) => bossWs.send(t));
  const workerWs: WebSocket = await openSocket(wsUrl(b.url), bearer(worker!.secret), (text) => {
    const frame = JSON.parse(text) as { op: string; message?: { type: string; id: string } };
    if (frame.message?.type !== "task") return;
    const response = { type: "response", in_reply_to: frame.message.id, status: "completed", result: "done" };
    if (over === "socket") workerWs.send(JSON.stringify({ op: "send", message: response }));
    else void post(b, worker!.secret, response);
  });
  return {
    async run(count: number) {
      const times: number[] = [];
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        const done = new Promise<void>((r) => (answered = r));
        const task = { type: "task", to: `worker-${n}`, task: "say done" };
        if (over === "socket") bossWs.send(JSON.stringify({ op: "send", message: task }));
        else await post(a, boss!.secret, task);
        await done;
        times.push(performance.now() - t0);
        for (const id of received.splice(0)) bossAcks.add(id);
      }
      return times;
    },
    close() {
      bossAcks.stop();
      bossWs.close();
      workerWs.close();
    },
  };
}

/** `around` wraps the measured round trips (not the warm-up), to take what they cost. */
async function roundTrips(a: ServerProcess, b: ServerProcess, around: (run: () => Promise<number[]>) => Promise<number[]> = (run) => run(), over: "http" | "socket" = "http") {
  const pair = await openPair(a, b, over);
  try {
    await pair.run(WARMUP);
    return summarize(await around(() => pair.run(ROUNDTRIPS)));
  } finally {
    pair.close();
  }
}

export async function redis(ctx: BenchContext): Promise<Figure[]> {
  if (!Bun.which("redis-server")) throw new Error("redis-server is not installed (apt-get install redis-server)");
  const figures: Figure[] = [];
  const server = await startRedis();
  const relays: ServerProcess[] = [];
  try {
    for (let i = 0; i < 3; i++) relays.push(await spawnRelay({ flags: [...HOLD_ALL, "--redis", server.url, "--redis-prefix", "bench:"] }));
    const [a, b, c] = relays as [ServerProcess, ServerProcess, ServerProcess];

    // Cross-relay round trip, with the same on one memory relay and on one Redis relay as its baselines.
    const memory = await spawnRelay({ flags: HOLD_ALL });
    let onMemory;
    let memoryCpuUs: number[] = [];
    try {
      onMemory = await roundTrips(memory, memory, async (run) => {
        const pids = [process.pid, memory.pid];
        const before = pids.map(cpuUsOf);
        const times = await run();
        memoryCpuUs = pids.map((pid, i) => (cpuUsOf(pid) - before[i]!) / ROUNDTRIPS);
        return times;
      });
    } finally {
      await memory.stop();
    }
    const onOne = await roundTrips(a, a);
    // What the round trips cost every process taking part: on few cores, their CPU together bounds how short a round trip can be.
    const parts: [string, number][] = [["bench client", process.pid], ["relay A (the boss's)", a.pid], ["relay B (the worker's)", b.pid], ["relay C (neither's)", c.pid], ["Redis", server.pid]];
    let cpuUs: number[] = [];
    let scripts = { calls: 0, usec: 0 };
    let writes = 0;
    const rt = await roundTrips(a, b, async (run) => {
      const before = parts.map(([, pid]) => cpuUsOf(pid));
      let times: number[] = [];
      writes = await writesDuring(server.url, async () => void (scripts = await timeIn(server.url, "evalsha", async () => void (times = await run()))));
      cpuUs = parts.map(([, pid], i) => (cpuUsOf(pid) - before[i]!) / ROUNDTRIPS);
      return times;
    });
    const p50: Figure = { name: "redis: cross-relay round trip p50 (ms)", value: rt.p50, unit: "ms", better: "lower", target: TARGET_P50_MS };
    figures.push(p50, { name: "redis: cross-relay round trip p99 (ms)", value: rt.p99, unit: "ms", better: "lower" }, { name: "memory: round trip p50 (ms)", value: onMemory.p50, unit: "ms", better: "lower" });
    ctx.log(`redis round trip (task on A, answered on B, response back on A over WebSockets, ${ROUNDTRIPS} in turn): p50 ${fmtMs(rt.p50)}, p99 ${fmtMs(rt.p99)} (target p50 < ${TARGET_P50_MS} ms) ${verdict(p50)}`);
    ctx.log(`  same run, boss and worker on one relay: in memory p50 ${fmtMs(onMemory.p50)}, p99 ${fmtMs(onMemory.p99)}; on one Redis relay p50 ${fmtMs(onOne.p50)}, p99 ${fmtMs(onOne.p99)} (load avg ${describeMachine().load})`);
    const together = cpuUs.reduce((sum, us) => sum + us, 0);
    const scriptUs = scripts.usec / ROUNDTRIPS;
    const cores = describeMachine().cores;
    figures.push({ name: "redis: CPU per cross-relay round trip, every process (us)", value: together, unit: "us", better: "lower" }, { name: "redis: script time per cross-relay round trip (us)", value: scriptUs, unit: "us", better: "lower" });
    ctx.log(
      `  CPU per cross-relay round trip: ${parts.map(([who], i) => `${who} ${cpuUs[i]!.toFixed(0)} µs`).join(", ")} (its scripts ${scriptUs.toFixed(0)} µs: ${(scripts.calls / ROUNDTRIPS).toFixed(2)} calls of ${(scripts.usec / Math.max(1, scripts.calls)).toFixed(0)} µs); ` +
        `${together.toFixed(0)} µs together, so on ${cores} cores the mean round trip (${fmtMs(rt.mean)}) cannot be shorter than ${fmtMs(together / 1000 / cores)}; ` +
        `in memory, bench client ${memoryCpuUs[0]!.toFixed(0)} µs and relay ${memoryCpuUs[1]!.toFixed(0)} µs`,
    );
    ctx.log(`  Redis socket writes per cross-relay round trip (replies and pub/sub messages to every client, INFO stats): ${(writes / ROUNDTRIPS).toFixed(1)}`);
    // The same with both agents sending in `send` frames on the sockets they hold: no HTTP request on either side.
    const overSockets = await roundTrips(a, b, undefined, "socket");
    const memoryAgain = await spawnRelay({ flags: HOLD_ALL });
    let memoryOverSockets;
    try {
      memoryOverSockets = await roundTrips(memoryAgain, memoryAgain, undefined, "socket");
    } finally {
      await memoryAgain.stop();
    }
    figures.push({ name: "redis: cross-relay round trip sent over sockets p50 (ms)", value: overSockets.p50, unit: "ms", better: "lower" });
    ctx.log(`  both agents sending in \`send\` frames on their sockets instead of HTTP: cross-relay p50 ${fmtMs(overSockets.p50)}, p99 ${fmtMs(overSockets.p99)}; one memory relay p50 ${fmtMs(memoryOverSockets.p50)}, p99 ${fmtMs(memoryOverSockets.p99)}`);
    // What one round trip asks of Redis (the boss's acks, sent every 50 ms, included).
    const counted = await openPair(a, b);
    const perTrip = await countCommands(server.url, server.port, async () => void (await counted.run(COUNTED / 5)));
    counted.close();
    ctx.log(`  ${tripsOf(perTrip, COUNTED / 5).toFixed(2)} Redis round trips per cross-relay round trip: ${describeCounted(perTrip, COUNTED / 5)}`);

    // Commands per send (a task for an agent not listening), and per delivery (a poll that takes one and acknowledges it).
    const [sender, idle] = await registerAgents(a.url, ["sender", "idle"]);
    const sendAll = async () => {
      for (let i = 0; i < COUNTED; i++) await post(a, sender!.secret, { ...TASK, to: "idle" });
    };
    const takeAll = async () => {
      for (let i = 0; i < COUNTED; i++) await fetch(`${b.url}/v1/agents/${idle!.id}/inbox?max=1&ack=true`, { headers: bearer(idle!.secret) });
    };
    const sends = await countCommands(server.url, server.port, sendAll);
    const takes = await countCommands(server.url, server.port, takeAll);
    const [perSend, perTake] = [tripsOf(sends, COUNTED), tripsOf(takes, COUNTED)];
    const sendFigure: Figure = { name: "redis: round trips per send", value: perSend, unit: "cmds", better: "lower", target: TARGET_TRIPS_PER_SEND };
    figures.push(sendFigure, { name: "redis: round trips per delivery (poll + ack)", value: perTake, unit: "cmds", better: "lower" });
    ctx.log(`redis commands: ${perSend.toFixed(2)} per send (target <= ${TARGET_TRIPS_PER_SEND}) ${verdict(sendFigure)}: ${describeCounted(sends, COUNTED)}`);
    ctx.log(`  ${perTake.toFixed(2)} per delivery (a poll taking one and acknowledging it): ${describeCounted(takes, COUNTED)}`);
    // The same work again without MONITOR, which costs the server time of its own, less what the relays' sweeps
    // cost it meanwhile (measured with nothing else to do): its CPU per message is the capacity model.
    const quiet = await serverCpuMs(server.url, () => Bun.sleep(2000));
    const sweepsPerMs = quiet.cpuMs / quiet.wallMs;
    const work = [await serverCpuMs(server.url, sendAll), await serverCpuMs(server.url, takeAll)];
    const cpuMs = work.reduce((sum, w) => sum + Math.max(0, w.cpuMs - sweepsPerMs * w.wallMs), 0);
    const usPerMessage = (cpuMs * 1000) / COUNTED;
    figures.push({ name: "redis: server CPU per message sent and delivered (us)", value: usPerMessage, unit: "us", better: "lower" });
    // A send is one create_task script (the sweeps' few scripts meanwhile included): the server's time in it.
    const createTaskUs = await usPerCall(server.url, "evalsha", sendAll);
    figures.push({ name: "redis: server time per create_task (us)", value: createTaskUs, unit: "us", better: "lower" });

    // Throughput: the durable section's load against one Redis relay, one memory relay, then all three Redis relays at once.
    const req = { headers: { ...bearer(sender!.secret), "content-type": "application/json" }, body: JSON.stringify({ ...TASK, to: "idle" }) };
    let onRedis!: Awaited<ReturnType<typeof measure>>;
    const redisCpu = await serverCpuMs(server.url, async () => {
      onRedis = await measure(a, ctx, req);
    });
    const memoryToo = await spawnRelay({ flags: HOLD_ALL });
    let inMemory;
    try {
      const [s] = await registerAgents(memoryToo.url, ["sender", "idle"]);
      inMemory = await measure(memoryToo, ctx, { ...req, headers: { ...req.headers, ...bearer(s!.secret) } });
    } finally {
      await memoryToo.stop();
    }
    const ratio: Figure = { name: "redis/memory throughput", value: onRedis.rps / inMemory.rps, unit: "x", better: "higher", target: TARGET_RATIO };
    figures.push({ name: "redis: one relay (req/s)", value: onRedis.rps, unit: "req/s", better: "higher" }, ratio);
    ctx.log(`redis throughput (task to an agent not listening): ${fmtInt(onRedis.rps)} req/s on Redis vs ${fmtInt(inMemory.rps)} in memory = ${ratio.value.toFixed(2)}x (target >= ${TARGET_RATIO}x) ${verdict(ratio)} (load avg ${describeMachine().load})`);
    // The server's CPU over the warm-up and the run, per request at the run's rate.
    const redisUsPerReq = (redisCpu.cpuMs * 1000) / (onRedis.rps * (redisCpu.wallMs / 1000));
    ctx.log(`  relay ${fmtCpuPerOp(onRedis.relayCpu, onRedis.rps, "req")} on Redis vs ${fmtCpuPerOp(inMemory.relayCpu, inMemory.rps, "req")} in memory; Redis ${redisUsPerReq.toFixed(0)} µs CPU/req; ${createTaskUs.toFixed(0)} µs of server time per create_task (INFO commandstats, sends one at a time)`);
    const per = Math.max(1, Math.round(ctx.connections / 3));
    const three = await Promise.all(relays.map((r) => runLoad({ url: r.url, method: "POST", path: "/v1/messages", connections: per, durationMs: ctx.durationMs, warmupMs: ctx.warmupMs, ...req })));
    const total = three.reduce((sum, r) => sum + r.rps, 0);
    figures.push({ name: "redis: three relays together (req/s)", value: total, unit: "req/s", better: "higher" });
    ctx.log(`redis throughput, three relays on one Redis (and the load generator) sharing this machine: ${fmtInt(total)} req/s together vs ${fmtInt(onRedis.rps)} for one`);
    ctx.log(
      `redis capacity model: ${perSend.toFixed(1)} round trips per send and ${perTake.toFixed(1)} per delivery took the server ${usPerMessage.toFixed(0)} us of CPU per message sent and delivered (scripts and network included), and the sweeps of the 3 relays ${(sweepsPerMs * 1000).toFixed(0)} ms a second whatever the traffic, so one Redis primary (one core) carries at most about ${fmtInt((1000 - sweepsPerMs * 1000) * 1000 / usPerMessage)} messages/s sent and delivered, whatever the number of relays (load avg ${describeMachine().load})`,
    );
  } finally {
    for (const http of connections.values()) http.close();
    connections.clear();
    for (const r of relays) await r.stop();
    await server.stop();
  }
  return figures;
}
