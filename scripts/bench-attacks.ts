/**
 * Does the relay stay responsive under attack? Each section starts a relay (the compiled binary, loopback,
 * default limits), measures a well-behaved agent's requests with nobody attacking (the baseline), then
 * again while an attacker in another process floods the relay, and compares the victim's p99 with the target.
 *   bun scripts/bench-attacks.ts                     every section
 *   bun scripts/bench-attacks.ts connections         some sections
 *   --seconds S       length of each phase (default 5)
 *   --max N           attempts per attack at most (default 20000)
 *   --concurrency N   attempts the attacker keeps in flight (default: the section's)
 *   --compare PATH    run each section against that binary first (a build from before a change), then this one
 * Sections: connections, registrations, acks, progress.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { AttackReport } from "./_attacker";
import { cpuMeter, describeMachine, fmtCpu, machineLine } from "./_machine";
import { BINARY, ensureBinary, registerAgents, spawnRelay, track, useBinary, type AgentCred, type ServerProcess } from "./_relay";
import { fmtInt, fmtMs, summarize, type Summary } from "./_stats";

/** The victim's p99 under attack must stay below this. */
const TARGET_P99_MS = 50;
/** Pause between two probes of the victim: a steady, light load, like an agent at work. */
const PROBE_GAP_MS = 5;

interface AttackSection {
  /** What the attacker does, for the report. */
  what: string;
  /** The `scripts/_attacker.ts` attack to run. */
  attack: string;
  /** Attempts in flight at once. */
  concurrency: number;
  /** Relay flags besides the defaults. */
  flags?: string[];
}

const SECTIONS: Record<string, AttackSection> = {
  connections: { what: "one agent opens WebSockets as fast as it can and keeps each one it gets", attack: "connections", concurrency: 64 },
  registrations: { what: "a client without a token registers new agents as fast as it can", attack: "registrations", concurrency: 32 },
  acks: { what: "one agent floods ack frames of 2,000 ids each over its WebSocket", attack: "acks", concurrency: 1 },
  progress: { what: "one agent floods progress notes of 9,000 characters about a task it holds", attack: "progress", concurrency: 32 },
};

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    seconds: { type: "string", default: "5" },
    max: { type: "string", default: "20000" },
    concurrency: { type: "string" },
    compare: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  process.stdout.write(`usage: bun scripts/bench-attacks.ts [${Object.keys(SECTIONS).join("|")}...] [--seconds S] [--max N] [--concurrency N] [--compare BINARY]\n`);
  process.exit(0);
}
const unknown = positionals.filter((p) => !(p in SECTIONS));
if (unknown.length) {
  process.stderr.write(`unknown section ${unknown.join(", ")}; sections: ${Object.keys(SECTIONS).join(", ")}\n`);
  process.exit(2);
}
const phaseMs = Number(values.seconds) * 1000;
const log = (line: string) => process.stdout.write(`${line}\n`);

/**
 * The victim: an agent that alternates a heartbeat and an inbox read over HTTP, and pings over its WebSocket,
 * for `ms` or until `going()` turns false (the attack ended early), whichever comes first.
 */
async function probe(relay: ServerProcess, victim: AgentCred, ms: number, going: () => boolean = () => true): Promise<{ http: Summary; ws: Summary }> {
  const auth = { authorization: `Bearer ${victim.secret}` };
  const end = performance.now() + ms;
  const more = () => performance.now() < end && going();
  const http: number[] = [];
  const ws: number[] = [];
  const httpLoop = async () => {
    for (let i = 0; more(); i++) {
      const t0 = performance.now();
      const res = await fetch(i % 2 ? `${relay.url}/v1/agents/${victim.id}/heartbeat` : `${relay.url}/v1/agents/${victim.id}/inbox`, { method: i % 2 ? "POST" : "GET", headers: auth });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`the victim's request got ${res.status}`);
      http.push(performance.now() - t0);
      await Bun.sleep(PROBE_GAP_MS);
    }
  };
  const wsLoop = async () => {
    const sock = new WebSocket(`${relay.url.replace(/^http/, "ws")}/v1/ws`, { headers: auth } as unknown as string[]);
    const frames: ((data: string) => void)[] = [];
    sock.onmessage = (ev) => frames.shift()?.(String(ev.data));
    const next = () => new Promise<string>((resolve) => frames.push(resolve));
    await next(); // hello
    while (more()) {
      const t0 = performance.now();
      const pong = next();
      sock.send('{"op":"ping"}');
      await pong;
      ws.push(performance.now() - t0);
      await Bun.sleep(PROBE_GAP_MS);
    }
    sock.close();
  };
  await Promise.all([httpLoop(), wsLoop()]);
  return { http: summarize(http), ws: summarize(ws) };
}

function startAttack(kind: string, relay: ServerProcess, attacker: AgentCred, concurrency: number) {
  const args = [kind, relay.url, attacker.secret, String(phaseMs / 1000), values.max!, String(concurrency)];
  const proc = track(Bun.spawn([process.execPath, join(import.meta.dir, "_attacker.ts"), ...args], { stdout: "pipe", stderr: "inherit" }));
  let out = "";
  let isReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (isReady = resolve));
  const report = (async (): Promise<AttackReport> => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) {
      out += decoder.decode(chunk, { stream: true });
      if (out.startsWith("ready\n")) isReady();
    }
    isReady();
    if ((await proc.exited) !== 0) throw new Error(`the ${kind} attack failed: ${out}`);
    return JSON.parse(out.trim().split("\n").at(-1)!);
  })();
  // What the attack sets up first (tasks to ack, a task to report on) is not part of the measured phase.
  return { ready, report };
}

const line = (s: Summary) => `p50 ${fmtMs(s.p50)}, p99 ${fmtMs(s.p99)}, max ${fmtMs(s.max)} (n=${fmtInt(s.n)})`;

async function run(name: string, section: AttackSection, label = ""): Promise<boolean> {
  const relay = await spawnRelay({ flags: section.flags });
  try {
    const [victim, attacker] = await registerAgents(relay.url, [`victim-${name}`, `attacker-${name}`]);
    await probe(relay, victim!, 500); // warm up
    const baseline = await probe(relay, victim!, phaseMs);
    const concurrency = Number(values.concurrency ?? section.concurrency);
    let attacking = true;
    const started = startAttack(section.attack, relay, attacker!, concurrency);
    const attack = started.report.finally(() => (attacking = false));
    await started.ready;
    const relayCpu = cpuMeter(relay.pid);
    const during = await probe(relay, victim!, phaseMs, () => attacking);
    const cpu = relayCpu();
    const report = await attack;
    const outcomes = Object.entries(report.outcomes).map(([k, n]) => `${fmtInt(n)} ${k}`).join(", ");
    const worst = Math.max(during.http.p99, during.ws.p99);
    const ok = worst < TARGET_P99_MS;
    log(`${name}${label}: ${section.what} (${concurrency} at a time)`);
    log(`  attacker: ${fmtInt(report.attempts)} attempts in ${report.seconds.toFixed(1)} s: ${outcomes}; ${fmtCpu("relay", cpu)} of a core meanwhile`);
    log(`  victim HTTP, baseline:     ${line(baseline.http)}`);
    log(`  victim HTTP, under attack: ${line(during.http)}`);
    log(`  victim WS ping, baseline:     ${line(baseline.ws)}`);
    log(`  victim WS ping, under attack: ${line(during.ws)}`);
    const factor = worst / Math.max(baseline.http.p99, baseline.ws.p99);
    log(`  verdict: ${ok ? "ok" : "ABOVE TARGET"} (worst p99 under attack ${fmtMs(worst)}, ${factor.toFixed(1)}× the quiet p99; target < ${TARGET_P99_MS} ms)`);
    return ok;
  } finally {
    await relay.stop();
  }
}

await ensureBinary();
const thisBuild = BINARY;
log(machineLine(describeMachine()));
log(`binary: ${BINARY}; each phase ${phaseMs / 1000} s; at most ${fmtInt(Number(values.max))} attempts per attack; probes ${PROBE_GAP_MS} ms apart`);
let allOk = true;
for (const name of positionals.length ? positionals : Object.keys(SECTIONS)) {
  try {
    // The build to compare with goes first, on the same machine in the same minute: its figures are the "before".
    if (values.compare) {
      useBinary(values.compare);
      await run(name, SECTIONS[name]!, ` (before: ${values.compare})`);
      useBinary(thisBuild);
    }
    allOk = (await run(name, SECTIONS[name]!, values.compare ? " (this build)" : "")) && allOk;
  } catch (err) {
    allOk = false;
    log(`${name}: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
}
process.exit(allOk ? 0 : 1);
