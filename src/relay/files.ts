/** Shared files: a key → bytes shelf with who wrote what and when. No I/O. */
import { notFound } from "../errors";
import type { FileInfo } from "../protocol/schemas";
import { sha256Hex } from "./ids";
import type { FileRecord, Store } from "./store";

const iso = (ms: number) => new Date(ms).toISOString();

export class Files {
  constructor(
    private store: Store,
    private clock: () => number,
  ) {}

  put(key: string, bytes: Uint8Array, by: string): FileInfo {
    const record: FileRecord = { key, bytes, sha256: sha256Hex(bytes), updatedBy: by, updatedAt: this.clock() };
    this.store.putFile(record);
    return this.info(record);
  }

  get(key: string): FileRecord {
    const file = this.store.getFile(key);
    if (!file) throw notFound("unknown_file", `no shared file has the key "${key}"`, "run `clawlink file-list` to see the keys");
    return file;
  }

  list(prefix = ""): FileInfo[] {
    const out: FileInfo[] = [];
    for (const f of this.store.listFiles()) if (f.key.startsWith(prefix)) out.push(this.info(f));
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  delete(key: string) {
    if (!this.store.deleteFile(key)) throw notFound("unknown_file", `no shared file has the key "${key}"`, "run `clawlink file-list` to see the keys");
  }

  info(f: FileRecord): FileInfo {
    return { key: f.key, size: f.bytes.byteLength, sha256: f.sha256, updated_by: f.updatedBy, updated_at: iso(f.updatedAt) };
  }
}
