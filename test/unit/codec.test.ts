/** codec.safeParse routes a variant by its discriminator; what it returns must be what valibot's variant returns. */
import { expect, test } from "bun:test";
import * as v from "valibot";
import { safeParse } from "../../src/protocol/codec";
import { ClientFrame, Message, SendMessage } from "../../src/protocol/schemas";

const sends: unknown[] = [
  { type: "task", to: "bob", task: "review PR 12" },
  { type: "task", to: "bob", task: "review", priority: "urgent", lease_s: 30, context: { pr: 12 }, idempotency_key: "k" },
  { type: "task", cap: "code-review", task: "x", queue: true },
  { type: "task", to: "bob", task: "" },
  { type: "task", to: "bob", task: "x", lease_s: 0.5, priority: "soon" },
  { type: "response", in_reply_to: "t_1", result: "done" },
  { type: "response", in_reply_to: "t_1", result: "no", status: "failed", to: "alice" },
  { type: "response", in_reply_to: "t_1", status: "maybe" },
  { type: "progress", in_reply_to: "t_1", note: "half way" },
  { type: "progress" },
  { type: "broadcast", content: "standup", topic: "team", tags: ["a", "b"] },
  { type: "broadcast", content: "", tags: "a" },
  { type: "file", key: "x" },
  { type: 7 },
  { type: null, task: "x" },
  { task: "x" },
  {},
  [],
  "task",
  null,
  42,
];

const frames: unknown[] = [
  { op: "send", ref: "1", message: { type: "broadcast", content: "hi" } },
  { op: "send", message: 1 },
  { op: "send", ref: 1 },
  { op: "ack", ids: ["m_1", "m_2"] },
  { op: "ack", ids: "m_1" },
  { op: "ack", tasks: ["t_1"], ids: [] },
  { op: "ping" },
  { op: "pong" },
  { op: "ack", ids: Array.from({ length: 10_001 }, (_, i) => `m_${i}`) },
  { ref: "1" },
];

const messages: unknown[] = [
  { type: "status", id: "m_1", from: "relay", to: "a_1", created_at: "2025-01-01T00:00:00.000Z", task_id: "t_1", state: "delivered", note: "" },
  { type: "status", id: "m_1", from: "relay", to: "a_1", created_at: "2025-01-01T00:00:00.000Z", task_id: "t_1", state: "lost", note: "" },
  { type: "unknown", id: "m_1" },
];

const same = (schema: v.GenericSchema, input: unknown) => {
  const fast = safeParse(schema, input);
  const slow = v.safeParse(schema, input);
  expect(fast.success).toBe(slow.success);
  expect(fast.output).toEqual(slow.output);
  expect(fast.issues?.map((i) => [v.getDotPath(i), i.message])).toEqual(slow.issues?.map((i) => [v.getDotPath(i), i.message]));
};

test("SendMessage: the same output and the same errors as v.variant", () => {
  for (const input of sends) same(SendMessage, input);
});

test("ClientFrame: the same output and the same errors as v.variant", () => {
  for (const input of frames) same(ClientFrame, input);
});

test("Message (relay to agent): the same output and the same errors as v.variant", () => {
  for (const input of messages) same(Message, input);
});
