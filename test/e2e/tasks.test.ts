/** Tasks that finish: states, --wait exit codes, leases, priority, ttl, routing by capability, backpressure. */
import { afterAll, describe, expect, test } from "bun:test";
import { CliProcess, cleanup, eventually, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

type Member = { home: string; relay: string; id: string };

async function team(names: { name: string; caps?: string }[], relayArgs: string[] = []): Promise<{ url: string; relay: CliProcess } & Record<string, Member & any>> {
  const { url, relay } = await spawnRelay(relayArgs);
  const homes: Record<string, Member> = {};
  for (const { name, caps } of names) {
    const home = tempHome();
    const r = await runCli(["register", "--name", name, ...(caps ? ["--caps", caps] : []), "--json"], { home, relay: url });
    expect(r.code).toBe(0);
    homes[name] = { home, relay: url, id: r.json.id };
  }
  return { url, relay, ...homes };
}

describe("task states", async () => {
  const t = await team([{ name: "boss" }, { name: "worker" }]);

  test("queued → delivered → working → completed, with history, attempts and status messages", async () => {
    const d = await runCli(["delegate", "--to", "worker", "--task", "count lines", "--json"], t.boss);
    const id = d.json.id;
    expect((await runCli(["task", "--id", id, "--json"], t.boss)).json).toMatchObject({ state: "queued", attempts: 0, to: t.worker.id });

    await runCli(["poll", "--json"], t.worker);
    expect((await runCli(["task", "--id", id, "--json"], t.worker)).json).toMatchObject({ state: "delivered", attempts: 1 });

    const p = await runCli(["progress", "--msg-id", id, "--note", "halfway", "--json"], t.worker);
    expect(p.code).toBe(0);
    expect((await runCli(["task", "--id", id, "--json"], t.boss)).json.state).toBe("working");

    await runCli(["respond", "--msg-id", id, "--result", "42"], t.worker);
    const done = (await runCli(["task", "--id", id, "--json"], t.boss)).json;
    expect(done).toMatchObject({ state: "completed", result: "42", attempts: 1 });
    expect(done.history.map((h: any) => h.state)).toEqual(["queued", "delivered", "working", "completed"]);

    // Unread status messages about one task coalesce: the boss, polling only now, reads the latest.
    const inbox = (await runCli(["poll", "--json"], t.boss)).json;
    expect(inbox.filter((m: any) => m.type === "status").map((m: any) => m.state)).toEqual(["completed"]);
    expect(inbox.find((m: any) => m.type === "progress")).toMatchObject({ in_reply_to: id, note: "halfway" });
    expect(inbox.find((m: any) => m.type === "response")).toMatchObject({ in_reply_to: id, result: "42", status: "completed" });

    const human = await runCli(["task", "--id", id], t.boss);
    expect(human.stdout).toContain("state     completed");
    expect(human.stdout).toContain("history");
  });

  test("respond --status failed; tasks filters by state and role", async () => {
    const id = (await runCli(["delegate", "--to", "worker", "--task", "impossible", "--json"], t.boss)).json.id;
    await runCli(["poll"], t.worker);
    await runCli(["respond", "--msg-id", id, "--status", "failed", "--result", "cannot"], t.worker);
    const failed = (await runCli(["tasks", "--state", "failed", "--json"], t.boss)).json.tasks;
    expect(failed.map((x: any) => x.id)).toEqual([id]);
    expect((await runCli(["tasks", "--held", "--json"], t.boss)).json).toEqual({ tasks: [], next_cursor: null });
    expect((await runCli(["tasks", "--held", "--state", "failed", "--json"], t.worker)).json.tasks.map((x: any) => x.id)).toEqual([id]);
    const bad = await runCli(["tasks", "--state", "bogus"], t.boss);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--state");
  });

  test("cancel: the holder is told; a finished task cannot be canceled; only the sender may cancel", async () => {
    const id = (await runCli(["delegate", "--to", "worker", "--task", "long job", "--json"], t.boss)).json.id;
    await runCli(["poll"], t.worker);
    const notMine = await runCli(["cancel", "--msg-id", id], t.worker);
    expect(notMine.code).toBe(4);
    expect(notMine.stderr).toContain("only the agent that sent task");

    const c = await runCli(["cancel", "--msg-id", id, "--json"], t.boss);
    expect(c.code).toBe(0);
    expect(c.json.state).toBe("canceled");
    const told = (await runCli(["poll", "--json"], t.worker)).json;
    expect(told).toContainEqual(expect.objectContaining({ type: "status", task_id: id, state: "canceled" }));

    const again = await runCli(["cancel", "--msg-id", id], t.boss);
    expect(again.code).toBe(6);
    expect(again.stderr).toContain("already canceled");
    const late = await runCli(["respond", "--msg-id", id, "--result", "too late"], t.worker);
    expect(late.code).toBe(6);
  });

  test("only the holder may respond; unknown tasks are 404", async () => {
    const id = (await runCli(["delegate", "--to", "worker", "--task", "mine", "--json"], t.boss)).json.id;
    await runCli(["poll"], t.worker);
    const r = await runCli(["respond", "--msg-id", id, "--result", "hijack"], t.boss);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`only the agent holding task ${id} can respond`);
    const u = await runCli(["respond", "--msg-id", "t_nope", "--result", "x"], t.worker);
    expect(u.code).toBe(5);
    expect(u.stderr).toContain("no task has the id t_nope");
  });
});

describe("delegate --wait", async () => {
  const t = await team([{ name: "asker" }, { name: "server" }]);
  const serve = new CliProcess(["listen", "--exec", `sh -c 'read -r m; case "$m" in *fail*) echo broken >&2; exit 3;; *slow*) sleep 30;; *) echo "done: $CLAWLINK_MSG_ID";; esac'`, "--respond", "--type", "task"], t.server);
  await serve.waitFor(/listening as server/);

  test("completed: exit 0, prints the result; --json prints the response message", async () => {
    const r = await runCli(["delegate", "--to", "server", "--task", "hello", "--wait", "--timeout", "10"], t.asker);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^done: t_/);
    const j = await runCli(["delegate", "--to", "server", "--task", "hello", "--wait", "--json"], t.asker);
    expect(j.code).toBe(0);
    expect(j.json).toMatchObject({ type: "response", status: "completed", from: t.server.id });
    // What --wait showed is not delivered again by poll.
    const inbox = (await runCli(["poll", "--json"], t.asker)).json;
    expect(inbox.filter((m: any) => m.in_reply_to === j.json.in_reply_to || m.task_id === j.json.in_reply_to)).toEqual([]);
  });

  test("failed: exit 10 with the error text", async () => {
    const r = await runCli(["delegate", "--to", "server", "--task", "please fail", "--wait", "--json"], t.asker);
    expect(r.code).toBe(10);
    expect(r.json).toMatchObject({ type: "response", status: "failed", result: "broken" });
  });

  test("timeout: exit 13, the task keeps running", async () => {
    const r = await runCli(["delegate", "--to", "server", "--task", "slow please", "--wait", "--timeout", "1", "--json"], t.asker);
    expect(r.code).toBe(13);
    expect(r.json.error.code).toBe("timeout");
    expect((await runCli(["task", "--id", r.json.id, "--json"], t.asker)).json.state).toBe("delivered");
  });

  test("canceled: exit 11", async () => {
    const waiting = runCli(["delegate", "--to", "server", "--task", "slow again", "--wait", "--json", "--idempotency-key", "cancel-me"], t.asker);
    const id = await eventually(async () => (await runCli(["tasks", "--sent", "--state", "delivered", "--json"], t.asker)).json.tasks.find((x: any) => x.task === "slow again")?.id);
    await runCli(["cancel", "--msg-id", id], t.asker);
    const r = await waiting;
    expect(r.code).toBe(11);
    expect(r.json).toMatchObject({ id, state: "canceled" });
  });

  test("expired: exit 12 when nobody takes the task within its ttl", async () => {
    const r = await runCli(["delegate", "--to", "asker", "--task", "nobody polls", "--ttl", "1", "--wait", "--json"], t.asker);
    expect(r.code).toBe(12);
    expect(r.json.state).toBe("expired");
  });
});

describe("at-least-once delivery", async () => {
  const t = await team([{ name: "sender" }, { name: "crashy" }]);

  test("a task whose lease runs out is queued again and redelivered with attempt 2", async () => {
    const id = (await runCli(["delegate", "--to", "crashy", "--task", "lease me", "--lease", "1", "--json"], t.sender)).json.id;
    const first = await fetch(`${t.url}/v1/agents/${t.crashy.id}/inbox`, { headers: await auth(t.crashy.home) }).then((r) => r.json() as any);
    expect(first.messages[0]).toMatchObject({ id, attempt: 1 });
    // No ack: the agent "crashed". After the lease the task comes back.
    const again = await eventually(async () => (await runCli(["poll", "--json"], t.crashy)).json.find((m: any) => m.id === id), 5000);
    expect(again.attempt).toBe(2);
    const task = (await runCli(["task", "--id", id, "--json"], t.sender)).json;
    expect(task.attempts).toBe(2);
    expect(task.history.map((h: any) => h.state)).toEqual(["queued", "delivered", "queued", "delivered"]);
    // Answered, it is done: a task held and left unanswered would go back again after its lease.
    expect((await runCli(["respond", "--msg-id", id, "--result", "ok"], t.crashy)).code).toBe(0);
  });

  test("an acknowledged task is not redelivered while its holder shows life within the lease (a heartbeat)", async () => {
    const id = (await runCli(["delegate", "--to", "crashy", "--task", "ack me", "--lease", "4", "--json"], t.sender)).json.id;
    await runCli(["poll"], t.crashy); // poll acknowledges what it printed
    await Bun.sleep(2500);
    await runCli(["heartbeat"], t.crashy);
    await Bun.sleep(2500);
    expect((await runCli(["poll", "--json"], t.crashy)).json).toEqual([]);
    expect((await runCli(["respond", "--msg-id", id, "--result", "done"], t.crashy)).code).toBe(0);
    expect((await runCli(["task", "--id", id, "--json"], t.sender)).json).toMatchObject({ state: "completed", attempts: 1 });
  }, 20_000);

  test("--idempotency-key makes a retried delegate return the first id", async () => {
    const a = await runCli(["delegate", "--to", "crashy", "--task", "once", "--idempotency-key", "k-1", "--json"], t.sender);
    const b = await runCli(["delegate", "--to", "crashy", "--task", "once", "--idempotency-key", "k-1", "--json"], t.sender);
    expect(b.json).toMatchObject({ id: a.json.id, duplicate: true });
    const got = (await runCli(["poll", "--json"], t.crashy)).json.filter((m: any) => m.task === "once");
    expect(got).toHaveLength(1);
  });

  test("the inbox is served urgent, high, normal, low, then oldest first", async () => {
    for (const [task, priority] of [["l1", "low"], ["n1", "normal"], ["u1", "urgent"], ["h1", "high"], ["n2", "normal"], ["u2", "urgent"]]) {
      await runCli(["delegate", "--to", "crashy", "--task", task!, "--priority", priority!], t.sender);
    }
    const order = (await runCli(["poll", "--json"], t.crashy)).json.map((m: any) => m.task);
    expect(order).toEqual(["u1", "u2", "h1", "n1", "n2", "l1"]);
  });
});

describe("routing by capability", async () => {
  const t = await team([{ name: "lead" }, { name: "rev1", caps: "review" }, { name: "rev2", caps: "review" }]);

  test("tasks spread across the capable agents, fewest unfinished first", async () => {
    // Routing takes agents listening or seen in the last 30 s: these two say they are here.
    for (const rev of [t.rev1, t.rev2]) await runCli(["heartbeat"], rev);
    const to: string[] = [];
    for (let i = 0; i < 4; i++) to.push((await runCli(["delegate", "--cap", "review", "--task", `r${i}`, "--json"], t.lead)).json.to);
    expect(to.filter((x) => x === t.rev1.id)).toHaveLength(2);
    expect(to.filter((x) => x === t.rev2.id)).toHaveLength(2);
    // rev1 finishes its two; the next task goes to rev1, which now has fewer unfinished.
    for (const m of (await runCli(["poll", "--json"], t.rev1)).json) await runCli(["respond", "--msg-id", m.id, "--result", "ok"], t.rev1);
    expect((await runCli(["delegate", "--cap", "review", "--task", "next", "--json"], t.lead)).json.to).toBe(t.rev1.id);
  });

  test("no capable agent: a clear error, unless --queue waits for one", async () => {
    const r = await runCli(["delegate", "--cap", "translate", "--task", "hola"], t.lead);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('no agent with the capability "translate" can receive a task now (one must be listening, or seen in the last 30s)');
    expect(r.stderr).toContain("--queue");

    const q = await runCli(["delegate", "--cap", "translate", "--task", "hola", "--queue", "--json"], t.lead);
    expect(q.code).toBe(0);
    expect(q.json.to).toBeNull();
    const home = tempHome();
    await runCli(["register", "--name", "translator", "--caps", "translate"], { home, relay: t.url });
    const got = (await runCli(["poll", "--json"], { home, relay: t.url })).json;
    expect(got).toEqual([expect.objectContaining({ id: q.json.id, task: "hola" })]);
  });

  test("--to and --cap together are refused before anything is sent", async () => {
    const r = await runCli(["delegate", "--to", "rev1", "--cap", "review", "--task", "x"], t.lead);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("exactly one of --to AGENT and --cap CAPABILITY");
  });
});

describe("delegate --wait, when the asker leaves", async () => {
  const t = await team([{ name: "leaver" }, { name: "idle" }]);

  test("the wait ends at once with a clear error instead of retrying until its timeout", async () => {
    const started = Date.now();
    const waiting = runCli(["delegate", "--to", "idle", "--task", "never done", "--wait", "--timeout", "20"], t.leaver);
    await eventually(async () => (await runCli(["tasks", "--sent", "--json"], t.leaver)).json.tasks.length === 1);
    expect((await runCli(["unregister"], t.leaver)).code).toBe(0);
    const r = await waiting;
    expect(r.code).toBe(5);
    expect(r.stderr).toContain("was unregistered");
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe("backpressure", async () => {
  const t = await team([{ name: "flood" }, { name: "slow" }], ["--max-queue", "2"]);

  test("a full queue answers 429 naming whose queue is full", async () => {
    for (let i = 0; i < 2; i++) expect((await runCli(["delegate", "--to", "slow", "--task", `t${i}`], t.flood)).code).toBe(0);
    const r = await runCli(["delegate", "--to", "slow", "--task", "one too many"], t.flood);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain("slow's queue is full (2 messages waiting)");
    const res = await fetch(`${t.url}/v1/messages`, { method: "POST", headers: { ...(await auth(t.flood.home)), "content-type": "application/json" }, body: JSON.stringify({ type: "task", to: "slow", task: "x" }) });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("1");
  });
});

async function auth(home: string) {
  const { readdirSync, readFileSync } = await import("node:fs");
  const dir = `${home}/identities`;
  const id = JSON.parse(readFileSync(`${dir}/${readdirSync(dir)[0]}`, "utf8"));
  return { authorization: `Bearer ${id.secret}` };
}

describe("tasks in pages; finished tasks forgotten after --task-retention", async () => {
  const t = await team([{ name: "lister" }, { name: "doer" }], ["--task-retention", "2s"]);

  test("tasks --limit N pages oldest first; --cursor takes the next_cursor; human output says how to get the next page", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await runCli(["delegate", "--to", "doer", "--task", `job ${i}`], t.lister)).stdout.trim());
    const first = await runCli(["tasks", "--limit", "2", "--json"], t.lister);
    expect(first.json.tasks.map((x: any) => x.id)).toEqual(ids.slice(0, 2));
    const human = await runCli(["tasks", "--sent", "--limit", "2"], t.lister);
    expect(human.stdout).toContain("job 1");
    expect(human.stdout).not.toContain("job 2");
    // A cursor is given for one list: the --sent list has its own.
    const sent = await runCli(["tasks", "--sent", "--limit", "2", "--json"], t.lister);
    expect(human.stdout).toContain(`more tasks: clawlink tasks --sent --limit 2 --cursor ${sent.json.next_cursor}`);
    const borrowed = await runCli(["tasks", "--limit", "2", "--cursor", sent.json.next_cursor], t.lister);
    expect(borrowed.code).toBe(2);
    expect(borrowed.stderr).toContain("cursor is not one this relay gave out for this list");
    const second = await runCli(["tasks", "--limit", "2", "--cursor", first.json.next_cursor, "--json"], t.lister);
    expect(second.json.tasks.map((x: any) => x.id)).toEqual(ids.slice(2, 4));
    const last = await runCli(["tasks", "--limit", "2", "--cursor", second.json.next_cursor], t.lister);
    expect(last.stdout).toContain("job 4");
    expect(last.stdout).not.toContain("more tasks");
    expect((await runCli(["tasks", "--limit", "2", "--cursor", second.json.next_cursor, "--json"], t.lister)).json.next_cursor).toBeNull();

    const badLimit = await runCli(["tasks", "--limit", "0"], t.lister);
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain("--limit: must be at least 1");
    const badCursor = await runCli(["tasks", "--cursor", "nonsense"], t.lister);
    expect(badCursor.code).toBe(2);
    expect(badCursor.stderr).toContain("cursor is not one this relay gave out");
  }, 20_000);

  test("a finished task is forgotten after the retention: `task` says so and exits 5", async () => {
    const id = (await runCli(["delegate", "--to", "doer", "--task", "short-lived"], t.lister)).stdout.trim();
    await runCli(["poll"], t.doer);
    expect((await runCli(["respond", "--msg-id", id, "--result", "done"], t.doer)).code).toBe(0);
    const r = (await eventually(async () => {
      const r = await runCli(["task", "--id", id], t.lister);
      return r.code === 5 ? r : undefined;
    }, 10_000))!;
    expect(r.stderr).toContain(`error: task ${id} completed at`);
    expect(r.stderr).toContain("was forgotten since: the relay keeps finished tasks for 2s");
  });

  test("a --task-retention that is not a duration is refused", async () => {
    const r = await runCli(["relay", "--port", "0", "--task-retention", "soon"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--task-retention: must be a duration such as 90s, 30m, 24h or 7d, not "soon"');
  });
});
