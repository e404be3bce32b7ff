/** Finished tasks are kept for a while and up to a count, then forgotten; task lists come in pages. */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startRelay } from "../../src/relay/server";
import { SqliteStore } from "../../src/relay/store/sqlite";
import { cleanup, startTestRelay, taskOf, tempHome } from "../_helpers";
import { api, registerAgent } from "../_http";

afterAll(cleanup);

const HOUR = 3600_000;

/** A relay on a clock the test moves, with a sender and a worker. */
async function setup(opts: { taskRetentionMs?: number; maxFinishedTasks?: number; messageTtlMs?: number; store?: SqliteStore } = {}, start = startTestRelay) {
  let now = Date.now();
  const relay = start({ clock: () => now, ...opts });
  const call = api(relay.url);
  const boss = await registerAgent(relay.url, "boss");
  const worker = await registerAgent(relay.url, "worker");
  /** Sends a task and has the worker finish it. */
  const finish = async (text: string) => {
    const id = (await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "worker", task: text } })).body.id as string;
    await call("GET", `/v1/agents/${worker.id}/inbox?ack=true`, { bearer: worker.secret });
    await call("POST", "/v1/messages", { bearer: worker.secret, json: { type: "response", in_reply_to: id, result: "ok" } });
    return id;
  };
  const advance = (ms: number) => relay.core.tick((now += ms));
  return { relay, call, boss, worker, finish, advance };
}

describe("finished tasks are kept for --task-retention", () => {
  test("past the retention a finished task is forgotten, and asking for it says so; unfinished ones stay", async () => {
    // The open task stays queued (and its worker kept) past the retention: it may wait unread for 48 hours.
    const { relay, call, boss, worker, finish, advance } = await setup({ taskRetentionMs: 24 * HOUR, messageTtlMs: 48 * HOUR });
    const done = await finish("old job");
    const open = (await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "worker", task: "still open" } })).body.id;
    await advance(23 * HOUR);
    expect((await call("GET", `/v1/tasks/${done}`, { bearer: boss.secret })).status).toBe(200);
    await advance(2 * HOUR);
    const gone = await call("GET", `/v1/tasks/${done}`, { bearer: boss.secret });
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe("unknown_task");
    expect(gone.body.error.message).toMatch(
      new RegExp(`^task ${done} completed at \\S+ and was forgotten since: the relay keeps finished tasks for 24h, at most 10000 of them and 134217728 bytes \\(relay --task-retention, --max-finished-tasks, --max-finished-bytes\\)$`),
    );
    // The holder is told the same; a stranger learns nothing.
    expect((await call("GET", `/v1/tasks/${done}`, { bearer: worker.secret })).body.error.message).toContain("was forgotten since");
    const stranger = await registerAgent(relay.url, "stranger");
    expect((await call("GET", `/v1/tasks/${done}`, { bearer: stranger.secret })).body.error.message).toBe(`no task has the id ${done}`);
    expect((await call("GET", "/v1/tasks", { bearer: boss.secret })).body.tasks.map((t: any) => t.id)).toEqual([open]);
    expect((await call("POST", `/v1/tasks/${done}/cancel`, { bearer: boss.secret })).body.error.message).toContain("was forgotten since");
  });

  test("an id too old to be kept, that this relay no longer remembers, is said to be maybe forgotten", async () => {
    const { call, boss } = await setup({ taskRetentionMs: HOUR });
    // A sortable id made two days ago: 9 characters of milliseconds, 5 of counter.
    const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
    let time = "";
    for (let t = Date.now() - 48 * HOUR, i = 0; i < 9; i++, t = Math.floor(t / 32)) time = ALPHABET[t % 32] + time;
    const old = await call("GET", `/v1/tasks/t_${time}00000`, { bearer: boss.secret });
    expect(old.status).toBe(404);
    expect(old.body.error.message).toMatch(/^no task has the id t_\w+; made at \S+, it may have finished and been forgotten: the relay keeps finished tasks for 1h/);
    expect((await call("GET", "/v1/tasks/t_nothing", { bearer: boss.secret })).body.error.message).toBe("no task has the id t_nothing");
  });
});

describe("finished tasks kept at most (--max-finished-tasks)", () => {
  test("past the count the oldest finished are forgotten first", async () => {
    const { call, boss, finish } = await setup({ maxFinishedTasks: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await finish(`job ${i}`));
    expect((await call("GET", "/v1/tasks", { bearer: boss.secret })).body.tasks.map((t: any) => t.task)).toEqual(["job 2", "job 3", "job 4"]);
    expect((await call("GET", `/v1/tasks/${ids[0]}`, { bearer: boss.secret })).body.error.message).toContain(`task ${ids[0]} completed at`);
  });

  test("durable: a forgotten task is gone from the database too", async () => {
    const path = join(tempHome(), "relay.db");
    const { call, boss, finish, relay } = await setup({ maxFinishedTasks: 1, store: new SqliteStore(path) }, (o) => startRelay({ host: "127.0.0.1", port: 0, ...o }));
    const first = await finish("first");
    const second = await finish("second");
    expect((await call("GET", "/v1/tasks", { bearer: boss.secret })).body.tasks.map((t: any) => t.id)).toEqual([second]);
    await relay.stop();
    const reopened = new SqliteStore(path);
    try {
      expect(await reopened.getTask(first)).toBeUndefined();
      expect((await reopened.getTask(second))?.state).toBe("completed");
    } finally {
      await reopened.close();
    }
  });
});

describe("GET /v1/tasks in pages", () => {
  test("limit (default 100, at most 1000) and an opaque cursor; next_cursor is null on the last page", async () => {
    const { relay, call, boss } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 250; i++) ids.push((await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "worker", task: `t${i}` } })).body.id);
    const first = await call("GET", "/v1/tasks", { bearer: boss.secret });
    expect(first.body.tasks.map((t: any) => t.id)).toEqual(ids.slice(0, 100));
    expect(typeof first.body.next_cursor).toBe("string");
    const second = await call("GET", `/v1/tasks?limit=120&cursor=${first.body.next_cursor}`, { bearer: boss.secret });
    expect(second.body.tasks.map((t: any) => t.id)).toEqual(ids.slice(100, 220));
    const last = await call("GET", `/v1/tasks?limit=120&cursor=${second.body.next_cursor}`, { bearer: boss.secret });
    expect(last.body).toMatchObject({ next_cursor: null });
    expect(last.body.tasks.map((t: any) => t.id)).toEqual(ids.slice(220));
    // Filters apply before the page is cut.
    const sent = await call("GET", "/v1/tasks?role=held&limit=5", { bearer: boss.secret });
    expect(sent.body).toEqual({ tasks: [], next_cursor: null });

    for (const [q, message] of [
      ["limit=1001", "limit is at most 1000"],
      ["limit=0", "limit is at least 1"],
      ["cursor=bogus", "cursor is not one this relay gave out for this list"],
    ]) {
      const bad = await call("GET", `/v1/tasks?${q}`, { bearer: boss.secret });
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toContain(message);
    }
    expect((await taskOf(relay, boss, ids[0]!)).id).toBe(ids[0]!);
  });
});

describe("task pages are bounded in bytes, and their cursors cannot be forged", () => {
  test("a page stops past 4 MiB of tasks (never empty), and next_cursor goes on from there", async () => {
    const { call, boss } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "worker", task: `${i}`.padEnd(1_000_000, "x") } })).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await call("GET", `/v1/tasks?limit=1000${cursor ? `&cursor=${cursor}` : ""}`, { bearer: boss.secret });
      expect(page.status).toBe(200);
      expect(JSON.stringify(page.body).length).toBeLessThanOrEqual(4 * 1024 * 1024 + 1_100_000);
      seen.push(...page.body.tasks.map((t: any) => t.id));
      cursor = page.body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toEqual(ids);
    expect(pages).toBe(2);
  });

  test("a made-up, edited, or borrowed cursor is a 400 with a hint; nothing is listed", async () => {
    const { call, boss, worker } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "worker", task: `t${i}` } })).body.id);
    const first = await call("GET", "/v1/tasks?limit=1", { bearer: boss.secret });
    const good = first.body.next_cursor as string;
    expect((await call("GET", `/v1/tasks?limit=1&cursor=${good}`, { bearer: boss.secret })).body.tasks[0].id).toBe(ids[1]);
    const [last, mac] = good.split(".") as [string, string];
    const forged = [
      Buffer.from(`after:${ids[1]}`).toString("base64url"), // the old, unsigned shape
      `${ids[1]}.${mac}`, // another task, the same signature
      `${last}.${mac.slice(0, -1)}${mac.endsWith("A") ? "B" : "A"}`, // an edited signature
      `${last}.`,
      "x".repeat(300),
    ];
    for (const c of forged) {
      const bad = await call("GET", `/v1/tasks?limit=1&cursor=${encodeURIComponent(c)}`, { bearer: boss.secret });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe("bad_request");
      expect(bad.body.error.message).toContain("cursor is not one this relay gave out for this list");
    }
    // Given to one agent for one list, a cursor serves that agent and that list only.
    const borrowed = await call("GET", `/v1/tasks?limit=1&cursor=${good}`, { bearer: worker.secret });
    expect(borrowed.status).toBe(400);
    expect(borrowed.body.error.hint).toContain("pass the next_cursor of the previous page unchanged");
    expect((await call("GET", `/v1/tasks?limit=1&role=sent&cursor=${good}`, { bearer: boss.secret })).status).toBe(400);
  });
});

describe("a task's history is capped", () => {
  test("a task cycled through its lease again and again keeps its first 8 entries and its latest 24, and counts the rest", async () => {
    const { call, boss, worker, advance } = await setup();
    const id = (await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "worker", task: "never acked", lease_s: 1 } })).body.id;
    for (let i = 0; i < 40; i++) {
      expect((await call("GET", `/v1/agents/${worker.id}/inbox`, { bearer: worker.secret })).body.messages.length).toBe(1);
      await advance(1500);
    }
    const task = (await call("GET", `/v1/tasks/${id}`, { bearer: boss.secret })).body;
    expect(task.attempts).toBe(40);
    // queued, then 40 × (delivered, queued again): 81 entries.
    expect(task.history.length).toBe(32);
    expect(task.history_dropped).toBe(81 - 32);
    expect(task.history.slice(0, 3).map((h: any) => h.note)).toEqual(["for worker", "attempt 1", "lease of 1s ran out before an ack; queued again"]);
    expect(task.history.at(-2).note).toBe("attempt 40");
  });
});
