/**
 * A relay whose data file cannot take a write (a full disk): every request that would change
 * something is refused with 507, and nobody sees a trace of it: no push, no woken poll, no task update.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SqliteStore } from "../../src/relay/store/sqlite";
import { cleanup, startTestRelay, tempHome } from "../_helpers";
import { api, registerAgent } from "../_http";
import { wsConnect } from "../ws";

afterAll(cleanup);

describe("a full disk under a durable relay", () => {
  test("refused requests leave no trace; the relay carries on once there is room, and a restart finds only what was answered", async () => {
    const path = join(tempHome(), "relay.db");
    const store = new SqliteStore(path);
    const relay = startTestRelay({ store });
    const call = api(relay.url);
    const boss = await registerAgent(relay.url, "boss");
    const worker = await registerAgent(relay.url, "worker");
    const poller = await registerAgent(relay.url, "poller");
    const idle = await registerAgent(relay.url, "idle");

    const sock = await wsConnect(`${relay.url}/v1/ws`, worker.secret);
    await sock.nextOp("hello");
    const t0 = (await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "idle", task: "watched" } })).body.id;
    expect((await call("GET", `/v1/agents/${idle.id}/inbox`, { bearer: idle.secret })).body.messages.map((m: any) => m.id)).toEqual([t0]);
    const watch = await wsConnect(`${relay.url}/v1/ws?task=${t0}`, boss.secret);
    expect((await watch.nextOp("task")).task.state).toBe("delivered");
    const bossSock = await wsConnect(`${relay.url}/v1/ws`, boss.secret);
    await bossSock.nextOp("hello");

    // The disk fills up. SQLite answers a write past max_page_count as it answers a full disk (SQLITE_FULL);
    // filler rows take the free pages, so every large write below needs pages that are not there.
    const db = store["file"].db;
    db.exec("CREATE TABLE filler (b BLOB)");
    db.exec(`PRAGMA max_page_count = ${(db.query("PRAGMA page_count").get() as { page_count: number }).page_count}`);
    expect(() => {
      for (;;) db.query("INSERT INTO filler VALUES (randomblob(4000))").run();
    }).toThrow("full");
    const big = "x".repeat(64 * 1024);

    const waiting = call("GET", `/v1/agents/${poller.id}/inbox?wait=1`, { bearer: poller.secret });
    const task = await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "worker", task: big } });
    expect(task.status).toBe(507);
    expect(task.body.error).toMatchObject({ code: "insufficient_storage", message: "the relay's disk is full: nothing of this request was kept" });
    expect(task.body.error.hint).toContain("free space on the disk");
    expect((await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "broadcast", content: big } })).status).toBe(507);
    expect((await call("POST", "/v1/messages", { bearer: idle.secret, json: { type: "response", in_reply_to: t0, result: big } })).status).toBe(507);
    bossSock.send({ op: "send", ref: "r1", message: { type: "task", to: "worker", task: big } });
    expect(await bossSock.nextOp("error")).toMatchObject({ ref: "r1", error: { code: "insufficient_storage" } });
    // The long poll was not woken by the broadcast that was refused.
    expect(await waiting).toMatchObject({ status: 200, body: { messages: [] } });

    // Room again: the relay writes without being restarted.
    db.exec("DROP TABLE filler");
    db.exec("PRAGMA max_page_count = 1073741823");
    const marker = await call("POST", "/v1/messages", { bearer: boss.secret, json: { type: "task", to: "worker", task: "after" } });
    expect(marker.status).toBe(201);
    expect((await call("POST", "/v1/messages", { bearer: idle.secret, json: { type: "response", in_reply_to: t0, result: "small" } })).status).toBe(201);
    // The first thing each of them sees is what came after the disk had room.
    expect((await sock.nextOp("message")).message).toMatchObject({ id: marker.body.id, task: "after" });
    const done = await watch.nextOp("task");
    expect(done.task).toMatchObject({ state: "completed", result: "small" });
    expect((await call("GET", `/v1/agents/${poller.id}/inbox`, { bearer: poller.secret })).body.messages).toEqual([]);
    const tasks = (await call("GET", "/v1/tasks", { bearer: boss.secret })).body.tasks;
    expect(tasks.map((t: any) => t.task)).toEqual(["watched", "after"]);
    for (const s of [sock, watch, bossSock]) s.close();

    // What a restart finds is what was answered, nothing more.
    await relay.stop();
    const again = startTestRelay({ store: new SqliteStore(path) });
    const after = (await api(again.url)("GET", "/v1/tasks", { bearer: boss.secret })).body.tasks;
    expect(after.map((t: any) => [t.task, t.state, t.result])).toEqual([
      ["watched", "completed", "small"],
      ["after", "delivered", null],
    ]);
  });
});
