/**
 * Shared-file throughput over loopback: `clawlink file-put` / `file-get` against curl moving the same
 * file to and from the same relay, plus the relay's peak memory.
 *   bun scripts/bench-files.ts [--mb 200] [--runs 3]
 * Uses dist/ (bun scripts/build.ts --host) when built, else the sources. Linux reports memory from /proc.
 */
import { $ } from "bun";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const MB = 1024 * 1024;
const sizeMb = arg("mb", 200);
const runs = arg("runs", 3);

const root = join(import.meta.dir, "..");
const hostOs = process.platform === "win32" ? "windows" : process.platform;
const binary = join(root, "dist", `clawlink-${hostOs}-${process.arch}${hostOs === "windows" ? ".exe" : ""}`);
const cli = existsSync(binary) ? [binary] : [process.execPath, join(root, "src", "cli.ts")];
const dir = mkdtempSync(join(tmpdir(), "clawlink-bench-"));
const env = { ...process.env, CLAWLINK_HOME: join(dir, "home"), NO_COLOR: "1", NODE_ENV: "production" };

const status = (pid: number, field: string) => {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
};
/** Starts a fresh peak-memory count for the process (Linux: clear_refs 5). */
const resetPeak = (pid: number) => {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {}
};
const linux = process.platform === "linux";

async function run(cmd: string[]): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn(cmd, { env, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}\n${out}${err}`);
  return (performance.now() - started) / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rate = (seconds: number) => sizeMb / seconds;

// ---------------------------------------------------------------- setup

const relay = Bun.spawn([...cli, "relay", "--port", "0", "--max-file-versions", "1", "--max-file-bytes", String(Math.max(256, sizeMb * 2) * MB)], { env, stdout: "pipe", stderr: "pipe" });
let url = "";
{
  const decoder = new TextDecoder();
  let seen = "";
  const reader = (relay.stderr as ReadableStream<Uint8Array>).getReader();
  const stdout = (relay.stdout as ReadableStream<Uint8Array>).getReader();
  const deadline = Date.now() + 10_000;
  while (!url && Date.now() < deadline) {
    const { value } = await Promise.race([reader.read(), stdout.read()]);
    seen += decoder.decode(value ?? new Uint8Array());
    url = /http:\/\/127\.0\.0\.1:\d+/.exec(seen)?.[0] ?? "";
  }
  if (!url) throw new Error(`the relay did not start:\n${seen}`);
  reader.releaseLock();
  stdout.releaseLock();
}

await run([...cli, "register", "--name", "bench", "--relay", url]);
const secret = JSON.parse(readFileSync(join(env.CLAWLINK_HOME, "identities", "bench.json"), "utf8")).secret as string;

const src = join(dir, "file.bin");
const back = join(dir, "back.bin");
{
  const block = new Uint8Array(MB);
  for (let i = 0; i < MB; i += 65536) crypto.getRandomValues(block.subarray(i, i + 65536));
  const w = Bun.file(src).writer();
  for (let i = 0; i < sizeMb; i++) {
    new DataView(block.buffer).setUint32(0, i);
    w.write(block);
    await w.flush();
  }
  await w.end();
}
/** Makes the next put new content, so every run stores a version. */
let stamp = 0;
const restamp = () => {
  const fd = openSync(src, "r+");
  writeSync(fd, new TextEncoder().encode(`run ${++stamp} `.padEnd(16)), 0, 16, 0);
  closeSync(fd);
};

const auth = `authorization: Bearer ${secret}`;
const results = { curlPut: [] as number[], curlGet: [] as number[], cliPut: [] as number[], cliGet: [] as number[] };
const baseline = linux ? status(relay.pid, "VmRSS") : NaN;
let peakPut = 0;
let peakGet = 0;

// ---------------------------------------------------------------- runs

for (let i = 0; i < runs; i++) {
  restamp();
  if (linux) resetPeak(relay.pid);
  results.curlPut.push(await run(["curl", "-sS", "--fail", "-o", "/dev/null", "-H", "Expect:", "-H", auth, "-H", "content-type: application/octet-stream", "-T", src, `${url}/v1/files/bench/curl.bin`]));
  restamp();
  results.cliPut.push(await run([...cli, "file-put", "--key", "bench/cli.bin", "--file", src, "--relay", url]));
  if (linux) peakPut = Math.max(peakPut, status(relay.pid, "VmHWM"));

  // Let the collector finish with the versions the puts replaced before counting again.
  await Bun.sleep(300);
  if (linux) resetPeak(relay.pid);
  results.curlGet.push(await run(["curl", "-sS", "--fail", "-o", back, "-H", auth, `${url}/v1/files/bench/curl.bin`]));
  results.cliGet.push(await run([...cli, "file-get", "--key", "bench/cli.bin", "--output", back, "--relay", url]));
  if (linux) peakGet = Math.max(peakGet, status(relay.pid, "VmHWM"));
}
const settled = linux ? status(relay.pid, "VmRSS") : NaN;
relay.kill();
await relay.exited;
rmSync(dir, { recursive: true, force: true });

// ---------------------------------------------------------------- report

const curlVersion = (await $`curl --version`.text()).split(" ").slice(0, 2).join(" ");
const fmt = (n: number) => `${n.toFixed(0).padStart(5)} MiB/s`;
const cpu = cpus();
console.log(`clawlink shared files, ${sizeMb} MiB over loopback, median of ${runs} runs (each a new version)`);
console.log(`machine  ${cpu[0]?.model ?? "unknown cpu"}, ${cpu.length} cores, ${(totalmem() / 1024 ** 3).toFixed(1)} GiB, ${process.platform} ${release()} ${process.arch}`);
console.log(`bun      ${Bun.version}; clawlink ${cli.length === 1 ? "compiled binary" : "from sources"}`);
console.log(`baseline ${curlVersion}, against the same relay`);
console.log("");
const row = (what: string, ours: number[], curl: number[]) => {
  const ratio = median(curl) / median(ours);
  console.log(`${what}  clawlink ${fmt(rate(median(ours)))} (${median(ours).toFixed(2)} s)   curl ${fmt(rate(median(curl)))} (${median(curl).toFixed(2)} s)   ratio ${ratio.toFixed(2)} ${ratio >= 0.5 ? "ok (>= 0.5)" : "SLOW (< 0.5)"}`);
  return ratio >= 0.5;
};
const ok = [row("put", results.cliPut, results.curlPut), row("get", results.cliGet, results.curlGet)].every(Boolean);
console.log("");
if (linux) {
  const mb = (b: number) => `${(b / MB).toFixed(0)} MiB`;
  const kept = 2 * sizeMb * MB;
  const beyond = Math.max(peakPut, peakGet) - baseline - kept;
  console.log(`relay memory  ${mb(baseline)} at start; peak ${mb(peakPut)} during puts, ${mb(peakGet)} during gets; ${mb(settled)} at the end`);
  console.log(`              kept: 2 keys x 1 version x ${sizeMb} MiB = ${mb(kept)}; beyond that at the peak: ${mb(beyond)} (${(beyond / (sizeMb * MB)).toFixed(2)}x the file)`);
} else console.log("relay memory  not measured (needs Linux /proc)");
console.log("(put and get include clawlink's process start; get also checks the sha256 and writes through a temporary file)");
process.exitCode = ok ? 0 : 1;
