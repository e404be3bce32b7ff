
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lowercase
const pool = new Uint8Array(4096);
let offset = pool.length;

/** A short random id such as `t_4k9m2x7qp3ja`: 60 bits, readable, safe in URLs and shells. */
export function newId(prefix: string, length = 12): string {
  if (offset + length > pool.length) {
    crypto.getRandomValues(pool);
    offset = 0;
  }
  let id = prefix + "_";
  for (let i = 0; i < length; i++) id += ALPHABET[pool[offset++]! & 31];
  return id;
}

let lastMs = 0;
let lastTail = 0;
// The time part only changes once a millisecond; the relay makes many ids within one.
let timeMs = -1;
const CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));
const time: number[] = new Array(9).fill(CODES[0]);

/**
 * A time-ordered id such as `t_01jd5k8m2x4q7f`: 9 characters of milliseconds, then 5 of a counter
 * that starts at random each millisecond. Ids sort by creation and never repeat within a relay,
 * and a durable store inserts them at the end of its index instead of all over it. Made in one
 * piece (not character by character), so hashing and serializing it copy nothing more.
 */
export function newSortableId(prefix: string): string {
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    lastTail = (Math.random() * 0x100000) | 0; // leaves room to count up within the millisecond
  } else if (++lastTail >= 0x2000000) {
    lastMs++;
    lastTail = 0;
  }
  if (timeMs !== lastMs) {
    timeMs = lastMs;
    for (let t = lastMs, i = 8; i >= 0; i--, t = Math.floor(t / 32)) time[i] = CODES[t % 32]!;
  }
  const n = lastTail;
  // A one-letter prefix goes in the same call: a concatenation would make a rope, flattened again when the id is hashed.
  if (prefix.length === 1) {
    return String.fromCharCode(prefix.charCodeAt(0), 95, time[0]!, time[1]!, time[2]!, time[3]!, time[4]!, time[5]!, time[6]!, time[7]!, time[8]!, CODES[(n >>> 20) & 31]!, CODES[(n >>> 15) & 31]!, CODES[(n >>> 10) & 31]!, CODES[(n >>> 5) & 31]!, CODES[n & 31]!);
  }
  return (
    prefix +
    String.fromCharCode(95, time[0]!, time[1]!, time[2]!, time[3]!, time[4]!, time[5]!, time[6]!, time[7]!, time[8]!, CODES[(n >>> 20) & 31]!, CODES[(n >>> 15) & 31]!, CODES[(n >>> 10) & 31]!, CODES[(n >>> 5) & 31]!, CODES[n & 31]!)
  );
}

/** When a sortable id was made (ms since the epoch, by the wall clock), or undefined for any other string. */
export function idTime(id: string): number | undefined {
  const m = /^[a-z]+_([0-9a-hjkmnp-tv-z]{9})[0-9a-hjkmnp-tv-z]{5}$/.exec(id);
  if (!m) return undefined;
  let t = 0;
  for (const c of m[1]!) t = t * 32 + ALPHABET.indexOf(c);
  return t;
}

export function sha256Hex(data: string | Uint8Array): string {
  return Bun.SHA256.hash(data, "hex") as string;
}

/** Compares two strings in time that depends only on their lengths (hashes and tokens, not user text). */
export function safeEqual(a: string, b: string): boolean {
  // Equal lengths (a secret or hash checked against its own kind) need no wrapping index.
  if (a.length === b.length) {
    let same = 0;
    for (let i = 0; i < a.length; i++) same |= a.charCodeAt(i) ^ b.charCodeAt(i);
    return same === 0;
  }
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i % (a.length || 1)) ^ b.charCodeAt(i % (b.length || 1))) | 0;
  return diff === 0;
}
