/** What `clawlink mcp` holds for its agent: announced once, kept until taken, settled when a wait or an answer covered it. */
import { expect, test } from "bun:test";
import { Mailbox } from "../../src/mcp/mailbox";
import type { Message } from "../../src/protocol/schemas";

const at = "2026-12-01T10:00:00.000Z";
const task = (id: string, attempt = 1): Message => ({ type: "task", id, from: "a_boss", to: "a_me", created_at: at, task: "do it", context: {}, priority: "normal", attempt, lease_s: 600 });
const reply = (id: string, taskId: string): Message => ({ type: "response", id, from: "a_worker", to: "a_me", created_at: at, in_reply_to: taskId, status: "completed", result: "done" });
const status = (id: string, taskId: string): Message => ({ type: "status", id, from: "relay", to: "a_me", created_at: at, task_id: taskId, state: "delivered", note: "" });
const news = (id: string): Message => ({ type: "broadcast", id, from: "a_worker", to: null, created_at: at, content: "main is red", topic: "", tags: [] });

function mailbox() {
  const announced: string[] = [];
  const acked: string[] = [];
  const box = new Mailbox({ announce: (m) => void announced.push(m.id), ack: (ids) => void acked.push(...ids) });
  return { box, announced, acked };
}

test("a message is announced once and held; a redelivered copy replaces it unannounced", () => {
  const { box, announced } = mailbox();
  box.receive(task("t_1"));
  box.receive(task("t_1", 2));
  expect(announced).toEqual(["t_1"]);
  expect(box.peek(10)).toEqual([task("t_1", 2)]);
});

test("peek leaves messages held, filters by type and stops at max; remove takes them out", () => {
  const { box } = mailbox();
  box.receive(task("t_1"));
  box.receive(news("m_1"));
  box.receive(news("m_2"));
  expect(box.peek(10, new Set(["broadcast"])).map((m) => m.id)).toEqual(["m_1", "m_2"]);
  expect(box.peek(2).map((m) => m.id)).toEqual(["t_1", "m_1"]);
  box.remove(["t_1", "m_1"]);
  expect(box.peek(10).map((m) => m.id)).toEqual(["m_2"]);
  expect(box.size).toBe(1);
});

test("what arrives about an awaited task is held but not announced; once settled it is dropped, and late copies are acknowledged", () => {
  const { box, announced, acked } = mailbox();
  const release = box.await("t_9");
  box.receive(status("m_s", "t_9"));
  box.receive(reply("m_r", "t_9"));
  box.receive(news("m_n"));
  expect(announced).toEqual(["m_n"]);
  box.settle("t_9");
  release();
  expect(box.peek(10).map((m) => m.id)).toEqual(["m_n"]);
  box.receive(reply("m_late", "t_9"));
  expect(acked).toEqual(["m_late"]);
  expect(announced).toEqual(["m_n"]);
  // Another task's reply is news.
  box.receive(reply("m_other", "t_8"));
  expect(announced).toEqual(["m_n", "m_other"]);
});

test("answering a task drops the task, not a message with that id of another type", () => {
  const { box } = mailbox();
  box.receive(task("t_1"));
  box.receive(news("m_1"));
  box.answered("t_1");
  box.answered("m_1");
  expect(box.peek(10).map((m) => m.id)).toEqual(["m_1"]);
});

test("next resolves when a message arrives, or when its time runs out", async () => {
  const { box } = mailbox();
  const arrived = box.next(10_000);
  box.receive(news("m_1"));
  await arrived;
  await box.next(10);
  const stopped = new AbortController();
  const aborted = box.next(10_000, stopped.signal);
  stopped.abort();
  await aborted;
});
