/** What goes wrong on the way: relays that restart or are not there, tokens, bad input. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, cleanup, freePort, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

describe("a listener survives a relay restart", () => {
  test("with --key-file it re-registers with the same id and receives what is sent after the restart, once", async () => {
    const port = freePort();
    const key = ["--key-file", join(tempHome(), "relay.key")];
    let { relay, url } = await spawnRelay(key, undefined, port);
    const boss = { home: tempHome(), relay: url };
    const worker = { home: tempHome(), relay: url };
    await runCli(["register", "--name", "boss"], boss);
    const workerId = (await runCli(["register", "--name", "worker", "--json"], worker)).json.id;

    const listener = new CliProcess(["listen", "--json"], worker);
    await listener.waitFor(/listening as worker/);
    await runCli(["delegate", "--to", "worker", "--task", "before restart"], boss);
    await listener.waitFor(/before restart/);

    await relay.stop();
    await listener.waitFor(/reconnecting/);
    ({ relay } = await spawnRelay(key, undefined, port));
    await listener.waitFor(/registered it again/, 15_000);

    // The boss's identity was forgotten too: heartbeat brings it back under its id.
    expect((await runCli(["heartbeat", "--json"], boss)).json.reregistered).toBe(true);
    const sent = await runCli(["delegate", "--to", "worker", "--task", "after restart", "--json"], boss);
    expect(sent.json.to).toBe(workerId);
    await listener.waitFor(/after restart/);
    await Bun.sleep(300);
    const tasks = listener.jsonLines().map((m) => m.task);
    expect(tasks).toEqual(["before restart", "after restart"]);
  });

  test("without a key, the relay cannot recognise old secrets: heartbeat and listen register the name afresh and say so", async () => {
    const port = freePort();
    let { relay, url } = await spawnRelay([], undefined, port);
    const boss = { home: tempHome(), relay: url };
    const worker = { home: tempHome(), relay: url };
    const bossId = (await runCli(["register", "--name", "boss", "--json"], boss)).json.id;
    const workerId = (await runCli(["register", "--name", "worker", "--json"], worker)).json.id;
    const listener = new CliProcess(["listen", "--json"], worker);
    await listener.waitFor(/listening as worker/);

    await relay.stop();
    await listener.waitFor(/reconnecting/);
    ({ relay } = await spawnRelay([], undefined, port));
    const [, newWorkerId] = await listener.waitFor(/registered worker afresh as (a_\w+)/, 15_000);
    expect(newWorkerId).not.toBe(workerId);
    expect(listener.stderr).toContain(`could not take back ${workerId}`);
    await listener.waitFor(new RegExp(`listening as worker \\(${newWorkerId}\\)`));
    const saved = JSON.parse(readFileSync(join(worker.home, "identities", "worker.json"), "utf8"));
    expect(saved.id).toBe(newWorkerId);

    const beat = await runCli(["heartbeat", "--json"], boss);
    expect(beat.code).toBe(0);
    expect(beat.json).toMatchObject({ name: "boss", reregistered: true, previous_id: bossId });
    expect(beat.json.id).not.toBe(bossId);
    expect(beat.stderr).toContain(`registered boss afresh as ${beat.json.id}`);
    // A forged claim on the old id is refused like any other.
    const claim = await fetch(`${url}/v1/agents`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "mallory", id: workerId, secret: `${workerId}.${"A".repeat(43)}` }),
    });
    expect(claim.status).toBe(403);
    expect(((await claim.json()) as any).error.code).toBe("unrecognized_identity");

    const sent = await runCli(["delegate", "--to", "worker", "--task", "to the new id", "--json"], boss);
    expect(sent.json.to).toBe(newWorkerId);
    await listener.waitFor(/to the new id/);
  });

  test("messages in flight on a dropped connection are redelivered, and duplicates are dropped", async () => {
    const { url } = await spawnRelay();
    const a = { home: tempHome(), relay: url };
    const b = { home: tempHome(), relay: url };
    await runCli(["register", "--name", "a"], a);
    await runCli(["register", "--name", "b"], b);
    for (let i = 0; i < 20; i++) await runCli(["broadcast", "--content", `finding ${i}`], a);
    // A listener killed hard cannot ack; the next one gets everything not acknowledged, each once.
    const first = new CliProcess(["listen", "--json"], b);
    await first.waitFor(/finding 19/);
    await first.stop("SIGKILL");
    const second = new CliProcess(["listen", "--json"], b);
    await second.waitFor(/listening as b/);
    await Bun.sleep(500);
    const seen = [...first.jsonLines(), ...second.jsonLines()].map((m) => m.content);
    for (let i = 0; i < 20; i++) expect(seen).toContain(`finding ${i}`);
    expect(new Set(second.jsonLines().map((m) => m.id)).size).toBe(second.jsonLines().length);
    await second.stop();
  });
});

describe("the relay process", () => {
  test("stops cleanly on SIGTERM and on SIGINT", async () => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const { relay } = await spawnRelay();
      expect(await relay.stop(signal)).toBe(0);
      expect(relay.stdout + relay.stderr).toContain(`${signal}: stopping`);
    }
  });

  test("bound to every interface with a token, it prints the loopback and LAN URLs", async () => {
    const relay = new CliProcess(["relay", "--host", "0.0.0.0", "--port", "0", "--token", "t0k3n"]);
    await relay.waitFor(/agents connect with/);
    expect(relay.stdout).toMatch(/http:\/\/127\.0\.0\.1:\d+/);
    expect(relay.stdout).toContain("token required");
    await relay.stop();
  });

  test("bad relay flags are refused with exit 2", async () => {
    const typo = await runCli(["relay", "--prot", "9000"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown option --prot");
    const port = await runCli(["relay", "--port", "abc"]);
    expect(port.code).toBe(2);
    expect(port.stdout + port.stderr).toContain("--port: must be a number");
    const high = await runCli(["relay", "--port", "70000"]);
    expect(high.code).toBe(2);
    expect(high.stdout + high.stderr).toContain("--port: must be at most 65535");
  });

  test("a port in use is reported plainly", async () => {
    const { url } = await spawnRelay();
    const second = new CliProcess(["relay", "--port", new URL(url).port]);
    expect(await second.proc.exited).toBe(1);
    expect(second.stdout + second.stderr).toContain("already in use");
  });
});

describe("errors a user meets first", () => {
  test("no relay: says it is not reachable at the URL and how to start one; exit 3", async () => {
    const r = await runCli(["discover"], { relay: `http://127.0.0.1:${freePort()}`, home: tempHome() });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("the relay is not reachable at http://127.0.0.1:");
    expect(r.stderr).toContain("clawlink relay");
    const j = await runCli(["discover", "--json"], { relay: `http://127.0.0.1:${freePort()}`, home: tempHome() });
    expect(j.code).toBe(3);
    expect(j.json.error.code).toBe("unreachable");
  });

  test("a relay with a token: 401 says to pass the same --token or CLAWLINK_TOKEN; exit 4", async () => {
    const { url } = await spawnRelay(["--token", "s3cret"]);
    const home = tempHome();
    const r = await runCli(["register", "--name", "x"], { home, relay: url });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("needs a token");
    expect(r.stderr).toContain("--token (or CLAWLINK_TOKEN)");
    const wrong = await runCli(["discover", "--token", "guess"], { home, relay: url });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toContain("not valid");
    const ok = await runCli(["register", "--name", "x", "--json"], { home, relay: url, env: { CLAWLINK_TOKEN: "s3cret" } });
    expect(ok.code).toBe(0);
    // Once registered, the agent's own secret is enough.
    expect((await runCli(["discover", "--json"], { home, relay: url })).json).toHaveLength(1);
    const health = await fetch(`${url}/v1/health`).then((r) => r.json() as any);
    expect(health).toMatchObject({ ok: true, agents: 1 });
  });

  test("bad input is refused before anything is sent", async () => {
    const { url } = await spawnRelay();
    const home = tempHome();
    const as = { home, relay: url };
    await runCli(["register", "--name", "solo"], as);
    const cases: [string[], number, string][] = [
      [["delegate", "--to", "solo", "--task", "x", "--context", "{not json"], 2, "--context is not valid JSON"],
      [["delegate", "--to", "solo", "--task", "x", "--context", "[1,2]"], 2, "--context (a JSON object)"],
      [["delegate", "--to", "ghost", "--task", "x"], 5, 'no agent is registered as "ghost"'],
      [["delegate", "--to", "solo", "--task", "x", "--priority", "asap"], 2, "priority must be one of"],
      [["file-put", "--key", "a.txt", "--file", join(home, "missing.txt")], 2, "no such file"],
      [["file-put", "--key", "../etc/passwd", "--file", join(home, "missing.txt")], 2, "'..' segments"],
      [["register", "--name", "bad name!"], 2, "--name"],
      [["delegate", "--to", "solo", "--task", "x", "--bogus"], 2, "unknown option --bogus"],
      [["delegate", "solo", "x"], 2, 'unexpected argument "solo"'],
      [["delegate", "--to", "solo"], 2, "pass --task TEXT or --task-file PATH"],
      [["nonsense"], 2, 'unknown command "nonsense"'],
    ];
    for (const [args, code, message] of cases) {
      const r = await runCli(args, as);
      expect({ args, code: r.code }).toEqual({ args, code });
      expect(r.stderr).toContain(message);
    }
    // Nothing reached the inbox.
    expect((await runCli(["poll", "--json"], as)).json).toEqual([]);
  });

  test("a name held by an online agent cannot be taken; exit 6", async () => {
    const { url } = await spawnRelay();
    await runCli(["register", "--name", "taken"], { home: tempHome(), relay: url });
    const r = await runCli(["register", "--name", "taken"], { home: tempHome(), relay: url });
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('the name "taken" belongs to agent');
    expect(r.stderr).toContain("choose another --name");
  });

  test("--as picks one of several identities saved in one home", async () => {
    const { url } = await spawnRelay();
    const home = tempHome();
    const a = (await runCli(["register", "--name", "first", "--json"], { home, relay: url })).json;
    const b = (await runCli(["register", "--name", "second", "--json"], { home, relay: url })).json;
    expect((await runCli(["whoami", "--json"], { home, relay: url })).json.id).toBe(b.id);
    expect((await runCli(["whoami", "--as", "first", "--json"], { home, relay: url })).json.id).toBe(a.id);
    const none = await runCli(["delegate", "--as", "third", "--to", "first", "--task", "x"], { home, relay: url });
    expect(none.code).toBe(5);
    expect(none.stderr).toContain("act as a saved one with --as (saved: first, second)");
  });
});
