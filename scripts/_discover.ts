/**
 * A one-shot command end to end: `clawlink discover --json` (the compiled binary) against curl fetching
 * the same list with the same Authorization header, from a relay holding ~20 agents. Runs alternate
 * so drift on a busy machine hits both alike; spawn cost is the same for both.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BINARY, cliEnv, registerAgents, runBinary, spawnRelay, tempHome } from "./_relay";
import { verdict, type BenchContext, type Figure } from "./_report";
import { fmtMs, summarize } from "./_stats";
import { COMPILE_FLAGS } from "./_targets";

const TARGET_RATIO = 1.5;
const AGENTS = 20;
const RUNS = 50;
const WARMUP = 5;

async function timeRun(cmd: string[], env: Record<string, string>): Promise<{ ms: number; out: string }> {
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, { env, stdout: "pipe", stderr: "ignore", stdin: "ignore" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${out}`);
  return { ms, out };
}

/** How long the binary takes to start at all, next to the smallest compiled Bun program. */
async function startupFloor(dir: string) {
  const src = join(dir, "hello.ts");
  const exe = join(dir, "hello");
  await Bun.write(src, 'console.log("hello");\n');
  // The same flags as scripts/build.ts, so the difference is clawlink's code.
  const build = Bun.spawn([process.execPath, "build", src, "--compile", ...COMPILE_FLAGS, "--outfile", exe], { stdout: "ignore", stderr: "pipe" });
  if ((await build.exited) !== 0) throw new Error(`building the hello binary failed: ${await new Response(build.stderr).text()}`);
  const version: number[] = [];
  const hello: number[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const v = await timeRun([BINARY, "--version"], {});
    const h = await timeRun([exe], {});
    if (i >= WARMUP) {
      version.push(v.ms);
      hello.push(h.ms);
    }
  }
  return { version: summarize(version), hello: summarize(hello) };
}

export async function discover(ctx: BenchContext): Promise<Figure[]> {
  const relay = await spawnRelay({ profileDir: ctx.profileDir && join(ctx.profileDir, "discover") });
  const home = tempHome();
  try {
    const env = cliEnv(home.dir, relay.url);
    await runBinary(["register", "--name", "me", "--caps", "bench"], env);
    await registerAgents(relay.url, Array.from({ length: AGENTS - 1 }, (_, i) => `agent-${String(i).padStart(2, "0")}`));
    const identity = await Bun.file(join(home.dir, "identities", "me.json")).json();
    const curlPath = Bun.which("curl");
    if (!curlPath || !existsSync(BINARY)) throw new Error("discover needs curl on PATH and the compiled binary");

    const binary = [BINARY, "discover", "--json"];
    const curl = [curlPath, "-sS", "--fail", "-H", `authorization: Bearer ${identity.secret}`, `${relay.url}/v1/agents`];
    const [b0, c0] = [await timeRun(binary, env), await timeRun(curl, env)];
    const listed = (JSON.parse(b0.out) as unknown[]).length;
    const curled = (JSON.parse(c0.out).agents as unknown[]).length;
    if (listed !== curled || listed !== AGENTS) throw new Error(`binary listed ${listed} agents, curl ${curled}, expected ${AGENTS}`);

    // Warm the page cache for both executables before anything is counted.
    for (let i = 0; i < WARMUP; i++) {
      await timeRun(binary, env);
      await timeRun(curl, env);
    }
    const b: number[] = [];
    const c: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      // Alternate which goes first so neither always follows the other.
      if (i % 2) {
        b.push((await timeRun(binary, env)).ms);
        c.push((await timeRun(curl, env)).ms);
      } else {
        c.push((await timeRun(curl, env)).ms);
        b.push((await timeRun(binary, env)).ms);
      }
    }
    const sb = summarize(b);
    const sc = summarize(c);
    const startup = await startupFloor(home.dir);
    const ratio: Figure = { name: "discover binary/curl (p50)", value: sb.p50 / sc.p50, unit: "x", better: "lower", target: TARGET_RATIO };
    ctx.log(
      `discover (${AGENTS} agents, ${RUNS} runs each): binary p50 ${fmtMs(sb.p50)} (mean ${fmtMs(sb.mean)}, p90 ${fmtMs(sb.p90)}) vs curl p50 ${fmtMs(sc.p50)} (mean ${fmtMs(sc.mean)}, p90 ${fmtMs(sc.p90)}) ` +
        `(${ratio.value.toFixed(2)}x, mean ${(sb.mean / sc.mean).toFixed(2)}x; target <= ${TARGET_RATIO}x) ${verdict(ratio)}`,
    );
    ctx.log(
      `discover startup (${RUNS} runs each): clawlink --version p50 ${fmtMs(startup.version.p50)}; a compiled bun "hello" built with the same flags p50 ${fmtMs(startup.hello.p50)} ` +
        `(so ~${fmtMs(startup.version.p50 - startup.hello.p50)} is clawlink's own start-up and ~${fmtMs(sb.p50 - startup.version.p50)} the command and its request)`,
    );
    return [ratio, { name: "discover binary p50", value: sb.p50, unit: "ms", better: "lower" }, { name: "discover curl p50", value: sc.p50, unit: "ms", better: "lower" }];
  } finally {
    home.remove();
    await relay.stop();
  }
}
