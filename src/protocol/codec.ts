/** Parsing helpers shared by relay and client: one way to validate and one way to report. */
import * as v from "valibot";
import { ClawlinkError } from "../errors";

/** Parses `input` with `schema`, or throws a 400 naming every problem. */
export function parseWith<S extends v.GenericSchema>(schema: S, input: unknown, what: string): v.InferOutput<S> {
  const result = v.safeParse(schema, input);
  if (result.success) return result.output;
  throw new ClawlinkError("bad_request", 400, `invalid ${what}: ${describeIssues(result.issues)}`, "see docs/protocol.md for the fields");
}

/** `field: problem; other.field: problem`, in one line. */
export function describeIssues(issues: v.BaseIssue<unknown>[]): string {
  return issues
    .slice(0, 5)
    .map((i) => {
      const path = v.getDotPath(i);
      return path ? `${path}: ${i.message}` : i.message;
    })
    .join("; ");
}

/** JSON.parse that reports malformed text as a 400 instead of throwing a SyntaxError. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ClawlinkError("bad_request", 400, `${what} is not valid JSON: ${(err as Error).message}`, "send a JSON object");
  }
}
