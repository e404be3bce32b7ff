/** A compiled check (protocol/fastcheck.ts) accepts exactly what valibot accepts, with the same output, key order included. */
import { expect, test } from "bun:test";
import * as v from "valibot";
import { safeParse } from "../../src/protocol/codec";
import { built } from "../../src/protocol/deferred";
import { compileCheck, NO } from "../../src/protocol/fastcheck";
import { AckRequest, ClientFrame, FrameRef, RegisterRequest, SendBroadcast, SendProgress, SendResponse, SendTask } from "../../src/protocol/schemas";

const long = (n: number) => "x".repeat(n);

const samples: unknown[] = [
  { type: "response", in_reply_to: "t_1", result: "done" },
  { type: "response", in_reply_to: "m_1", result: "no", status: "failed", to: "alice", from: "bob", extra: 1 },
  { type: "response", in_reply_to: "", result: "x" },
  { type: "response", in_reply_to: long(65), result: "x" },
  { type: "response", in_reply_to: "t_1", result: 7 },
  { type: "response", in_reply_to: "t_1", result: "x", status: "maybe" },
  { type: "response", in_reply_to: "t_1", result: "x", to: "" },
  { type: "response", in_reply_to: "t_1", result: "x", to: undefined, status: undefined },
  { type: "response", result: "x" },
  { type: "progress", in_reply_to: "t_1" },
  { type: "progress", in_reply_to: "t_1", note: long(5000) },
  { type: "progress", in_reply_to: "t_1", note: "half" },
  { type: "broadcast", content: "hi", tags: ["a", "b"], topic: "t" },
  { type: "broadcast", content: "hi", tags: ["a", 2] },
  { type: "broadcast", content: "hi", tags: Array.from({ length: 33 }, () => "t") },
  { type: "broadcast", content: "hi", tags: [long(65)] },
  { type: "broadcast", content: "" },
  { type: "task", to: "bob", task: "x", lease_s: 30, priority: "high", ttl_s: 2.5 },
  { type: "task", to: "bob", task: "x", lease_s: 0 },
  { type: "task", to: "bob", task: "x", context: { repo: "api", pr: 1234, nested: { a: [1, { b: null }] } } },
  { type: "task", to: "bob", task: "x", context: JSON.parse('{"constructor":1,"prototype":2,"__proto__":{"x":3},"2":"two","1":"one","kept":true}') },
  { type: "task", cap: "code", task: "x", context: [] },
  { type: "task", cap: "code", task: "x", context: null },
  { type: "task", cap: "code", task: "x", context: "text" },
  { type: "task", cap: "code", task: "x", context: JSON.parse("[".repeat(40) + "]".repeat(40)) },
  { type: "task", cap: "code", task: "x", context: JSON.parse('{"a":' + "[".repeat(40) + "]".repeat(40) + "}") },
  { name: "alice", caps: ["code-review"], lease_s: 30 },
  { name: "alice", caps: ["Code"], lease_s: 30 },
  { name: "a_bob", lease_s: 30 },
  { name: "relay", lease_s: 30 },
  { name: "alice", lease_s: Number.NaN },
  { ids: ["m_1"], tasks: [] },
  { ids: [""] },
  { ids: "m_1" },
  { op: "send", ref: "r", messages: [{ type: "response" }] },
  { op: "send", ref: 3, message: { a: 1 } },
  { op: "send", ref: Infinity, message: {} },
  { op: "send", ref: long(201), message: {} },
  { op: "send", ref: "r", messages: [] },
  { op: "send", ref: "r", message: {}, messages: [{}] },
  { op: "send", ref: "r" },
  "text",
  7,
  null,
  [],
  [{ type: "response" }],
];

/** Each option of ClientFrame by itself (the codec routes to one), and the other schemas a relay parses often. */
const schemas: [string, v.GenericSchema][] = [
  ["SendResponse", built(SendResponse)],
  ["SendProgress", built(SendProgress)],
  ["SendBroadcast", built(SendBroadcast)],
  ["SendTask", built(SendTask)],
  ["RegisterRequest", built(RegisterRequest)],
  ["AckRequest", built(AckRequest)],
  ["FrameRef", built(FrameRef)],
  ...(built(ClientFrame) as unknown as { options: v.GenericSchema[] }).options.map((o, i): [string, v.GenericSchema] => [`ClientFrame option ${i}`, o]),
];

test("the schemas on the push path compile", () => {
  for (const s of [SendResponse, SendProgress, SendBroadcast, SendTask, FrameRef, AckRequest]) expect(compileCheck(built(s))).not.toBeNull();
  for (const option of (built(ClientFrame) as unknown as { options: v.GenericSchema[] }).options) expect(compileCheck(option)).not.toBeNull();
});

test("a compiled check accepts what valibot accepts, with the same output in the same key order, and refuses the rest", () => {
  let compiled = 0;
  let accepted = 0;
  for (const [, schema] of schemas) {
    const check = compileCheck(schema);
    if (!check) continue;
    compiled++;
    for (const input of samples) {
      const slow = v.safeParse(schema, input);
      const fast = check(input);
      if (slow.success) {
        accepted++;
        expect(fast).not.toBe(NO);
        expect(fast).toEqual(slow.output);
        expect(JSON.stringify(fast)).toBe(JSON.stringify(slow.output));
      } else expect(fast).toBe(NO);
    }
  }
  expect(compiled).toBeGreaterThanOrEqual(6);
  expect(accepted).toBeGreaterThan(5);
});

test("a transform in a pipe runs its operation on what the steps before it accepted", () => {
  const check = compileCheck(v.pipe(v.string(), v.minLength(2), v.transform((s) => s.length), v.maxValue(3)))!;
  expect(check("ab")).toBe(2);
  expect(check("a")).toBe(NO);
  expect(check("abcd")).toBe(NO);
  expect(check(7)).toBe(NO);
});

test("a record copies the own keys it accepts, leaving out those valibot leaves out, and a custom schema tests with its own check", () => {
  const record = compileCheck(v.record(v.string(), v.number()))!;
  const input = JSON.parse('{"b":1,"constructor":2,"__proto__":3,"a":4}');
  expect(record(input)).toEqual(v.parse(v.record(v.string(), v.number()), input));
  expect(Object.keys(record(input) as object)).toEqual(["b", "a"]);
  expect(record({ a: "x" })).toBe(NO);
  expect(record(null)).toBe(NO);
  const even = compileCheck(v.custom<number>((x) => typeof x === "number" && x % 2 === 0))!;
  expect(even(4)).toBe(4);
  expect(even(3)).toBe(NO);
});

test("what a schema does not compile (other transformations, variant, a default made by a function) is left to valibot", () => {
  expect(compileCheck(v.pipe(v.string(), v.trim()))).toBeNull();
  expect(compileCheck(built(ClientFrame))).toBeNull();
  expect(compileCheck(v.record(v.string(), v.pipe(v.string(), v.trim())))).toBeNull();
  expect(compileCheck(v.object({ a: v.optional(v.string(), () => "x") }))).toBeNull();
});

test("codec.safeParse, once it uses the compiled check, answers as valibot does: outputs and errors", () => {
  for (let round = 0; round < 12; round++) {
    for (const input of samples) {
      for (const schema of [SendResponse, SendBroadcast, SendTask, ClientFrame]) {
        const fast = safeParse(schema as v.GenericSchema, input);
        const plain = v.safeParse(built(schema) as v.GenericSchema, input);
        const issues = (r: v.SafeParseResult<v.GenericSchema>) => (r.issues ?? []).map((i) => [v.getDotPath(i), i.message]);
        expect(fast.success).toBe(plain.success);
        expect(fast.output).toEqual(plain.output);
        expect(JSON.stringify(fast.output)).toBe(JSON.stringify(plain.output));
        expect(issues(fast)).toEqual(issues(plain));
      }
    }
  }
});
