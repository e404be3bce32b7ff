/**
 * What each Redis script costs the server, in CPU instructions (steady whatever else runs, unlike
 * timings). Two steps:
 *   1. capture: relays (the compiled binary, or --binary PATH) on a plain redis-server do the redis
 *      bench's work (cross-relay round trips, sends to an agent not listening, polls that take one and
 *      acknowledge it) while MONITOR writes down every command a client sends;
 *   2. replay: the same commands, in order, one at a time, to a fresh redis-server under
 *      `valgrind --tool=callgrind --dump-before=processCommand` (one profile per command), with as many
 *      bus subscribers as there were relays; each command's instructions, by phase and operation: the
 *      mean (the Lua collector's steps land on some calls: the fewest leave them out), median, fewest, most.
 *   bun scripts/bench-redis-lua.ts [--binary PATH] [--trips N] [--keep DIR]
 * --keep leaves the profiles in DIR and names one of each kind (`callgrind_annotate --inclusive=yes` reads it).
 * Needs redis-server, redis-cli and valgrind on the PATH.
 */
import { RedisClient } from "bun";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { BINARY, ensureBinary, registerAgents, spawnRelay, track, useBinary } from "./_relay";
import { bearer, openSocket, wsUrl } from "./_ws";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { binary: { type: "string" }, trips: { type: "string", default: "30" }, keep: { type: "string" } },
});
if (values.binary) useBinary(resolve(values.binary));
await ensureBinary();
const TRIPS = Number(values.trips);
const PREFIX = "bench:";
const HOLD_ALL = ["--max-queue", "10000000", "--max-queued-bytes", String(8 * 2 ** 30), "--max-sender-bytes", String(8 * 2 ** 30), "--max-recipient-bytes", String(8 * 2 ** 30)];
const TASK = { type: "task", task: "review the diff of PR 1234 and list style problems", context: { repo: "api", pr: 1234 }, priority: "normal" };

function freePort() {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = s.port!;
  s.stop(true);
  return port;
}

async function waitPort(port: number, tries = 500) {
  for (let i = 0; i < tries; i++) {
    try {
      (await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } })).end();
      return;
    } catch {
      await Bun.sleep(20);
    }
  }
  throw new Error(`nothing listens on ${port}`);
}

/** One MONITOR argument (`sdscatrepr`: quoted, with \\, \", \n, \r, \t, \a, \b and \xHH escapes) back to its bytes. */
function unrepr(line: string): string[] {
  const out: string[] = [];
  let i = line.indexOf('"');
  while (i >= 0 && i < line.length) {
    const bytes: number[] = [];
    i++;
    while (line[i] !== '"') {
      const c = line[i]!;
      if (c === "\\") {
        const n = line[i + 1]!;
        if (n === "x") {
          bytes.push(parseInt(line.slice(i + 2, i + 4), 16));
          i += 4;
          continue;
        }
        bytes.push(({ n: 10, r: 13, t: 9, a: 7, b: 8 } as Record<string, number>)[n] ?? n.charCodeAt(0));
        i += 2;
        continue;
      }
      bytes.push(...Buffer.from(c));
      i++;
    }
    out.push(Buffer.from(bytes).toString("utf8"));
    i = line.indexOf('"', i + 1);
  }
  return out;
}

/** Commands that set up a connection or watch the server: not the work. */
const SKIP = new Set(["HELLO", "CLIENT", "SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "MONITOR", "INFO", "ECHO", "PING", "SELECT", "AUTH", "QUIT", "COMMAND"]);

async function capture(): Promise<{ commands: string[][]; labels: string[] }> {
  const port = freePort();
  const dir = mkdtempSync(join(tmpdir(), "clawlink-lua-cost-"));
  const server = track(Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"], { stdout: "ignore", stderr: "ignore" }));
  await waitPort(port);
  const monitor = track(Bun.spawn(["redis-cli", "-p", String(port), "MONITOR"], { stdout: "pipe", stderr: "ignore" }));
  const text = new Response(monitor.stdout).text();
  await Bun.sleep(200);
  const url = `redis://127.0.0.1:${port}`;
  const labels: string[] = [];
  const mark = new RedisClient(url);
  const label = (name: string) => mark.send("ECHO", [`phase:${name}`]);
  const relays = [];
  try {
    for (let i = 0; i < 2; i++) relays.push(await spawnRelay({ flags: [...HOLD_ALL, "--redis", url, "--redis-prefix", PREFIX] }));
    const [a, b] = relays as [(typeof relays)[0], (typeof relays)[0]];
    const [boss, worker, sender, idle] = await registerAgents(a.url, ["boss", "worker", "sender", "idle"]);
    const post = (url: string, secret: string, body: object) => fetch(`${url}/v1/messages`, { method: "POST", headers: { ...bearer(secret), "content-type": "application/json" }, body: JSON.stringify(body) });
    let answered: (() => void) | undefined;
    const bossWs = await openSocket(wsUrl(a.url), bearer(boss!.secret), (t) => {
      const frame = JSON.parse(t) as { message?: { id: string }; messages?: { id: string }[] };
      const ids = (frame.messages ?? (frame.message ? [frame.message] : [])).map((m) => m.id);
      if (ids.length) bossWs.send(JSON.stringify({ op: "ack", ids }));
      if (t.includes('"type":"response"')) answered?.();
    });
    const workerWs = await openSocket(wsUrl(b.url), bearer(worker!.secret), (t) => {
      const frame = JSON.parse(t) as { message?: { type: string; id: string } };
      if (frame.message?.type === "task") void post(b.url, worker!.secret, { type: "response", in_reply_to: frame.message.id, status: "completed", result: "done" });
    });
    await label("roundtrip");
    for (let i = 0; i < TRIPS; i++) {
      const done = new Promise<void>((r) => (answered = r));
      await post(a.url, boss!.secret, { type: "task", to: "worker", task: "say done" });
      await done;
      await Bun.sleep(5);
    }
    await Bun.sleep(100);
    await label("send");
    for (let i = 0; i < TRIPS; i++) await post(a.url, sender!.secret, { ...TASK, to: "idle" });
    await label("take");
    for (let i = 0; i < TRIPS; i++) await fetch(`${b.url}/v1/agents/${idle!.id}/inbox?max=1&ack=true`, { headers: bearer(idle!.secret) });
    await label("end");
    bossWs.close();
    workerWs.close();
  } finally {
    for (const r of relays) await r.stop();
    mark.close();
    monitor.kill("SIGTERM");
    server.kill("SIGTERM");
    await server.exited;
    rmSync(dir, { recursive: true, force: true });
  }
  const commands: string[][] = [];
  let phase = "setup";
  for (const line of (await text).split("\n")) {
    const m = /^\d+\.\d+ \[\d+ ([^\]]*)\] (.*)$/.exec(line);
    if (!m || m[1] === "lua") continue;
    const args = unrepr(m[2]!);
    const name = args[0]!.toUpperCase();
    if (name === "ECHO" && args[1]?.startsWith("phase:")) phase = args[1].slice(6);
    if (SKIP.has(name)) continue;
    commands.push(args);
    labels.push(phase);
  }
  return { commands, labels };
}

/** The instructions a callgrind profile counted (its `summary:` line; one event, Ir). */
function instructionsIn(file: string): number {
  const m = /^(?:summary|totals): (\d+)/m.exec(readFileSync(file, "utf8"));
  return m ? Number(m[1]) : 0;
}

async function replay(commands: string[][]) {
  const port = freePort();
  const dir = values.keep ? resolve(values.keep) : mkdtempSync(join(tmpdir(), "clawlink-lua-cg-"));
  mkdirSync(dir, { recursive: true });
  const out = join(dir, "callgrind.out.%p");
  const server = track(
    Bun.spawn(["valgrind", "--tool=callgrind", `--callgrind-out-file=${out}`, "--dump-before=processCommand", "--dump-instr=no", "redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"], {
      stdout: "ignore",
      stderr: "ignore",
    }),
  );
  await waitPort(port);
  // Every relay listens on the bus: a PUBLISH writes to each of them.
  const subs = [new RedisClient(`redis://127.0.0.1:${port}`), new RedisClient(`redis://127.0.0.1:${port}`)];
  for (const s of subs) await s.subscribe(`${PREFIX}bus`, () => {});
  const client = new RedisClient(`redis://127.0.0.1:${port}`);
  await client.send("PING", []);
  const parts = () => readdirSync(dir).filter((f) => f.startsWith("callgrind.out.") && /\.\d+$/.test(f)).length;
  const settle = async (want: number) => {
    for (let i = 0; i < 500 && parts() < want; i++) await Bun.sleep(10);
  };
  await Bun.sleep(300);
  const files: number[] = [];
  for (const args of commands) {
    const before = parts();
    try {
      await client.send(args[0]!, args.slice(1));
    } catch {
      // A refusal replays as it happened.
    }
    // Its cost is in the profile numbered one past those written before it was sent (checked on
    // operations of known, different sizes taking turns: claim_next and ack).
    files.push(before + 1);
  }
  await client.send("PING", []);
  await settle(files.at(-1)! + 1);
  const paths = files.map((n) => join(dir, `callgrind.out.${server.pid}.${n}`));
  const counts = paths.map((f) => (existsSync(f) ? instructionsIn(f) : NaN));
  client.close();
  for (const s of subs) s.close();
  server.kill("SIGTERM");
  await server.exited;
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
  return { counts, paths };
}

const { operationOf } = await import("../src/relay/store/redis/scripts");
console.log(`binary: ${BINARY}`);
const { commands, labels } = await capture();
// The operations by SHA: the worktree's own scripts, or a build's (--binary) as its relays loaded them, named by their first line.
const shas = new Map<string, string>();
for (const c of commands) if (c[0]!.toUpperCase() === "SCRIPT" && c[1]!.toUpperCase() === "LOAD") shas.set(new Bun.CryptoHasher("sha1").update(c[2]!).digest("hex"), /^-- (\w+)\(/m.exec(c[2]!.split("\n").find((l) => /^-- \w+\(/.test(l)) ?? "")?.[1] ?? "?");
const nameOf = (c: string[]) => (c[0]!.toUpperCase() === "EVALSHA" ? (operationOf(c[1]!) ?? shas.get(c[1]!) ?? `script ${c[1]!.slice(0, 8)}`) : c[0]!.toUpperCase());
const { counts, paths } = await replay(commands);
const by = new Map<string, number[]>();
commands.forEach((c, i) => {
  if (labels[i] === "setup" || Number.isNaN(counts[i])) return;
  const k = `${labels[i]} ${nameOf(c)}`;
  by.set(k, [...(by.get(k) ?? []), counts[i]!]);
});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
// The mean counts the Lua collector's steps, which land on some calls and not others; the first call of a kind (a histogram to make, a table to grow) is left out.
const mean = (xs: number[]) => (xs.length > 1 ? xs.slice(1) : xs).reduce((a, b) => a + b, 0) / Math.max(1, xs.length - 1);
console.log(`${commands.length} commands replayed; instructions per command (mean but the first, median, min-max), by phase and operation:`);
for (const [k, xs] of [...by].sort()) console.log(`  ${k.padEnd(34)} n=${String(xs.length).padStart(3)}  ${Math.round(mean(xs) / 1000)}k  ${Math.round(median(xs) / 1000)}k  (${Math.round(Math.min(...xs) / 1000)}k-${Math.round(Math.max(...xs) / 1000)}k)`);
if (values.keep) {
  const seen = new Set<string>();
  commands.forEach((c, i) => {
    const k = `${labels[i]} ${nameOf(c)}`;
    if (labels[i] === "setup" || seen.has(k)) return;
    seen.add(k);
    console.log(`  one ${k}: ${paths[i]}`);
  });
}
