/** Tools for shared files: versions, compare-and-swap, merges and leases. */
import { existsSync, statSync } from "node:fs";
import * as v from "valibot";
import { renderFiles, renderHistory } from "../../client/render";
import { readVerified, saveVerified } from "../../client/transfer";
import { missingFile } from "../../commands/_input";
import { usage } from "../../commands/_shared";
import { LIMIT } from "../../protocol/constants";
import { FileKey, LockRequest } from "../../protocol/schemas";
import { args, describe } from "../schema";
import { outputMode, outsideHome } from "./_paths";
import { defineTool } from "./_tool";

const Key = describe(FileKey, "The file's key: a relative path such as reports/q3.md");
const Version = (min: number, text: string) => describe(v.optional(v.pipe(v.number(), v.integer("must be a whole number"), v.minValue(min, `must be at least ${min}`))), text);
/** Text handed back inline; a bigger file goes to a path instead. */
const MAX_INLINE = 1024 * 1024;

export const fileList = defineTool({
  name: "file_list",
  description: "List the shared files: each key's latest version, size, who wrote it and when, and who holds a lease on it.",
  readOnly: true,
  args: args({ prefix: describe(v.optional(v.string()), "Only keys that start with this, e.g. reports/") }),
  async run(s, a) {
    const files = await s.ctx.client.files(a.prefix);
    return { data: { files }, text: renderFiles(files).trimEnd() };
  },
});

/** Text a model can read: valid UTF-8 without NUL bytes (which valid UTF-8 may hold, and no text file does). */
function asText(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

export const fileGet = defineTool({
  name: "file_get",
  description:
    'Read a shared file (the latest version, or version) with its version number: pass that number as if_version when you write your edit back with file_put. Text comes back as content with encoding "utf8"; a binary file as base64 in content with encoding "base64". Give output (a local path) to save it instead, for large files.',
  readOnly: true,
  args: args({
    key: Key,
    version: Version(1, "An older version to read (file_history lists them)"),
    output: describe(v.optional(v.pipe(v.string(), v.minLength(1))), "Save it to this local path instead (relative to the directory the MCP server runs in)"),
  }),
  async run(s, a) {
    const what = `"${a.key}"${a.version === undefined ? "" : ` version ${a.version}`}`;
    if (a.output && existsSync(a.output) && statSync(a.output).isDirectory()) throw usage(`output ${a.output} is a folder`, "name the file to write");
    if (a.output) outsideHome(a.output, s.ctx.home, "output");
    const res = await s.ctx.client.getFile(a.key, a.version);
    if (a.output) {
      const meta = await saveVerified(res, a.output, what, undefined, outputMode(a.output));
      return { data: { key: a.key, ...meta, output: a.output }, text: `wrote ${a.key} version ${meta.version} (${meta.size} bytes, sha256 verified) to ${a.output}` };
    }
    const { meta, bytes } = await readVerified(res, what);
    if (bytes.byteLength > MAX_INLINE) throw usage(`${what} is ${bytes.byteLength} bytes, too big to return inline`, "pass output: a local path to save it to");
    const about = `${a.key} version ${meta.version}, written by ${meta.author} at ${meta.created_at} (${meta.size} bytes)`;
    const text = asText(bytes);
    if (text === undefined) {
      const content = Buffer.from(bytes).toString("base64");
      return { data: { key: a.key, ...meta, encoding: "base64", content }, text: `${about}, binary, so content is base64; to write a new version, file_put with encoding "base64" and if_version ${meta.version}:\n${content}` };
    }
    return { data: { key: a.key, ...meta, encoding: "utf8", content: text }, text: `${about}; to write an edit back, file_put with if_version ${meta.version}:\n${text}` };
  },
});

export const filePut = defineTool({
  name: "file_put",
  description:
    'Store a shared file\'s next version, from content (text, or base64 with encoding "base64") or file (a local path). To co-edit safely, pass if_version: the version you read. If someone wrote since, nothing is written and you get an error, unless merge is true: then your text edit is merged with theirs line by line (overlapping edits are refused, showing the conflicting lines). if_version 0 writes only if the key is new.',
  args: args({
    key: Key,
    content: describe(v.optional(v.string()), "The file's new content, as text (or base64, with encoding \"base64\")"),
    encoding: describe(v.optional(v.picklist(["utf8", "base64"], 'encoding is "utf8" or "base64"'), "utf8"), 'How content is written: "utf8" (text, the default) or "base64" (bytes, as file_get returns a binary file)'),
    file: describe(v.optional(v.pipe(v.string(), v.minLength(1))), "Instead of content: a local file to upload (relative to the directory the MCP server runs in)"),
    if_version: Version(0, "Write only if the latest version is still this one (0: only if the key is new)"),
    merge: describe(v.optional(v.boolean(), false), "With if_version: merge your edit with the versions written since"),
  }),
  async run(s, a) {
    s.ctx.me();
    if ((a.content === undefined) === (a.file === undefined)) {
      throw usage("file_put: pass exactly one of content (text) and file (a local path)", a.file === undefined ? 'pass content (the text; "" stores an empty file) or file (a local path)' : "drop one of them");
    }
    if (a.merge && a.if_version === undefined) throw usage("file_put: merge needs if_version: the version your edit started from", "pass if_version N with merge, where N is the version file_get gave you");
    if (a.file !== undefined && (!existsSync(a.file) || !statSync(a.file).isFile())) throw missingFile(a.file);
    if (a.file !== undefined) outsideHome(a.file, s.ctx.home, "file");
    const body = a.file !== undefined ? Bun.file(a.file) : new Blob([a.encoding === "base64" ? decodeBase64(a.content!) : a.content!]);
    const w = await s.ctx.client.putFile(a.key, body, { ifVersion: a.if_version, merge: a.merge });
    const text = !w.created
      ? `${w.key} already holds this content as version ${w.version}; no new version`
      : w.merged
        ? `merged your edit (made on version ${a.if_version}) with the changes since: stored ${w.key} as version ${w.version}`
        : `stored ${w.key} as version ${w.version} (${w.size} bytes)`;
    return { data: w, text };
  },
});

/** Base64 as bytes; anything else is refused rather than stored as the garbage a lenient decoder makes of it. */
function decodeBase64(content: string): Uint8Array {
  const compact = content.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw usage('file_put: content is not base64, though encoding is "base64"', 'send the bytes as base64 (as file_get returns them), or text with encoding "utf8"');
  }
  return Buffer.from(compact, "base64");
}

export const fileHistory = defineTool({
  name: "file_history",
  description: "List the versions the relay keeps of a shared file, newest first: author, time, size and sha256. Read one with file_get's version.",
  readOnly: true,
  args: args({ key: Key }),
  async run(s, a) {
    const history = await s.ctx.client.fileHistory(a.key);
    return { data: history, text: renderHistory(history.versions).trimEnd() };
  },
});

export const fileLock = defineTool({
  name: "file_lock",
  description: "Take a lease on a key: for ttl_s seconds only you can write or delete it (others get an error). Call again to renew; file_unlock ends it early.",
  args: args({ key: Key, ttl_s: describe(v.optional(LockRequest.entries.ttl_s, 300), `Seconds the lease lasts (1-${LIMIT.lockTtlS})`) }),
  async run(s, a) {
    s.ctx.me();
    const lock = await s.ctx.client.lockFile(a.key, a.ttl_s);
    return { data: lock, text: `locked ${a.key} until ${lock.until}: only you can write it until then, or until file_unlock` };
  },
});

export const fileUnlock = defineTool({
  name: "file_unlock",
  description: "End your lease on a key so others can write it again. A key not locked is not an error: unlocked is false, with the reason.",
  args: args({ key: Key }),
  async run(s, a) {
    s.ctx.me();
    const r = await s.ctx.client.releaseFile(a.key);
    return { data: r, text: r.unlocked ? `unlocked ${r.key}` : `${a.key} was not locked: nothing to unlock (a lease also ends by itself when its ttl runs out)` };
  },
});
