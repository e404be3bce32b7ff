/**
 * Agent secrets are derived from the relay key: `<id>.` + base64url(HMAC-SHA256(key, id)). A relay
 * that kept its key (`--key-file`, or `--data`) can verify a secret it never stored, so an agent it
 * forgot comes back under its id, and nobody without that secret can claim the id.
 */
import { createHmac } from "node:crypto";
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { ClawlinkError } from "../errors";
import { safeEqual } from "./ids";

export const KEY_BYTES = 32;

/** The agent id a secret names: what comes before its first dot, or "" (a token, or nothing shaped like a secret). */
export const secretId = (secret: string) => secret.slice(0, Math.max(0, secret.indexOf(".")));

export function agentSecret(key: Uint8Array, agentId: string): string {
  return `${agentId}.${createHmac("sha256", key).update(agentId).digest("base64url")}`;
}

/**
 * A name claim, `<ms>.<base64url(HMAC-SHA256(key, "name" NUL id NUL name NUL ms))>`: proof that the relay
 * gave `name` to agent `id` at `ms`. A relay that restarted in memory has no record of who held which
 * name; the claim lets an identity that held one before the restart take it back from whoever got it since.
 */
export function nameClaim(key: Uint8Array, agentId: string, name: string, at: number): string {
  return `${at}.${createHmac("sha256", key).update(`name\0${agentId}\0${name}\0${at}`).digest("base64url")}`;
}

/** When the relay gave `name` to `agentId`, if `claim` is a claim this key made for exactly them; else undefined. */
export function claimedAt(key: Uint8Array, agentId: string, name: string, claim: string): number | undefined {
  const m = /^(\d{1,15})\.[A-Za-z0-9_-]{43}$/.exec(claim);
  if (!m) return undefined;
  const at = Number(m[1]);
  return safeEqual(claim, nameClaim(key, agentId, name, at)) ? at : undefined;
}

export function randomKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_BYTES));
}

const keyFileError = (message: string, hint: string) => new ClawlinkError("usage", message, hint);

/**
 * Reads the relay key from `path`, creating it (32 random bytes, mode 0600) when it does not exist.
 * Its bytes are the key as they are: copy the file, do not retype it.
 */
export function loadKeyFile(path: string): { key: Uint8Array; created: boolean } {
  if (path === "") throw keyFileError("--key-file needs a path", "pass --key-file PATH; the relay creates the file if it does not exist");
  let created = false;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const fd = openSync(path, "wx", 0o600);
    try {
      writeSync(fd, randomKey());
    } finally {
      closeSync(fd);
    }
    chmodSync(path, 0o600);
    created = true;
  } catch (err) {
    if ((err as { code?: string }).code !== "EEXIST") {
      throw keyFileError(`cannot create the key file ${path}: ${(err as Error).message}`, "pass a --key-file path in a folder this user can write");
    }
  }
  let key: Uint8Array;
  try {
    key = new Uint8Array(readFileSync(path));
  } catch (err) {
    throw keyFileError(`cannot read the key file ${path}: ${(err as Error).message}`, "pass a --key-file this user can read, or a new path to let the relay create one");
  }
  const make = `\`openssl rand -hex 32 > ${path} && chmod 600 ${path}\``;
  if (key.byteLength < KEY_BYTES) {
    throw keyFileError(
      `the key file ${path} holds ${key.byteLength} bytes; a relay key needs at least ${KEY_BYTES} random bytes`,
      `point --key-file at a new path and the relay creates one, or write one with ${make}`,
    );
  }
  const weak = weakness(key);
  if (weak) {
    throw keyFileError(
      `the key file ${path} is not random enough for a relay key: ${weak}; whoever guesses it can make any agent's secret`,
      `write a random one with ${make} (agents registered under the old key then register afresh), or point --key-file at a new path and the relay creates one`,
    );
  }
  if (process.platform !== "win32" && (statSync(path).mode & 0o077) !== 0) {
    const mode = (statSync(path).mode & 0o777).toString(8);
    throw keyFileError(
      `the key file ${path} can be read or changed by other users (mode ${mode}); whoever reads it can make any agent's secret`,
      `run \`chmod 600 ${path}\` and start the relay again`,
    );
  }
  return { key, created };
}

/** Bits of entropy below which a key file is refused; 32 random bytes estimate well above it. */
const MIN_ESTIMATED_BITS = 128;

/**
 * Why these bytes cannot be a random key, or undefined: a short repeated pattern or a run (`aaaa…`,
 * `abab…`, `0123…`), or too few distinct bytes to hold 128 bits (text typed by hand, mostly).
 */
export function weakness(key: Uint8Array): string | undefined {
  const bytes = key.subarray(0, 4096);
  const steps = bytes.subarray(1).map((b, i) => (b - bytes[i]!) & 0xff);
  if (periodic(bytes) || periodic(steps)) return "it repeats a short pattern";
  const counts = new Map<number, number>();
  for (const b of bytes) counts.set(b, (counts.get(b) ?? 0) + 1);
  let perByte = 0;
  for (const n of counts.values()) perByte -= (n / bytes.length) * Math.log2(n / bytes.length);
  const bits = Math.floor(perByte * bytes.length);
  return bits < MIN_ESTIMATED_BITS ? `its bytes hold about ${bits} bits of entropy, under ${MIN_ESTIMATED_BITS}` : undefined;
}

/** Whether `b` is a unit of at most an eighth of its length, repeated (ignoring a trailing newline). */
function periodic(b: Uint8Array): boolean {
  const n = b.length > 0 && b[b.length - 1] === 0x0a ? b.length - 1 : b.length;
  for (let p = 1; p <= n / 8; p++) {
    let i = p;
    while (i < n && b[i] === b[i - p]) i++;
    if (i >= n) return true;
  }
  return false;
}
