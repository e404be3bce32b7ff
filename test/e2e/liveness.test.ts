/**
 * A task is never silently lost: a worker killed while it holds a task, a task taken by poll and
 * abandoned, routing only to agents that can receive now. Real workers (`listen --exec`) are killed
 * with SIGKILL; what the requester sees is asserted. The relay runs with a 1 s holder grace.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, cleanup, eventually, member, type Member, runCli, spawnRelay } from "../_helpers";

afterAll(cleanup);

/** A worker running `listen --exec CMD`, up once it says it is listening. */
async function worker(m: Member, cmd: string, more: string[] = []): Promise<CliProcess> {
  const p = new CliProcess(["listen", "--exec", cmd, ...more], m);
  await p.waitFor(/listening as/);
  return p;
}

const taskOf = async (m: Member, id: string) => (await runCli(["task", "--id", id, "--json"], m)).json;

/** Long enough for a killed worker's grace and a few sweeps on a loaded machine; the grace itself is 1 s. */
const HEARD_MS = 15_000;

describe("a worker killed while it holds a task", async () => {
  const { url } = await spawnRelay(["--holder-grace", "1s"]);
  const boss = await member(url, "boss");

  test("a --cap task goes to a second capable worker with no human action; --wait prints both lines and that worker's answer", async () => {
    const first = await member(url, "first", "review");
    const w1 = await worker(first, "sleep 20", ["--respond"]);
    const wait = new CliProcess(["delegate", "--cap", "review", "--task", "review it", "--wait", "--timeout", "60"], boss);
    const id = (await wait.waitFor(/waiting up to 60s for task (t_\w+)/))[1]!;
    await eventually(async () => (await taskOf(boss, id)).state === "delivered", 10_000);
    expect((await taskOf(boss, id)).holder).toMatchObject({ name: "first", status: "listening", online: true });

    const second = await member(url, "second", "review");
    await worker(second, "echo reviewed by $CLAWLINK_TASK_ID", ["--respond"]);
    w1.proc.kill("SIGKILL");

    await wait.waitFor(/holder first went offline/, HEARD_MS);
    await wait.waitFor(/reassigned to second/, HEARD_MS);
    expect(await wait.proc.exited).toBe(0);
    expect(wait.stdout.trim()).toBe(`reviewed by ${id}`);
    expect(wait.stderr).toContain(`task ${id}: holder first went offline\ntask ${id}: reassigned to second\n`);
    const done = await taskOf(boss, id);
    expect(done).toMatchObject({ state: "completed", attempts: 2, holder: { name: "second" } });
    expect(done.history.map((h: any) => h.note)).toContain("holder first went offline; reassigned to second");
  });

  test("a --to task stays its worker's: the requester gets a status message, task --id shows the holder offline, and the task is redelivered when the worker returns, with CLAWLINK_TASK_ID, CLAWLINK_ATTEMPT and CLAWLINK_FROM", async () => {
    const solo = await member(url, "solo");
    const log = join(solo.home, "env.log");
    const w = await worker(solo, `echo "$CLAWLINK_TASK_ID $CLAWLINK_ATTEMPT $CLAWLINK_FROM" >> ${log}; sleep 20`);
    const id = (await runCli(["delegate", "--to", "solo", "--task", "build", "--json"], boss)).json.id;
    await eventually(() => existsSync(log) && readFileSync(log, "utf8").includes(id), 10_000);
    w.proc.kill("SIGKILL");

    const status = await eventually(async () => {
      const inbox = (await runCli(["poll", "--json"], boss)).json as any[];
      return inbox.find((m) => m.type === "status" && m.task_id === id && m.state === "queued");
    }, HEARD_MS);
    expect(status.note).toBe("holder solo went offline; delivered again when solo returns");
    const seen = await taskOf(boss, id);
    expect(seen).toMatchObject({ state: "queued", to: solo.id, holder: { name: "solo", online: false, status: "idle" } });
    expect(Date.parse(seen.holder.since)).toBeGreaterThan(Date.parse(seen.created_at) - 1);
    const human = await runCli(["task", "--id", id], boss);
    expect(human.stdout).toMatch(/to {8}solo \(a_\w+\), OFFLINE since /);

    await worker(solo, `echo "$CLAWLINK_TASK_ID $CLAWLINK_ATTEMPT $CLAWLINK_FROM" >> ${log}`, ["--respond"]);
    await eventually(async () => (await taskOf(boss, id)).state === "completed", 10_000);
    expect(readFileSync(log, "utf8")).toBe(`${id} 1 ${boss.id}\n${id} 2 ${boss.id}\n`);
  });

  test("--on-holder-lost fail exits 14 at once, saying where the task is; the task itself goes on", async () => {
    const lone = await member(url, "lone");
    const w = await worker(lone, "sleep 20");
    const wait = new CliProcess(["delegate", "--to", "lone", "--task", "long job", "--wait", "--timeout", "60", "--on-holder-lost", "fail"], boss);
    const id = (await wait.waitFor(/waiting up to 60s for task (t_\w+)/))[1]!;
    await eventually(async () => (await taskOf(boss, id)).state === "delivered", 10_000);
    w.proc.kill("SIGKILL");
    expect(await wait.proc.exited).toBe(14);
    expect(wait.stderr).toContain(`error: task ${id}: holder lone went offline (--on-holder-lost fail)`);
    expect(wait.stderr).toContain(`hint: it keeps running, check \`clawlink task --id ${id}\`; it is queued for lone (offline since `);
    expect((await taskOf(boss, id)).state).toBe("queued");
  });

  test("--on-holder-lost takes only wait or fail", async () => {
    const r = await runCli(["delegate", "--to", "boss", "--task", "x", "--wait", "--on-holder-lost", "retry"], boss);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--on-holder-lost must be wait or fail, not "retry"');
  });

  test("a --wait that times out says where the task is: state, holder, and whether it is online", async () => {
    const slow = await member(url, "slow");
    await worker(slow, "sleep 20");
    const r = await runCli(["delegate", "--to", "slow", "--task", "slow job", "--wait", "--timeout", "2"], boss);
    expect(r.code).toBe(13);
    expect(r.stderr).toMatch(/hint: it keeps running, check `clawlink task --id t_\w+`; it is delivered, held by slow \(listening since /);
  });
});

describe("a task taken by poll and abandoned", async () => {
  const { url } = await spawnRelay(["--holder-grace", "1s"]);
  const boss = await member(url, "boss");

  test("goes back after its lease, to another capable agent, as a redelivery", async () => {
    const quitter = await member(url, "quitter", "etl");
    const id = (await runCli(["delegate", "--cap", "etl", "--task", "load it", "--lease", "2", "--json"], boss)).json.id;
    const taken = (await runCli(["poll", "--json"], quitter)).json;
    expect(taken.map((m: any) => m.id)).toEqual([id]);
    const other = await member(url, "other", "etl");
    await eventually(async () => (await taskOf(boss, id)).to === other.id, HEARD_MS);
    const again = (await runCli(["poll", "--json"], other)).json;
    expect(again).toMatchObject([{ id, attempt: 2, redelivered: true }]);
    // Taken once: the quitter's copy was withdrawn, so nothing else comes.
    expect((await runCli(["poll", "--json"], other)).json).toEqual([]);
  });
});

describe("a --to task queued again for a holder that went quiet", async () => {
  const { url } = await spawnRelay(["--holder-grace", "1s"]);
  const boss = await member(url, "boss");

  test("can still be answered by that holder: its work counts", async () => {
    const slow = await member(url, "slowpoke");
    const id = (await runCli(["delegate", "--to", "slowpoke", "--task", "think", "--lease", "1", "--json"], boss)).json.id;
    expect((await runCli(["poll", "--json"], slow)).json.map((m: any) => m.id)).toEqual([id]);
    await eventually(async () => (await taskOf(boss, id)).state === "queued", HEARD_MS);
    expect((await taskOf(boss, id)).history.at(-1).note).toBe("holder slowpoke went offline; delivered again when slowpoke returns");
    expect((await runCli(["respond", "--msg-id", id, "--result", "thought"], slow)).code).toBe(0);
    expect(await taskOf(boss, id)).toMatchObject({ state: "completed", result: "thought", attempts: 1 });
    // The copy queued for its return was withdrawn with the answer.
    expect((await runCli(["poll", "--json"], slow)).json).toEqual([]);
  });
});

describe("routing by capability", async () => {
  const { url } = await spawnRelay(["--holder-grace", "1s"]);

  test("skips a worker whose socket has closed, and with no one else refuses with a next step", async () => {
    const boss = await member(url, "boss");
    const gone = await member(url, "gone", "render");
    const w = await worker(gone, "true");
    await w.stop();
    const r = await runCli(["delegate", "--cap", "render", "--task", "draw"], boss);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('no agent with the capability "render" can receive a task now');
    const up = await member(url, "up", "render");
    await worker(up, "true");
    for (let i = 0; i < 3; i++) expect((await runCli(["delegate", "--cap", "render", "--task", `draw ${i}`, "--json"], boss)).json.to).toBe(up.id);
    const list = (await runCli(["discover", "--all", "--json"], boss)).json;
    expect(Object.fromEntries(list.map((a: any) => [a.name, a.status]))).toMatchObject({ gone: "idle", up: "listening", boss: "online" });
  });

  test("does not route a task back to its sender unless no one else has the capability", async () => {
    const a = await member(url, "alice", "sum");
    expect((await runCli(["delegate", "--cap", "sum", "--task", "add", "--json"], a)).json.to).toBe(a.id);
    const b = await member(url, "bob", "sum");
    for (let i = 0; i < 3; i++) expect((await runCli(["delegate", "--cap", "sum", "--task", `add ${i}`, "--json"], a)).json.to).toBe(b.id);
  });
});
