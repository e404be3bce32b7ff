/**
 * A gzipped ustar archive, as npm packs a package: every file under `package/`. Written here rather than
 * by `npm pack` so the gzip level can be chosen (the tests pack fast) and the bytes are the same on every
 * build: fixed owner, modes and time.
 */
export interface Entry {
  path: string;
  data: Uint8Array;
  mode: number;
}

// npm's own fixed mtime for packed files.
const MTIME = Date.UTC(1985, 9, 26, 8, 15) / 1000;
const enc = new TextEncoder();

function header(e: Entry): Uint8Array {
  const h = new Uint8Array(512);
  const put = (offset: number, length: number, text: string) => h.set(enc.encode(text).subarray(0, length), offset);
  const octal = (n: number, length: number) => n.toString(8).padStart(length - 1, "0") + "\0";
  if (enc.encode(e.path).byteLength > 100) throw new Error(`tar: path too long: ${e.path}`);
  put(0, 100, e.path);
  put(100, 8, octal(e.mode, 8));
  put(108, 8, octal(0, 8));
  put(116, 8, octal(0, 8));
  put(124, 12, octal(e.data.byteLength, 12));
  put(136, 12, octal(MTIME, 12));
  put(148, 8, "        ");
  put(156, 1, "0");
  put(257, 8, "ustar\u000000");
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

export function tarGz(entries: Entry[], level: 1 | 6): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    parts.push(header(e), e.data);
    const pad = (512 - (e.data.byteLength % 512)) % 512;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(1024));
  return Bun.gzipSync(Buffer.concat(parts), { level });
}
