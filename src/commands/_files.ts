/** Flags and parsing that the file-* commands share. */
import * as v from "valibot";
import { FileKey } from "../protocol/schemas";
import { parseArg } from "./_shared";

export const keyArg = {
  type: "string",
  description: "The file's key: a relative path such as reports/q3.md (no '..', no leading '/', no backslashes)",
  required: true,
  valueHint: "key",
} as const;

export const parseKey = (value: unknown, flag = "--key") => parseArg(FileKey, value, flag);

/** A version number from a flag: whole, and at least `min`. */
export const parseVersion = (value: unknown, flag: string, min: number) =>
  parseArg(v.pipe(v.string(), v.toNumber("must be a number"), v.integer("must be a whole number"), v.minValue(min, `must be at least ${min}`)), value, flag);
