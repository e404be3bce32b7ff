/**
 * The relay's data file through the compiled binary: one relay per file, owner-only permissions,
 * a file it cannot write refused at start, and a disk that fills up while it runs.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, cleanup, freePort, runCli, spawnRelay, tempHome } from "../_helpers";

const unmount: string[] = [];
afterAll(async () => {
  for (const dir of unmount) Bun.spawnSync(["umount", "-l", dir]);
  await cleanup();
});

const isRoot = process.getuid?.() === 0;

/** A few MiB of tmpfs to fill up for real (needs root and mount). */
function smallDisk(): string | undefined {
  if (!isRoot) return undefined;
  const dir = join(tempHome(), "disk");
  mkdirSync(dir);
  if (Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir]).exitCode !== 0) return undefined;
  unmount.push(dir);
  return dir;
}
const probe = smallDisk();

describe("relay --data", () => {
  test("a second relay on the same file refuses to start and names the first one's pid", async () => {
    const data = join(tempHome(), "relay.db");
    const { relay: first, url } = await spawnRelay(["--data", data]);
    const second = await runCli(["relay", "--port", "0", "--data", data]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`another relay (pid ${first.proc.pid}) is using the data file ${data}`);
    expect(second.stdout + second.stderr).toContain(`stop that relay first (kill ${first.proc.pid}), or give this one its own --data file`);
    // The first one never noticed.
    expect((await fetch(`${url}/v1/health`)).status).toBe(200);
    // Once it is gone (even by kill -9), the file is free again.
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    const { relay: third } = await spawnRelay(["--data", data]);
    expect(await third.stop()).toBe(0);
  });

  test("an existing file readable by others, and its journal, are tightened to 0600", async () => {
    const data = join(tempHome(), "relay.db");
    const { relay, url } = await spawnRelay(["--data", data]);
    await runCli(["register", "--name", "a"], { home: tempHome(), relay: url });
    relay.proc.kill("SIGKILL"); // leaves the -wal journal behind
    await relay.proc.exited;
    for (const f of [data, `${data}-wal`]) chmodSync(f, 0o644);
    const again = await spawnRelay(["--data", data]);
    for (const f of [data, `${data}-wal`]) expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(again.relay.stdout + again.relay.stderr).toContain(`${data} was readable by others (mode 0644); it is now 0600`);
  });

  test("a file the relay cannot write stops it at start, with a hint about the file", async () => {
    const data = join(tempHome(), "relay.db");
    const { relay } = await spawnRelay(["--data", data]);
    await relay.stop();
    // Root writes through any mode: an immutable file is what stays read-only for it.
    if (isRoot) expect(Bun.spawnSync(["chattr", "+i", data]).exitCode).toBe(0);
    else chmodSync(data, 0o400);
    try {
      const r = await runCli(["relay", "--port", "0", "--data", data]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`the data file ${data} cannot be written`);
      expect(r.stdout + r.stderr).toContain(`give this user write access to ${data} and its folder`);
      expect(r.stdout + r.stderr).not.toContain("listening");
    } finally {
      if (isRoot) Bun.spawnSync(["chattr", "-i", data]);
    }
  });

  test("--data needs a path, --fsync goes with it, and a path that cannot be a file says so", async () => {
    const empty = await runCli(["relay", "--port", "0", "--data", ""]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("--data needs the path of a file");
    const alone = await runCli(["relay", "--port", "0", "--fsync", "always"]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain("--fsync goes with --data");
    const wrong = await runCli(["relay", "--port", "0", "--data", join(tempHome(), "r.db"), "--fsync", "sometimes"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--fsync must be normal or always, not "sometimes"');
    const notes = join(tempHome(), "notes.txt");
    writeFileSync(notes, "these are my notes, not a database\n".repeat(10), { mode: 0o644 });
    const mistaken = await runCli(["relay", "--port", "0", "--data", notes]);
    expect(mistaken.code).toBe(1);
    expect(mistaken.stderr).toContain(`${notes} is not a clawlink data file (SQLITE_NOTADB)`);
    expect(statSync(notes).mode & 0o777).toBe(0o644); // a file given by mistake is left as it was
    const folder = tempHome();
    const dir = await runCli(["relay", "--port", "0", "--data", folder]);
    expect(dir.code).toBe(1);
    expect(dir.stderr).toContain(`--data ${folder} is a folder`);
    const under = await runCli(["relay", "--port", "0", "--data", "/dev/null/relay.db"]);
    expect(under.code).toBe(1);
    expect(under.stderr).toContain("cannot create the folder of --data /dev/null/relay.db");
    expect(under.stdout + under.stderr).toContain("pass a --data path in a folder this user can write");
    expect(under.stdout + under.stderr).not.toContain("--host");
  });

  test("--fsync always keeps what it answered across a kill -9", async () => {
    const data = join(tempHome(), "relay.db");
    const { relay, url } = await spawnRelay(["--data", data, "--fsync", "always"]);
    const a = { home: tempHome(), relay: url };
    await runCli(["register", "--name", "a"], a);
    expect((await runCli(["file-put", "--key", "k.txt"], { ...a, stdin: "kept" })).code).toBe(0);
    relay.proc.kill("SIGKILL");
    await relay.proc.exited;
    const again = await spawnRelay(["--data", data]);
    expect((await runCli(["file-get", "--key", "k.txt"], { ...a, relay: again.url })).stdout).toBe("kept");
  });
});

describe.skipIf(!probe)("a disk that fills up (tmpfs, as root)", () => {
  test("requests get 507 and leave no trace, the relay recovers once there is room, and SIGTERM still stops it", async () => {
    const disk = probe!;
    const data = join(disk, "relay.db");
    const port = freePort();
    const { relay, url } = await spawnRelay(["--data", data], undefined, port);
    const boss = { home: tempHome(), relay: url };
    const worker = { home: tempHome(), relay: url };
    await runCli(["register", "--name", "boss"], boss);
    await runCli(["register", "--name", "worker"], worker);
    const listen = new CliProcess(["listen", "--json"], worker);
    await listen.waitFor(/listening as worker/);

    const fill = () => Bun.spawnSync(["dd", "if=/dev/zero", `of=${join(disk, "filler")}`, "bs=64k"]);
    fill();
    for (const n of [1, 2, 3]) {
      const r = await runCli(["delegate", "--to", "worker", "--task", `during ${n}`], boss);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("error: the relay's disk is full: nothing of this request was kept");
      expect(r.stderr).toContain("hint: retry later; whoever runs the relay must free space on the disk that holds its --data file");
    }
    const broadcast = await runCli(["broadcast", "--content", "during", "--json"], boss);
    expect(broadcast.json.error.code).toBe("insufficient_storage");
    await relay.waitFor(/cannot write .*relay\.db \(insufficient_storage\)/);

    rmSync(join(disk, "filler"));
    const after = await runCli(["delegate", "--to", "worker", "--task", "after"], boss);
    expect(after.code).toBe(0);
    await listen.waitFor(/"task":"after"/);
    await relay.waitFor(/writing .*relay\.db works again/);
    // The first and only thing the worker was handed is what came after the disk had room.
    expect(listen.jsonLines().map((m) => m.task ?? m.content)).toEqual(["after"]);
    await listen.stop();

    fill();
    const failing = runCli(["delegate", "--to", "worker", "--task", "while stopping"], boss);
    await relay.waitFor(/cannot write .*relay\.db \(insufficient_storage\)/);
    relay.proc.kill("SIGTERM");
    const exited = await Promise.race([relay.proc.exited, Bun.sleep(8000).then(() => "still running")]);
    expect(exited).toBe(0);
    expect((await failing).code).not.toBe(0);

    rmSync(join(disk, "filler"));
    const again = await spawnRelay(["--data", data], undefined, port);
    const tasks = (await runCli(["tasks", "--json"], boss)).json.tasks;
    expect(tasks.map((t: any) => t.task)).toEqual(["after"]);
    expect(await again.relay.stop()).toBe(0);
  }, 60_000);
});
