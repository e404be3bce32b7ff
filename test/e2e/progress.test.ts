/** Progress for a person at a terminal, and never for a program: run under a real pseudo-terminal (`script`). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, cliCommand, eventually, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

/** Runs clawlink with a terminal on stdin, stdout and stderr; `screen` is everything the terminal has shown so far. */
function startOnTerminal(args: string[], env: Record<string, string>) {
  const proc = Bun.spawn(["script", "-qfec", [...cliCommand(), ...args].map(quote).join(" "), "/dev/null"], {
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp", TERM: "xterm", COLUMNS: "120", ...env },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  let screen = "";
  const read = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) screen += decoder.decode(chunk, { stream: true });
  })();
  return {
    /** Waits until the terminal shows `text`. */
    shows: (text: string) => eventually(() => screen.includes(text), 10_000),
    /** Types on the terminal's keyboard: "\x03" is Ctrl-C, which the terminal turns into SIGINT. */
    type: (keys: string) => {
      proc.stdin.write(keys);
      proc.stdin.flush();
    },
    done: async () => {
      const code = await proc.exited;
      await read;
      return { code, screen };
    },
  };
}

const onTerminal = (args: string[], env: Record<string, string>) => startOnTerminal(args, env).done();

let url: string;
let alice: string;
let bob: string;
let big: string;
const SIZE = 3 * 1024 * 1024;

beforeAll(async () => {
  ({ url } = await spawnRelay());
  alice = tempHome();
  bob = tempHome();
  expect((await runCli(["register", "--name", "alice"], { home: alice, relay: url })).code).toBe(0);
  expect((await runCli(["register", "--name", "bob"], { home: bob, relay: url })).code).toBe(0);
  big = join(tempHome(), "big.bin");
  writeFileSync(big, new Uint8Array(SIZE).map((_, i) => i % 251));
});

/** bob polls until the task alice sent arrives (past the file messages alice's puts left him). */
const takeTask = () =>
  eventually(async () => {
    const m = (await runCli(["poll", "--json"], { home: bob })).json;
    const tasks: any[] = Array.isArray(m) ? m.filter((x) => x.type === "task") : [];
    return tasks.length ? tasks : undefined;
  }, 10_000) as Promise<any[]>;

const BAR = /\[[#-]{10,}\] +\d+%  [\d.]+ (KiB|MiB) \/ 3\.0 MiB  [\d.]+ (B|KiB|MiB|GiB)\/s  ETA /;

describe.skipIf(!Bun.which("script"))("on a terminal", () => {
  test("file-put and file-get over 1 MiB draw a bar with rate and ETA on the terminal", async () => {
    const put = await onTerminal(["file-put", "--key", "big.bin", "--file", big], { CLAWLINK_HOME: alice });
    expect(put.code).toBe(0);
    expect(put.screen).toMatch(new RegExp(`put big\\.bin ${BAR.source}`));
    // The bar is wiped before the summary line.
    expect(put.screen).toContain(`\r\x1b[Kstored big.bin as version 1 (${SIZE} bytes`);

    const out = join(tempHome(), "copy.bin");
    const get = await onTerminal(["file-get", "--key", "big.bin", "--output", out], { CLAWLINK_HOME: alice });
    expect(get.code).toBe(0);
    expect(get.screen).toMatch(new RegExp(`get big\\.bin ${BAR.source}`));
    expect(await Bun.file(out).bytes()).toEqual(await Bun.file(big).bytes());
  });

  test("a small file draws no bar", async () => {
    const small = join(tempHome(), "small.txt");
    writeFileSync(small, "hello");
    const r = await onTerminal(["file-put", "--key", "small.txt", "--file", small], { CLAWLINK_HOME: alice });
    expect(r.code).toBe(0);
    expect(r.screen).not.toContain("ETA");
  });

  test("--json never carries progress, even on a terminal", async () => {
    const put = await onTerminal(["file-put", "--key", "big2.bin", "--file", big, "--json"], { CLAWLINK_HOME: alice });
    expect(put.code).toBe(0);
    expect(put.screen).not.toContain("ETA");
    expect(JSON.parse(put.screen)).toMatchObject({ key: "big2.bin", size: SIZE });
    const get = await onTerminal(["file-get", "--key", "big.bin", "--output", join(tempHome(), "c.bin"), "--json"], { CLAWLINK_HOME: alice });
    expect(get.screen).not.toContain("ETA");
    expect(JSON.parse(get.screen)).toMatchObject({ key: "big.bin", size: SIZE });
  });

  test("delegate --wait shows a spinner with the task's live state: queued, delivered to bob, working with bob's note", async () => {
    const terminal = startOnTerminal(["delegate", "--to", "bob", "--task", "run the tests", "--wait", "--timeout", "20"], { CLAWLINK_HOME: alice });
    await terminal.shows(": queued for bob");
    // bob takes the task, says what he is doing, then answers; the spinner follows each step.
    const id = (await takeTask())[0].id as string;
    await terminal.shows(`task ${id}: delivered to bob`);
    expect((await runCli(["progress", "--msg-id", id, "--note", "running tests"], { home: bob })).code).toBe(0);
    await terminal.shows(`task ${id}: working (bob): running tests`);
    expect((await runCli(["respond", "--msg-id", id, "--result", "all 42 pass"], { home: bob })).code).toBe(0);
    const { code, screen } = await terminal.done();
    expect(code).toBe(0);
    expect(screen).toContain(`task ${id}: queued for bob`);
    expect(screen).toContain("all 42 pass");
  });

  test("delegate --wait: each new note shows, the waiting line is plain and names the agent, not its id", async () => {
    const bobId = (await runCli(["whoami", "--json"], { home: bob })).json.id as string;
    const terminal = startOnTerminal(["delegate", "--to", bobId, "--task", "lint and test", "--wait", "--timeout", "20"], { CLAWLINK_HOME: alice });
    const id = (await takeTask())[0].id as string;
    await terminal.shows(`waiting up to 20s for task ${id} (sent to bob)`);
    expect((await runCli(["progress", "--msg-id", id, "--note", "linting"], { home: bob })).code).toBe(0);
    await terminal.shows(`task ${id}: working (bob): linting`);
    // A second note in the same state replaces the first.
    expect((await runCli(["progress", "--msg-id", id, "--note", "running tests"], { home: bob })).code).toBe(0);
    await terminal.shows(`task ${id}: working (bob): running tests`);
    expect((await runCli(["respond", "--msg-id", id, "--result", "clean"], { home: bob })).code).toBe(0);
    const { code, screen } = await terminal.done();
    expect(code).toBe(0);
    const waiting = screen.slice(0, screen.indexOf("waiting up to"));
    // No colour is switched on for the line: an error colour would say something went wrong.
    expect(waiting).not.toMatch(/\x1b\[3\dm$/);
    expect(screen).not.toContain(`(sent to ${bobId})`);
  });

  test("delegate --wait on timeout wipes the spinner before the message", async () => {
    const terminal = startOnTerminal(["delegate", "--to", "bob", "--task", "too slow", "--wait", "--timeout", "1"], { CLAWLINK_HOME: alice });
    const { code, screen } = await terminal.done();
    const id = (await takeTask())[0].id as string;
    expect(code).toBe(13);
    expect(screen).toMatch(new RegExp(`\\r\\x1b\\[K(\\x1b\\[[0-9;]*m)*error: task ${id} did not finish within 1s`));
    expect(screen).toContain(`hint: it keeps running, check \`clawlink task --id ${id}\``);
    await runCli(["respond", "--msg-id", id, "--result", "late"], { home: bob });
  });

  test("delegate --wait stopped with Ctrl-C: the spinner is wiped, and the task keeps running", async () => {
    const terminal = startOnTerminal(["delegate", "--to", "bob", "--task", "interrupt me", "--wait", "--timeout", "20"], { CLAWLINK_HOME: alice });
    await terminal.shows(": queued for bob");
    terminal.type("\x03");
    const { code, screen } = await terminal.done();
    const id = (await takeTask())[0].id as string;
    expect(code).toBe(130);
    expect(screen).toMatch(new RegExp(`\\r\\x1b\\[K(\\x1b\\[[0-9;]*m)*error: stopped waiting for task ${id}`));
    expect(screen).toContain(`hint: it keeps running, check \`clawlink task --id ${id}\``);
    expect((await runCli(["task", "--id", id, "--json"], { home: alice })).json.state).toBe("delivered");
    await runCli(["respond", "--msg-id", id, "--result", "done anyway"], { home: bob });
  });

  test("delegate --wait --json shows no spinner", async () => {
    const waiting = onTerminal(["delegate", "--to", "bob", "--task", "again", "--wait", "--timeout", "20", "--json"], { CLAWLINK_HOME: alice });
    const messages = await takeTask();
    await runCli(["respond", "--msg-id", messages[0].id, "--result", "done"], { home: bob });
    const { code, screen } = await waiting;
    expect(code).toBe(0);
    expect(screen).not.toContain(`task ${messages[0].id}:`);
    expect(JSON.parse(screen.slice(screen.indexOf("{")))).toMatchObject({ type: "response", result: "done" });
  });
});

test("piped, nothing draws progress: not on stdout, not on stderr", async () => {
  const put = await runCli(["file-put", "--key", "piped.bin", "--file", big], { home: alice, relay: url });
  expect(put.code).toBe(0);
  expect(put.stdout + put.stderr).not.toContain("ETA");
  const get = await runCli(["file-get", "--key", "piped.bin"], { home: alice, relay: url });
  expect(get.stdout.length).toBe(SIZE);
  expect(get.stderr).toBe("");
});
