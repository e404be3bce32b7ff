/**
 * What relays ask of Redis while some work runs: every command a client sends (MONITOR; the commands
 * a script runs inside are not round trips), named by operation for scripts; and, measured apart
 * (MONITOR costs the server time of its own), the CPU time the server spent on the work (INFO cpu),
 * which is what bounds how many messages one primary carries.
 */
import { RedisClient } from "bun";
import { operationOf } from "../src/relay/store/redis/scripts";
import { track } from "./_relay";

/**
 * What the relays do on their own, whatever the traffic: the sweep scripts (every 250 ms or less often)
 * and the heartbeat's writes (every 5 s). No request runs any of them. Not here, as requests run them
 * too: prune_tasks (after every answer, and in each sweep: 4 a second per relay) and the reads of the
 * heartbeat (every 5 s), which the count of a request's work therefore slightly overstates.
 */
export const SWEEPS = new Set(["requeue_expired", "reclaim_tasks", "expire_tasks", "expire_unread", "expire_leases", "forget_agents", "forget_relay", "ZADD", "HSET"]);

/**
 * Commands that go in the same write as a script and cost no round trip of their own: the PING a relay
 * sends in front of a script that may carry a message to another relay (scripts.ts: PUBLISH_FIRST).
 */
export const PIPELINED = new Set(["PING"]);

export interface Counted {
  /** Commands by name (a script by its operation). */
  byName: Map<string, number>;
  /** Of them, the relays' sweeps and heartbeats (`SWEEPS`). */
  sweeps: number;
  /** Of them, those sent in one write with a script (`PIPELINED`). */
  pipelined: number;
  total: number;
}

const cpuOf = async (client: RedisClient) => {
  const info = (await client.send("INFO", ["cpu"])) as string;
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? 0);
  return (field("used_cpu_user") + field("used_cpu_sys")) * 1000;
};

/** The server's CPU time (user + system) while `work` runs, and how long it ran, in milliseconds. */
export async function serverCpuMs(redisUrl: string, work: () => Promise<void>): Promise<{ cpuMs: number; wallMs: number }> {
  const client = new RedisClient(redisUrl);
  try {
    const before = await cpuOf(client);
    const t0 = performance.now();
    await work();
    const wallMs = performance.now() - t0;
    return { cpuMs: (await cpuOf(client)) - before, wallMs };
  } finally {
    client.close();
  }
}

/** The socket writes the server made to its clients (replies and pub/sub messages; INFO stats) while `work` runs. */
export async function writesDuring(redisUrl: string, work: () => Promise<void>): Promise<number> {
  const client = new RedisClient(redisUrl);
  const writes = async () => Number(/^total_writes_processed:(\d+)/m.exec((await client.send("INFO", ["stats"])) as string)?.[1] ?? 0);
  try {
    const before = await writes();
    await work();
    return (await writes()) - before;
  } finally {
    client.close();
  }
}

/** Calls of `command` and the server's time in them (INFO commandstats) while `work` runs: µs per call. */
export async function usPerCall(redisUrl: string, command: string, work: () => Promise<void>): Promise<number> {
  const { calls, usec } = await timeIn(redisUrl, command, work);
  return usec / Math.max(1, calls);
}

/** Calls of `command` while `work` runs, and the server's time in them in µs (INFO commandstats). */
export async function timeIn(redisUrl: string, command: string, work: () => Promise<void>): Promise<{ calls: number; usec: number }> {
  const client = new RedisClient(redisUrl);
  const stat = async () => {
    const m = new RegExp(`^cmdstat_${command}:calls=(\\d+),usec=(\\d+)`, "m").exec((await client.send("INFO", ["commandstats"])) as string);
    return { calls: Number(m?.[1] ?? 0), usec: Number(m?.[2] ?? 0) };
  };
  try {
    const before = await stat();
    await work();
    const after = await stat();
    return { calls: after.calls - before.calls, usec: after.usec - before.usec };
  } finally {
    client.close();
  }
}

/** What the bench says to MONITOR, so it knows when it has seen everything before. */
const MARK = "clawlink-bench-mark";

/**
 * Counts the commands clients send while `work` runs. MONITOR's output lags behind the server on a busy
 * machine, so it is read until an ECHO sent after the work shows up, not for a fixed time.
 */
export async function countCommands(redisUrl: string, redisPort: number, work: () => Promise<void>): Promise<Counted> {
  // Connected before MONITOR starts, so its own HELLO is not counted.
  const client = new RedisClient(redisUrl);
  await client.connect();
  const monitor = track(Bun.spawn(["redis-cli", "-p", String(redisPort), "MONITOR"], { stdout: "pipe", stderr: "ignore" }));
  let started: () => void = () => {};
  const ready = new Promise<void>((r) => (started = r));
  const lines = (async () => {
    const byName = new Map<string, number>();
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of monitor.stdout) {
      const text = rest + decoder.decode(chunk, { stream: true });
      const all = text.split("\n");
      rest = all.pop()!;
      for (const line of all) {
        if (line.trim() === "OK") started();
        if (line.includes(MARK)) return byName;
        const m = /^\d+\.\d+ \[\d+ (?!lua)[^\]]*\] "(\w+)"(?: "([0-9a-f]{40})")?/.exec(line);
        if (!m) continue;
        const name = m[1]!.toUpperCase() === "EVALSHA" ? (operationOf(m[2] ?? "") ?? "EVALSHA") : m[1]!.toUpperCase();
        byName.set(name, (byName.get(name) ?? 0) + 1);
      }
    }
    throw new Error("MONITOR ended before the bench's mark");
  })();
  try {
    await Promise.race([ready, lines]);
    await work();
    await client.send("ECHO", [MARK]);
    const byName = await lines;
    let total = 0;
    let sweeps = 0;
    let pipelined = 0;
    for (const [name, n] of byName) {
      total += n;
      if (SWEEPS.has(name)) sweeps += n;
      if (PIPELINED.has(name)) pipelined += n;
    }
    return { byName, sweeps, pipelined, total };
  } finally {
    client.close();
    monitor.kill("SIGTERM");
  }
}

/** Round trips a unit of work costs: every command but the sweeps' and those pipelined with a script. */
export const tripsOf = (c: Counted, per: number) => (c.total - c.sweeps - c.pipelined) / per;

/** `HGET 1.00, create_task 1.00` per unit of work, sweeps and pipelined commands apart. */
export function describeCounted(c: Counted, per: number): string {
  const parts = [...c.byName].filter(([name]) => !SWEEPS.has(name) && !PIPELINED.has(name)).sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${(n / per).toFixed(2)}`);
  const pipelined = c.pipelined ? `; PING ${(c.pipelined / per).toFixed(2)} in the same write as a script (no round trip)` : "";
  return `${parts.join(", ")}${pipelined}; the relays' own sweeps and heartbeats meanwhile ${(c.sweeps / per).toFixed(2)}`;
}
