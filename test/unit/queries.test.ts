/** Query strings: what the client writes with toQuery, the relay's shared schemas read back unchanged. */
import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { AgentsQuery, FileQuery, InboxQuery, SocketQuery, TasksQuery } from "../../src/protocol/queries";
import { toQuery } from "../../src/protocol/query-string";

const readBack = <S extends v.GenericSchema>(schema: S, qs: string) => v.parse(schema, Object.fromEntries(new URLSearchParams(qs.slice(1))));

describe("toQuery and the query schemas", () => {
  test("read back what the client writes", () => {
    const cases: [v.GenericSchema, Record<string, unknown>][] = [
      [InboxQuery, { wait: 2.5, max: 10, ack: true }],
      [AgentsQuery, { cap: "code-review", all: true }],
      [TasksQuery, { state: "working", role: "held", limit: 5, cursor: "abc" }],
      [FileQuery, { version: 3 }],
      [SocketQuery, { files: "reports/", types: ["task", "progress"] }],
      [SocketQuery, { task: "t_1" }],
    ];
    for (const [schema, params] of cases) expect(readBack(schema, toQuery(params as never))).toEqual(params);
  });

  test("false and undefined are left out; nothing at all is no query", () => {
    expect(toQuery({ ack: false, wait: undefined })).toBe("");
    expect(readBack(InboxQuery, toQuery({ ack: false }))).toEqual({});
  });

  test("a flag is true, false, 1, 0 or its name alone", () => {
    expect(v.parse(InboxQuery, { ack: "" }).ack).toBe(true);
    expect(v.parse(InboxQuery, { ack: "0" }).ack).toBe(false);
    expect(v.safeParse(InboxQuery, { ack: "yes" }).success).toBe(false);
  });

  test("limits come from the protocol's constants", () => {
    expect(v.safeParse(InboxQuery, { wait: "301" }).success).toBe(false);
    expect(v.safeParse(InboxQuery, { max: "10001" }).success).toBe(false);
    expect(v.safeParse(TasksQuery, { limit: "1001" }).success).toBe(false);
    expect(v.safeParse(SocketQuery, { types: "task,nonsense" }).success).toBe(false);
  });
});
