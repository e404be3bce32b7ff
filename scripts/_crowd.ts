/**
 * 10,000 agents connected to one relay by WebSocket: the relay's resident memory at each step, and
 * per-message latency to random agents, first with the crowd absent (the baseline), then with it
 * connected, one message at a time and under load; then broadcasts to all of them.
 * Every socket is a file descriptor on both sides: the relay is started with its open-files limit
 * raised to the hard limit, and this process needs `ulimit -n` above the agent count.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cpuMeter, cpuMsOf, fmtCpu, rssMiBOf, selfCpuMeter } from "./_machine";
import { idOf, openRaw } from "./_rawws";
import { registerAgents, spawnRelay, type AgentCred } from "./_relay";
import { verdict, type BenchContext, type Figure } from "./_report";
import { fmtInt, fmtMs, Histogram, summarize, type Summary } from "./_stats";
import { bearer, openMany, wsUrl, type Peer } from "./_ws";

const AGENTS = 10_000;
const SEQUENTIAL = 2000;
const WINDOW = 256;
const BROADCASTS = 3;
/** With 10,000 agents per-message latency should stay what it is with two. */
const TARGET_P99_MS = 10;

/** This process's soft limit on open files, or Infinity where /proc is missing. */
function openFilesLimit(): number {
  try {
    const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === "unlimited" || soft === undefined ? Infinity : Number(soft);
  } catch {
    return Infinity;
  }
}

/** Acknowledges what every agent received, in one batch per agent every 50 ms (as listen does). */
class CrowdAcker {
  private pending = new Map<Peer, string[]>();
  private timer = setInterval(() => this.flush(), 50);
  add(peer: Peer, id: string) {
    const ids = this.pending.get(peer);
    if (ids) ids.push(id);
    else this.pending.set(peer, [id]);
  }
  flush() {
    for (const [peer, ids] of this.pending) peer.send(JSON.stringify({ op: "ack", ids }));
    this.pending.clear();
  }
  stop() {
    this.flush();
    clearInterval(this.timer);
  }
}

const seqOf = (text: string) => {
  const at = text.indexOf('"result":"n=');
  return at < 0 ? -1 : parseInt(text.slice(at + 12), 10);
};

export async function crowd(ctx: BenchContext): Promise<Figure[]> {
  const limit = openFilesLimit();
  const agents = Math.min(AGENTS, limit - 200);
  if (agents < AGENTS) ctx.log(`crowd: open-files limit ${limit} allows only ${agents} agents; run \`ulimit -n ${AGENTS + 1000}\` (within the hard limit) first for the full ${fmtInt(AGENTS)}`);

  const relay = await spawnRelay({ flags: ["--max-agents", String(agents + 10)], profileDir: ctx.profileDir && join(ctx.profileDir, "crowd") });
  const acker = new CrowdAcker();
  const peers: Peer[] = [];
  try {
    const rss = { idle: rssMiBOf(relay.pid), registered: NaN, connected: NaN, loaded: NaN, broadcast: NaN };
    let t0 = performance.now();
    const creds: AgentCred[] = await registerAgents(relay.url, ["sender", ...Array.from({ length: agents }, (_, i) => `agent-${i}`)], 32);
    const registerMs = performance.now() - t0;
    rss.registered = rssMiBOf(relay.pid);
    const [sender, ...crowdCreds] = creds as [AgentCred, ...AgentCred[]];

    // Arrival times by sequence number; every agent's socket reports into the same table.
    const sentAt = new Map<number, number>();
    const latency = { current: [] as number[], hist: null as Histogram | null };
    let arrived = 0;
    let onArrival = () => {};
    const receive = (peer: () => Peer) => (text: string) => {
      if (!text.startsWith('{"op":"message"')) return;
      acker.add(peer(), idOf(text)!);
      const seq = seqOf(text);
      const at = sentAt.get(seq);
      if (at !== undefined) {
        const ms = performance.now() - at;
        sentAt.delete(seq);
        if (latency.hist) latency.hist.record(ms * 1000);
        else latency.current.push(ms);
      }
      arrived++;
      onArrival();
    };
    const connect = (cred: AgentCred) => {
      let peer: Peer;
      return openRaw(wsUrl(relay.url), bearer(cred.secret), receive(() => peer)).then((p) => (peer = p));
    };
    const out = await openRaw(wsUrl(relay.url), bearer(sender.secret), () => {});
    peers.push(out);

    let seq = 0;
    const send = (to: string) => {
      const n = seq++;
      sentAt.set(n, performance.now());
      out.send(JSON.stringify({ op: "send", message: { type: "response", to, in_reply_to: "m_crowd", result: `n=${n}` } }));
    };
    /** One message at a time to random agents among the connected ones. */
    const sequential = async (targets: AgentCred[]): Promise<Summary> => {
      latency.current = [];
      for (let i = 0; i < SEQUENTIAL; i++) {
        const got = new Promise<void>((r) => (onArrival = r));
        send(targets[Math.floor(Math.random() * targets.length)]!.id);
        await got;
      }
      onArrival = () => {};
      return summarize(latency.current.slice(200));
    };

    // Baseline: the same relay with only the sender and one agent connected.
    peers.push(await connect(crowdCreds[0]!));
    const alone = await sequential([crowdCreds[0]!]);

    t0 = performance.now();
    peers.push(...(await openMany(agents - 1, (i) => connect(crowdCreds[i + 1]!), 200)));
    const connectMs = performance.now() - t0;
    await Bun.sleep(500);
    rss.connected = rssMiBOf(relay.pid);
    const crowded = await sequential(crowdCreds);

    // Under load: a window of messages in flight to random agents.
    latency.hist = new Histogram();
    let sent = 0;
    let running = true;
    const fill = () => {
      while (running && sent - arrived < WINDOW) {
        send(crowdCreds[Math.floor(Math.random() * crowdCreds.length)]!.id);
        sent++;
      }
    };
    arrived = 0;
    onArrival = fill;
    fill();
    await Bun.sleep(ctx.warmupMs);
    latency.hist = new Histogram();
    const cpu = cpuMeter(relay.pid);
    const clientCpu = selfCpuMeter();
    const startArrived = arrived;
    t0 = performance.now();
    await Bun.sleep(ctx.durationMs);
    const rate = (arrived - startArrived) / ((performance.now() - t0) / 1000);
    const relayCpu = cpu();
    const clientsCpu = clientCpu();
    const loaded = latency.hist.summary();
    running = false;
    onArrival = () => {};
    latency.hist = null;
    await Bun.sleep(500);
    rss.loaded = rssMiBOf(relay.pid);

    // Broadcasts: how long until every agent has it.
    const fanout: number[] = [];
    const fanoutCpu: number[] = [];
    for (let b = 0; b < BROADCASTS; b++) {
      arrived = 0;
      const all = new Promise<void>((r) => (onArrival = () => arrived >= agents && r()));
      const start = performance.now();
      const cpu0 = cpuMsOf(relay.pid);
      out.send(JSON.stringify({ op: "send", message: { type: "broadcast", content: `standup in 5 minutes (${b})`, topic: "team" } }));
      await Promise.race([all, Bun.sleep(30_000)]);
      fanout.push(performance.now() - start);
      fanoutCpu.push(cpuMsOf(relay.pid) - cpu0);
      if (arrived < agents) ctx.log(`crowd: broadcast ${b} reached only ${arrived} of ${agents} agents in 30 s`);
    }
    onArrival = () => {};
    await Bun.sleep(500);
    rss.broadcast = rssMiBOf(relay.pid);
    // What 10,000 quiet agents cost the relay once each has had messages: its timers, sweeps and pings.
    const idleCpu = cpuMeter(relay.pid);
    await Bun.sleep(2000);
    const idle = idleCpu();

    const p99: Figure = { name: "crowd per-message (p99)", value: crowded.p99, unit: "ms", better: "lower", target: TARGET_P99_MS };
    const perAgentKiB = ((rss.connected - rss.idle) * 1024) / agents;
    ctx.log(
      `crowd (${fmtInt(agents)} agents on WS): relay RSS idle ${rss.idle.toFixed(0)} MiB, registered ${rss.registered.toFixed(0)} MiB (in ${fmtMs(registerMs)}), connected ${rss.connected.toFixed(0)} MiB (in ${fmtMs(connectMs)}; ~${perAgentKiB.toFixed(1)} KiB per agent), ` +
        `after load ${rss.loaded.toFixed(0)} MiB, after broadcasts ${rss.broadcast.toFixed(0)} MiB; ${fmtCpu("relay cpu while all are idle afterwards", idle)}`,
    );
    ctx.log(
      `crowd per-message latency (one at a time to random agents): p50 ${fmtMs(crowded.p50)}, p99 ${fmtMs(crowded.p99)} vs baseline with 1 agent connected p50 ${fmtMs(alone.p50)}, p99 ${fmtMs(alone.p99)} (target p99 < ${TARGET_P99_MS} ms) ${verdict(p99)}`,
    );
    ctx.log(
      `crowd under load (window ${WINDOW}, random agents, ${ctx.durationMs / 1000}s): ${fmtInt(rate)} msg/s, p50 ${fmtMs(loaded.p50)}, p99 ${fmtMs(loaded.p99)}; cpu ${fmtCpu("relay", relayCpu)}, ${fmtCpu("clients", clientsCpu)}; ` +
        `broadcast to all ${fmtInt(agents)}: ${fanout.map(fmtMs).join(", ")} until the last agent had it (relay cpu ${fanoutCpu.map((ms) => `${Math.round(ms)} ms`).join(", ")})`,
    );
    return [
      p99,
      { name: "crowd relay RSS connected (MiB)", value: rss.connected, unit: "MiB", better: "lower" },
      { name: "crowd broadcast fan-out (median)", value: summarize(fanout).p50, unit: "ms", better: "lower" },
      { name: "crowd under load (msg/s)", value: rate, unit: "msg/s", better: "higher" },
    ];
  } finally {
    acker.stop();
    // Closing 10,000 sockets one by one is slow and measures nothing; stopping the relay drops them all.
    await relay.stop();
    await Promise.all(peers.map((p) => p.close()));
  }
}
