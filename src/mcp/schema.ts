/** Tool arguments: valibot schemas, published to clients as the JSON Schema generated from them, and checked with them. */
import { toJsonSchema } from "@valibot/to-json-schema";
import * as v from "valibot";
import { usage } from "../commands/_shared";
import { describeIssues } from "../protocol/codec";

/** A schema with the sentence a model reads about it. */
export const describe = <S extends v.GenericSchema>(schema: S, text: string) => v.pipe(schema, v.description(text));

/** A tool's arguments: an object that refuses unknown keys, since a misspelt argument would otherwise be dropped unseen. */
export const args = <E extends v.ObjectEntries>(entries: E) =>
  v.strictObject(entries, (issue) =>
    !issue.path?.length
      ? "the arguments must be a JSON object"
      : issue.expected === "never"
        ? `unknown argument; the tool takes ${Object.keys(entries).join(", ") || "none"}`
        : "is required",
  );

export type ArgsSchema = ReturnType<typeof args>;

/** The JSON Schema (2020-12, MCP's default dialect) that `tools/list` shows for a tool's arguments. */
export function inputSchema(schema: ArgsSchema): { type: "object"; [key: string]: unknown } {
  const { $schema, ...json } = toJsonSchema(schema, {
    target: "draft-2020-12",
    // Refinements that JSON Schema cannot say (a file key's segments, a context's depth) are left to the parse.
    errorMode: "ignore",
    // A record of anything (a task's context) is a free-form object, said so in the way validators expect.
    overrideSchema: ({ valibotSchema: s }) => (s.type === "record" && (s as v.RecordSchema<any, v.GenericSchema, any>).value.type === "unknown" ? { type: "object", additionalProperties: true } : undefined),
  });
  return { ...json, type: "object" };
}

/** Parses a tool call's arguments, or throws a usage error that names each problem. */
export function parseArgs<S extends ArgsSchema>(tool: string, schema: S, input: unknown): v.InferOutput<S> {
  const r = v.safeParse(schema, input ?? {});
  if (r.success) return r.output;
  throw usage(`${tool}: ${describeIssues(r.issues)}`, `fix the arguments; tools/list shows what ${tool} takes`);
}
