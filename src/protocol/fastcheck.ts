/**
 * A valibot schema compiled to one plain function that answers for input the schema accepts: the same
 * output, built the same way (entries in the schema's order, defaults filled in), or NO when any part
 * fails. Only input that passes takes this path; a refusal is parsed again by valibot, so errors read
 * the same. Valibot builds a dataset for every field it visits, which on a batch of 100 messages in one
 * frame cost more than reading the frame. A schema that uses anything not listed here is not compiled.
 */
import type * as v from "valibot";

/** What a compiled check returns for input the schema refuses. */
export const NO: unique symbol = Symbol("refused");
export type Check = (input: unknown) => unknown;

interface Node {
  kind: string;
  type: string;
  async?: boolean;
  pipe?: readonly Node[];
  requirement?: unknown;
  literal?: unknown;
  options?: readonly unknown[];
  wrapped?: Node;
  default?: unknown;
  fallback?: unknown;
  entries?: Record<string, Node>;
  item?: Node;
  key?: Node;
  value?: Node;
  check?: (value: unknown) => boolean;
  operation?: (value: unknown) => unknown;
}

/** Validations by type: each tests a value the step before it accepted. */
const ACTIONS: Record<string, (req: never) => (value: never) => boolean> = {
  min_length: (req: number) => (value: { length: number }) => value.length >= req,
  max_length: (req: number) => (value: { length: number }) => value.length <= req,
  min_value: (req: number) => (value: number) => value >= req,
  max_value: (req: number) => (value: number) => value <= req,
  regex: (req: RegExp) => (value: string) => req.test(value),
  integer: (req: (x: unknown) => boolean) => req,
  finite: (req: (x: unknown) => boolean) => req,
  check: (req: (x: unknown) => boolean) => req,
};

function compileAction(action: Node): Check | null {
  const make = ACTIONS[action.type];
  if (!make) return null;
  const test = make(action.requirement as never) as (x: unknown) => boolean;
  return (value) => (test(value) ? value : NO);
}

function compileTransform(item: Node): Check {
  const operation = item.operation!;
  return (value) => operation(value);
}

function compilePipe(pipe: readonly Node[]): Check | null {
  const steps: Check[] = [];
  for (let i = 0; i < pipe.length; i++) {
    const item = pipe[i]!;
    if (item.kind === "metadata") continue;
    // The first item is the schema the pipe extends (itself perhaps a pipe); a `v.transform` runs its own operation, as valibot would.
    const step =
      i === 0 || item.kind === "schema" ? compile(item)
      : item.kind === "validation" ? compileAction(item)
      : item.kind === "transformation" && item.type === "transform" ? compileTransform(item)
      : null;
    if (!step) return null;
    steps.push(step);
  }
  if (steps.length === 1) return steps[0]!;
  if (steps.length === 2) {
    const [first, second] = steps as [Check, Check];
    return (input) => {
      const value = first(input);
      return value === NO ? NO : second(value);
    };
  }
  return (input) => {
    let value = input;
    for (let i = 0; i < steps.length; i++) if ((value = steps[i]!(value)) === NO) return NO;
    return value;
  };
}

function compileObject(entries: Record<string, Node>): Check | null {
  const keys: string[] = [];
  const checks: Check[] = [];
  /** Filled in when the key is missing: an optional entry with a default. */
  const filled: boolean[] = [];
  /** May be missing. */
  const optional: boolean[] = [];
  for (const key in entries) {
    const entry = entries[key]!;
    const check = compile(entry);
    if (!check || entry.fallback !== undefined) return null;
    keys.push(key);
    checks.push(check);
    optional.push(entry.type === "optional");
    filled.push(entry.type === "optional" && entry.default !== undefined);
  }
  return (input) => {
    if (!input || typeof input !== "object") return NO;
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const given = (input as Record<string, unknown>)[key];
      // Read first: `in` is asked only of a key whose value reads undefined (never one of parsed JSON).
      if (given !== undefined || key in input) {
        const value = checks[i]!(given);
        if (value === NO) return NO;
        out[key] = value;
      } else if (filled[i]) {
        // The optional entry's check fills in its default for undefined.
        const value = checks[i]!(undefined);
        if (value === NO) return NO;
        out[key] = value;
      } else if (!optional[i]) return NO;
    }
    return out;
  };
}

function compileBase(s: Node): Check | null {
  switch (s.type) {
    case "string":
      return (x) => (typeof x === "string" ? x : NO);
    case "number":
      return (x) => (typeof x === "number" && !Number.isNaN(x) ? x : NO);
    case "boolean":
      return (x) => (typeof x === "boolean" ? x : NO);
    case "unknown":
      return (x) => x;
    case "custom": {
      const test = s.check!;
      return (x) => (test(x) ? x : NO);
    }
    case "record":
      return compileRecord(s.key!, s.value!);
    case "literal": {
      const lit = s.literal;
      return (x) => (x === lit || (x !== x && lit !== lit) ? x : NO);
    }
    case "picklist": {
      const options = s.options!;
      return (x) => (options.includes(x) ? x : NO);
    }
    case "optional": {
      const wrapped = compile(s.wrapped!);
      const fill = s.default;
      // A default made by a function is called with valibot's dataset: left to valibot.
      if (!wrapped || typeof fill === "function") return null;
      return (x) => (x === undefined ? (fill === undefined ? undefined : wrapped(fill)) : wrapped(x));
    }
    case "object":
      return compileObject(s.entries!);
    case "array": {
      const item = compile(s.item!);
      if (!item) return null;
      return (x) => {
        if (!Array.isArray(x)) return NO;
        const out: unknown[] = [];
        for (let i = 0; i < x.length; i++) {
          const value = item(x[i]);
          if (value === NO) return NO;
          out.push(value);
        }
        return out;
      };
    }
    case "union": {
      const options: Check[] = [];
      for (const option of s.options as Node[]) {
        const check = compile(option);
        if (!check) return null;
        options.push(check);
      }
      // The first option that accepts the input gives the output, as in valibot's union.
      return (x) => {
        for (const option of options) {
          const value = option(x);
          if (value !== NO) return value;
        }
        return NO;
      };
    }
    default:
      return null;
  }
}

/** Keys a record leaves out of its output, as valibot's does (_isValidObjectKey). */
const SKIPPED = new Set(["__proto__", "prototype", "constructor"]);

/** A record is copied key by key, own keys only, in the input's order; a key refused or a value refused refuses it. */
function compileRecord(keyNode: Node, valueNode: Node): Check | null {
  const key = compile(keyNode);
  const value = compile(valueNode);
  if (!key || !value) return null;
  return (input) => {
    if (!input || typeof input !== "object") return NO;
    const out: Record<string, unknown> = {};
    for (const k in input) {
      if (!Object.prototype.hasOwnProperty.call(input, k) || SKIPPED.has(k)) continue;
      const kk = key(k);
      if (kk === NO) return NO;
      const vv = value((input as Record<string, unknown>)[k]);
      if (vv === NO) return NO;
      out[kk as string] = vv;
    }
    return out;
  };
}

function compile(s: Node): Check | null {
  if (s.async || s.kind !== "schema") return null;
  return s.pipe ? compilePipe(s.pipe) : compileBase(s);
}

/** The compiled check for `schema`, or null when it uses something this file does not compile. */
export function compileCheck(schema: v.GenericSchema): Check | null {
  return compile(schema as unknown as Node);
}
