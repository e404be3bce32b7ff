import { timingSafeEqual } from "node:crypto";

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

/** A per-agent secret: `<agent id>.<43 chars of base64url>`, so one bearer value names its agent. */
export function newSecret(agentId: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `${agentId}.${Buffer.from(bytes).toString("base64url")}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}

/** Compares two strings in time that depends only on their lengths. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}
