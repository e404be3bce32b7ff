/** Field builders the schema files share; internal, so schemas.ts does not export them. */
import * as v from "valibot";
import { LIMIT } from "../constants";

export const Text = (max: number, what: string) =>
  v.pipe(v.string(), v.maxLength(max, `${what} is longer than ${max} characters`));
export const Seconds = (what: string, max: number) =>
  v.pipe(
    v.number(),
    v.integer(`${what} must be a whole number of seconds`),
    v.minValue(1, `${what} must be at least 1 second`),
    v.maxValue(max, `${what} must be at most ${max} seconds`),
  );

/** Counted before any id is looked at, and checked in one pass: an ack frame is cheap to refuse and to read. */
const AckIds = (what: string) =>
  v.pipe(
    v.array(v.unknown()),
    v.maxLength(LIMIT.ackIds, `an ack names at most ${LIMIT.ackIds} ${what}; send the rest in another ack`),
    v.check((ids) => ids.every((id) => typeof id === "string" && id.length >= 1 && id.length <= 64), `${what} are strings of 1 to 64 characters`),
    v.transform((ids) => ids as string[]),
  );
export const ackFields = () => ({
  ids: v.optional(AckIds("message ids"), []),
  /** Also settle every message about these tasks (what `delegate --wait` already showed). */
  tasks: v.optional(AckIds("task ids"), []),
});
