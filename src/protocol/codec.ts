/** Parsing helpers shared by relay and client: one way to validate and one way to report. */
import * as v from "valibot";
import { ClawlinkError } from "../errors";
import { built } from "./deferred";
import { compileCheck, NO, type Check } from "./fastcheck";

type Variant = v.GenericSchema & { type: "variant"; key: string; options: readonly v.GenericSchema[] };
const routes = new WeakMap<object, Map<unknown, v.GenericSchema>>();

/** Each discriminator value of a variant that names exactly one option, with that option. */
function routesOf(variant: Variant): Map<unknown, v.GenericSchema> {
  let byValue = routes.get(variant);
  if (byValue) return byValue;
  const found = new Map<unknown, v.GenericSchema | null>();
  for (const option of variant.options) {
    const tag = (option as { entries?: Record<string, { type: string; literal?: unknown }> }).entries?.[variant.key];
    if (tag?.type === "literal") found.set(tag.literal, found.has(tag.literal) ? null : option);
  }
  byValue = new Map([...found].filter((e): e is [unknown, v.GenericSchema] => e[1] !== null));
  routes.set(variant, byValue);
  return byValue;
}

/**
 * v.safeParse, except that a variant goes straight to the option its discriminator names: v.variant
 * tries its options in order and builds an issue, message and all, for each one that does not match,
 * which costs more than the parse itself on the relay's hot paths. Input it cannot route goes through
 * the variant, so errors read the same. A schema parsed often is also compiled (fastcheck.ts): input it
 * accepts skips valibot's datasets, and what it refuses is parsed by valibot for the same issues.
 */
export function safeParse<S extends v.GenericSchema>(given: S, input: unknown): v.SafeParseResult<S> {
  let schema = builtOf(given);
  if ((schema as { type: string }).type === "variant" && input !== null && typeof input === "object") {
    schema = routesOf(schema as unknown as Variant).get((input as Record<string, unknown>)[(schema as unknown as Variant).key]) ?? schema;
  }
  const check = checkOf(schema);
  if (check) {
    const output = check(input);
    if (output !== NO) return { typed: true, success: true, output, issues: undefined } as v.SafeParseResult<S>;
  }
  return v.safeParse(schema, input) as v.SafeParseResult<S>;
}

/** The schema behind a deferred one, found without the proxy's trap (which a hot path pays on every read). */
const builts = new WeakMap<object, v.GenericSchema>();
function builtOf(given: v.GenericSchema): v.GenericSchema {
  let schema = builts.get(given);
  if (schema === undefined) builts.set(given, (schema = built(given)));
  return schema;
}

/** A schema parsed this many times gets a compiled check (fastcheck.ts); a one-shot command parses too few to pay for compiling. */
const COMPILE_AFTER = 8;
const checks = new WeakMap<object, Check | null | number>();

function checkOf(schema: v.GenericSchema): Check | null {
  const known = checks.get(schema);
  if (typeof known === "function" || known === null) return known;
  const uses = (known ?? 0) + 1;
  checks.set(schema, uses < COMPILE_AFTER ? uses : compileCheck(schema));
  return null;
}

/** Parses `input` with `schema`, or throws a 400 naming every problem (with `hint`, when the caller knows the next step). */
export function parseWith<S extends v.GenericSchema>(schema: S, input: unknown, what: string, hint = "see docs/protocol.md for the fields"): v.InferOutput<S> {
  const result = safeParse(schema, input);
  if (result.success) return result.output;
  throw new ClawlinkError("bad_request", `invalid ${what}: ${describeIssues(result.issues)}`, hint);
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
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ClawlinkError("bad_request", `${what} is not valid JSON: ${(err as Error).message}`, "send a JSON object");
  }
  if (holdsLoneSurrogate(text, value)) throw loneSurrogate(what);
  return value;
}

/**
 * Whether a parsed JSON value holds a string (or key) that is not valid Unicode: half of a surrogate
 * pair (`"\ud800"`) without the other. UTF-8 cannot carry one, so it can only come as a `\u` escape,
 * and a text without any is not walked. No store can keep such a string for every reader (Redis's
 * JSON refuses it), so it is refused where it comes in.
 */
export function holdsLoneSurrogate(text: string, value: unknown): boolean {
  return text.includes("\\u") && !wellFormed(value);
}

/** Walked with a list, not recursion: a body may nest far deeper than the schemas later allow. */
function wellFormed(value: unknown): boolean {
  const left = [value];
  while (left.length > 0) {
    const v = left.pop();
    if (typeof v === "string") {
      if (!v.isWellFormed()) return false;
    } else if (Array.isArray(v)) {
      for (const item of v) left.push(item);
    } else if (typeof v === "object" && v !== null) {
      for (const key in v) {
        if (!key.isWellFormed()) return false;
        left.push((v as Record<string, unknown>)[key]);
      }
    }
  }
  return true;
}

export const loneSurrogate = (what: string) =>
  new ClawlinkError(
    "bad_request",
    `${what} holds a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape without its pair), which is not valid Unicode`,
    "send text as UTF-8, or escape a character outside the Basic Multilingual Plane as both halves of its pair (\\ud83d\\ude00)",
  );

/** Where a message keeps its JSON: a hidden own property, which neither JSON nor a spread copies. */
const TEXT = Symbol("json");
/** For a message frozen before its JSON was made (records are frozen under tests). */
const texts = new WeakMap<object, string>();

/**
 * A message's JSON, made once: the relay weighs a message by it when queueing it, and sends the same
 * text. It is kept on the message itself, a property read instead of a WeakMap lookup each way.
 */
export function messageJson(msg: object): string {
  const kept = (msg as { [TEXT]?: string })[TEXT];
  if (kept !== undefined) return kept;
  let text = texts.get(msg);
  if (text !== undefined) return text;
  text = JSON.stringify(msg);
  if (Object.isExtensible(msg)) Object.defineProperty(msg, TEXT, { value: text });
  else texts.set(msg, text);
  return text;
}
