/**
 * Shared files: numbered versions per key, compare-and-swap, three-way merge of text edits, and leases.
 * No I/O: versions and leases live in the Store and time comes from the clock.
 */
import { iso } from "./views";
import { ClawlinkError, notFound, shellArg } from "../errors";
import type { FileDeleted, FileHistory, FileInfo, FileLock, FileMessage, FileVersion, FileWritten } from "../protocol/schemas";
import { newSortableId, sha256Hex } from "./ids";
import type { UploadHold } from "./body";
import { Leases } from "./leases";
import { merge3, renderConflicts } from "./merge";
import type { FileHeadRecord, FileVersionRecord, Store } from "./store";

export interface FilesOptions {
  /** Versions kept per key; older ones are dropped. */
  maxVersions?: number;
  /** Bytes of every kept version together. Older versions give way to new ones; the latest never do. */
  maxTotalBytes?: number;
  /** Tells agents about a change: the relay queues it for every agent but `except`. */
  notify?: (msg: FileMessage, except: string | null) => void;
}

/** Who acts on a file: an agent's id and name. */
export interface Actor {
  id: string;
  name: string;
}

export interface PutOptions {
  /** Write only if the latest version is this one; 0 means only if the key holds no file. */
  ifVersion?: number;
  /** When the file moved on since `ifVersion`, merge the edits instead of refusing. */
  merge?: boolean;
  /** The room this upload held while it was read: it does not count against itself. */
  hold?: Upload;
}

/** Room an upload in progress holds against the shared files' budget, from before its body is read until it ends. */
export class Upload implements UploadHold {
  bytes = 0;
  constructor(
    private files: Files,
    readonly key: string,
  ) {}
  grow(size: number) {
    if (size <= this.bytes) return;
    this.files.checkSpace(this.key, size, this);
    this.files.reserved += size - this.bytes;
    this.bytes = size;
  }
  /** The upload ended, stored or not: its room goes back. */
  release() {
    this.files.reserved -= this.bytes;
    this.bytes = 0;
  }
}

/** Texts larger than this are not merged: a line diff of them would take too long. */
export const MAX_MERGE_BYTES = 16 * 1024 * 1024;


const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The bytes as text, or null for binary content (a NUL byte, or not UTF-8). */
export function decodeText(bytes: Uint8Array): string | null {
  if (bytes.includes(0)) return null;
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

export class Files {
  readonly maxVersions: number;
  readonly maxTotalBytes: number;
  /** Bytes held by uploads in progress. */
  reserved = 0;
  private leases: Leases;
  private notify: (msg: FileMessage, except: string | null) => void;

  constructor(
    private store: Store,
    private clock: () => number,
    opts: FilesOptions = {},
  ) {
    this.maxVersions = opts.maxVersions ?? 20;
    this.maxTotalBytes = opts.maxTotalBytes ?? Infinity;
    this.leases = new Leases(store, clock);
    this.notify = opts.notify ?? (() => {});
  }

  /** Stores `bytes` as the key's next version, unless they equal the latest one. */
  put(actor: Actor, key: string, bytes: Uint8Array, opts: PutOptions = {}): FileWritten {
    this.tick();
    this.leases.check(actor.id, key, "nothing was written");
    const head = this.store.getFileHead(key);
    const latest = this.latest(key);
    let sha256 = sha256Hex(bytes);
    // Already there (a retried put, or an edit someone else made too): nothing to do, whatever --if-version said.
    if (latest && latest.sha256 === sha256) return this.written(latest, false, false);
    let merged = false;
    if (opts.ifVersion !== undefined && opts.ifVersion !== (latest?.version ?? 0)) {
      if (!opts.merge || !latest) throw this.versionConflict(key, opts.ifVersion, head, latest);
      bytes = this.merge(key, opts.ifVersion, latest, bytes);
      sha256 = sha256Hex(bytes);
      merged = true;
      if (sha256 === latest.sha256) return this.written(latest, false, true);
    }
    this.checkSpace(key, bytes.byteLength, opts.hold);
    const version = (head?.version ?? 0) + 1;
    const record: FileVersionRecord = { key, version, bytes, sha256, author: actor.name, createdAt: this.clock() };
    this.store.putFileVersion(record);
    this.store.putFileHead({ key, version, deletedBy: null, deletedAt: null });
    if (version > this.maxVersions) this.store.deleteFileVersions(key, version - this.maxVersions);
    this.makeRoom();
    this.emit(actor, { key, version, action: "put", size: bytes.byteLength, sha256, merged });
    return this.written(record, true, merged);
  }

  /** The latest version, or version `version`. */
  get(key: string, version?: number): FileVersionRecord {
    const head = this.store.getFileHead(key);
    if (!head || head.deletedAt !== null) throw this.missing(key, head);
    const found = this.store.getFileVersion(key, version ?? head.version);
    if (found) return found;
    const oldest = this.store.listFileVersions(key)[0]?.version ?? head.version;
    throw notFound(
      "unknown_version",
      version! > head.version
        ? `"${key}" has no version ${version}; its latest is version ${head.version}`
        : `version ${version} of "${key}" is no longer kept: the relay keeps the last ${this.maxVersions} versions (now ${oldest}-${head.version})`,
      `run \`clawlink file-history --key ${shellArg(key)}\` to see the versions kept`,
    );
  }

  /** The versions kept, newest first. */
  history(key: string): FileHistory {
    const head = this.store.getFileHead(key);
    if (!head || head.deletedAt !== null) throw this.missing(key, head);
    return { key, versions: this.store.listFileVersions(key).reverse().map((f) => this.version(f)) };
  }

  list(prefix = ""): FileInfo[] {
    const now = this.clock();
    const out: FileInfo[] = [];
    for (const head of this.store.listFileHeads()) {
      if (!head.key.startsWith(prefix)) continue;
      const latest = this.latest(head.key);
      if (latest) out.push(this.describe(latest, now));
    }
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  /** Deletes every version; the key's numbering goes on from where it was if it is put again. */
  delete(actor: Actor, key: string): FileDeleted {
    this.tick();
    const head = this.store.getFileHead(key);
    if (!head || head.deletedAt !== null) throw this.missing(key, head);
    this.leases.check(actor.id, key, "nothing was deleted");
    this.store.putFileHead({ ...head, deletedBy: actor.name, deletedAt: this.clock() });
    this.store.deleteFileVersions(key);
    this.emit(actor, { key, version: head.version, action: "delete" });
    return { key, version: head.version, deleted: true };
  }

  /** Holds room for an upload of `size` bytes under `key` (0 when its size is not known yet) until it is released. */
  reserve(key: string, size: number): Upload {
    const upload = new Upload(this, key);
    upload.grow(size);
    return upload;
  }

  /**
   * Throws unless a new version of `size` bytes under `key` fits beside the latest versions of the
   * other keys and the uploads in progress (but `own`): 413 when the stored files leave no room,
   * 429 when uploads in progress hold it for now.
   */
  checkSpace(key: string, size: number, own?: Upload) {
    let pinned = 0;
    for (const head of this.store.listFileHeads()) {
      if (head.key !== key) pinned += this.latest(head.key)?.bytes.byteLength ?? 0;
    }
    if (pinned + size > this.maxTotalBytes) {
      throw new ClawlinkError(
        "storage_full",
        413,
        `storing ${size} bytes would take the shared files to ${pinned + size} bytes, over the relay's limit of ${this.maxTotalBytes} bytes`,
        "delete files that are no longer needed (`clawlink file-rm --key KEY`), or start the relay with a higher --max-total-file-bytes",
      );
    }
    const uploading = this.reserved - (own?.bytes ?? 0);
    if (pinned + uploading + size <= this.maxTotalBytes) return;
    throw new ClawlinkError(
      "storage_busy",
      429,
      `uploads in progress hold ${uploading} bytes: storing ${size} more beside the ${pinned} bytes kept would pass the shared files' limit of ${this.maxTotalBytes} bytes (--max-total-file-bytes)`,
      "retry when they have finished (Retry-After), or start the relay with a higher --max-total-file-bytes",
      { "Retry-After": "1" },
    );
  }

  /** Drops the oldest versions that are not the latest of their key until every kept version fits. */
  private makeRoom() {
    let total = 0;
    const older: FileVersionRecord[] = [];
    for (const head of this.store.listFileHeads()) {
      for (const f of this.store.listFileVersions(head.key)) {
        total += f.bytes.byteLength;
        if (f.version !== head.version) older.push(f);
      }
    }
    older.sort((a, b) => a.createdAt - b.createdAt || a.version - b.version);
    for (const f of older) {
      if (total <= this.maxTotalBytes) return;
      this.store.deleteFileVersions(f.key, f.version);
      total -= f.bytes.byteLength;
    }
  }

  /** Gives `actor` the sole right to write `key` for `ttlS` seconds (renewed if it already holds it). */
  lock(actor: Actor, key: string, ttlS: number): FileLock {
    this.tick();
    const lock = this.leases.view(this.leases.acquire(actor, key, ttlS));
    this.emit(actor, { key, version: this.latest(key)?.version ?? 0, action: "lock", until: lock.until });
    return lock;
  }

  unlock(actor: Actor, key: string): FileLock {
    this.tick();
    const lock = this.leases.view(this.leases.release(actor.id, key));
    this.emit(actor, { key, version: this.latest(key)?.version ?? 0, action: "unlock" });
    return lock;
  }

  /** The relay's operator ends a lease, whoever holds it (from the dashboard); every agent hears of it, the holder too. */
  release(key: string): FileLock {
    this.tick();
    const lock = this.leases.view(this.leases.release(null, key));
    this.emit(null, { key, version: this.latest(key)?.version ?? 0, action: "unlock" });
    return lock;
  }

  /** The latest version of one key and its lease, or undefined when the key holds no file. */
  info(key: string): FileInfo | undefined {
    const latest = this.latest(key);
    return latest && this.describe(latest, this.clock());
  }

  /** Ends leases whose time ran out and tells everyone, the holder too; the server calls it a few times a second. */
  tick(now = this.clock()) {
    for (const lock of this.leases.expire(now)) {
      this.emit(null, { key: lock.key, version: this.latest(lock.key)?.version ?? 0, action: "unlock", expired: true }, lock.holderName);
    }
  }

  /** Sends a change to every agent but the one that made it (from the relay itself when `actor` is null). */
  private emit(actor: Actor | null, change: Pick<FileMessage, "key" | "version" | "action"> & Partial<FileMessage>, by = actor?.name ?? "relay") {
    const msg: FileMessage = { type: "file", id: newSortableId("m"), from: actor?.id ?? "relay", to: null, created_at: iso(this.clock()), by, ...change };
    this.notify(msg, actor?.id ?? null);
  }

  private latest(key: string): FileVersionRecord | undefined {
    const head = this.store.getFileHead(key);
    if (!head || head.deletedAt !== null) return undefined;
    return this.store.getFileVersion(key, head.version);
  }

  /** Merges an edit made on version `base` with the latest version, or explains why it cannot. */
  private merge(key: string, base: number, latest: FileVersionRecord, incoming: Uint8Array): Uint8Array {
    const reread = `nothing was written; fetch version ${latest.version} (\`clawlink file-get --key ${shellArg(key)}\`), redo your edit on it and put again with --if-version ${latest.version}`;
    if (base > latest.version) {
      throw new ClawlinkError("version_conflict", 412, `"${key}" has no version ${base}; its latest is version ${latest.version}`, reread, { etag: `"${latest.version}"` });
    }
    const baseBytes = base === 0 ? new Uint8Array() : this.store.getFileVersion(key, base)?.bytes;
    if (!baseBytes) {
      throw new ClawlinkError("not_mergeable", 409, `version ${base} of "${key}" is no longer kept (the relay keeps the last ${this.maxVersions}), so it cannot be the base of a merge`, reread);
    }
    if (Math.max(baseBytes.byteLength, latest.bytes.byteLength, incoming.byteLength) > MAX_MERGE_BYTES) {
      throw new ClawlinkError("not_mergeable", 409, `"${key}" is too large to merge (over ${MAX_MERGE_BYTES} bytes)`, reread);
    }
    const o = decodeText(baseBytes);
    const a = decodeText(latest.bytes);
    const b = decodeText(incoming);
    if (o === null || a === null || b === null) {
      throw new ClawlinkError("not_mergeable", 409, `"${key}" is binary, and binary files are never merged`, reread);
    }
    const result = merge3(o, a, b);
    if (!result.clean) {
      const n = result.conflicts.length;
      const labels = { ours: `version ${latest.version} (${latest.author})`, base: `version ${base}`, theirs: "yours" };
      throw new ClawlinkError(
        "merge_conflict",
        409,
        `your edit of "${key}" (made on version ${base}) overlaps changes in version ${latest.version} by ${latest.author}: ${n} conflicting hunk${n === 1 ? "" : "s"}; nothing was written\n${renderConflicts(result.conflicts, labels)}`,
        `fetch version ${latest.version} (\`clawlink file-get --key ${shellArg(key)}\`), settle the lines above on it, and put again with --if-version ${latest.version}`,
      );
    }
    return new TextEncoder().encode(result.text);
  }

  private versionConflict(key: string, expected: number, head: FileHeadRecord | undefined, latest: FileVersionRecord | undefined): ClawlinkError {
    const k = shellArg(key);
    if (!latest) {
      const gone = head?.deletedAt != null ? `; it was deleted by ${head.deletedBy} at ${iso(head.deletedAt)}` : "";
      return new ClawlinkError("version_conflict", 412, `"${key}" does not exist${gone}, so it is not at version ${expected}`, "to create it, put with --if-version 0 (or without --if-version)");
    }
    const by = `written by ${latest.author} at ${iso(latest.createdAt)}`;
    if (expected === 0) {
      return new ClawlinkError("version_conflict", 412, `"${key}" already exists: version ${latest.version}, ${by}`, `to replace it, put with --if-version ${latest.version}; to keep both, use another key`, { etag: `"${latest.version}"` });
    }
    return new ClawlinkError(
      "version_conflict",
      412,
      `"${key}" is at version ${latest.version} (${by}), not version ${expected}; nothing was written`,
      `re-read it (\`clawlink file-get --key ${k}\`), redo your edit on version ${latest.version} and put with --if-version ${latest.version}; for text, add --merge to merge your edit with the changes since version ${expected}`,
      { etag: `"${latest.version}"` },
    );
  }

  private missing(key: string, head: FileHeadRecord | undefined): ClawlinkError {
    if (head?.deletedAt != null) {
      return notFound("unknown_file", `"${key}" was deleted by ${head.deletedBy} at ${iso(head.deletedAt)}`, `put it again to recreate it (as version ${head.version + 1})`);
    }
    return notFound("unknown_file", `no shared file has the key "${key}"`, "run `clawlink file-list` to see the keys");
  }

  version(f: FileVersionRecord): FileVersion {
    return { key: f.key, version: f.version, size: f.bytes.byteLength, sha256: f.sha256, author: f.author, created_at: iso(f.createdAt) };
  }

  private written(f: FileVersionRecord, created: boolean, merged: boolean): FileWritten {
    return { ...this.version(f), created, merged };
  }

  private describe(f: FileVersionRecord, now: number): FileInfo {
    const lock = this.leases.live(f.key, now);
    return { key: f.key, version: f.version, size: f.bytes.byteLength, sha256: f.sha256, updated_by: f.author, updated_at: iso(f.createdAt), lock: lock ? this.leases.view(lock) : null };
  }
}
