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
      ["cursor=bogus", "cursor is not one this relay gave out"],
    ]) {
      const bad = await call("GET", `/v1/tasks?${q}`, { bearer: boss.secret });
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toContain(message);
    }
    expect((await taskOf(relay, boss, ids[0]!)).id).toBe(ids[0]!);
  });
});
