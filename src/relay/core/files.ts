/**
 * Shared files: numbered versions per key, compare-and-swap, three-way merge of text edits, and
 * leases. A write reads the latest version, merges if asked, and stores the next version only if
 * the latest is still the one it read (one store operation); if another write came first, it starts over.
 * Merging an edit with what others wrote since is `_files-merge.ts`.
 */
import { ClawlinkError, notFound, shellArg } from "../../errors";
import type { FileDeleted, FileHistory, FileInfo, FileLock, FileMessage, FileVersion, FileWritten } from "../../protocol/schemas";
import type { Bus } from "../bus/port";
import { iso, type Clock } from "../clock";
import { newSortableId, sha256Hex } from "../ids";
import { mergeEdit } from "./_files-merge";
import { unlessStoreUnavailable, type FileHeadRecord, type FileLockRecord, type FileVersionMeta, type FileVersionRecord, type Room, type Store } from "../store/port";
import { RELAY } from "../store/rules";
import { announce } from "./announce";

export interface FilesOptions {
  /** Versions kept per key; older ones are dropped. */
  maxVersions: number;
  /** Bytes of every kept version together. Older versions give way to new ones; the latest never do. */
  maxTotalBytes: number;
  /** Bounds on queueing a change for each agent (a full queue misses it). */
  room: Room;
}

/** Who acts on a file: an agent's id and name. */
export interface Actor {
  readonly id: string;
  readonly name: string;
}

export interface PutOptions {
  /** Write only if the latest version is this one; 0 means only if the key holds no file. */
  ifVersion?: number;
  /** When the file moved on since `ifVersion`, merge the edits instead of refusing. */
  merge?: boolean;
  /** The room this upload held while it was read: it does not count against itself. */
  hold?: Upload;
}

/**
 * Room an upload in progress holds against the shared files' budget, from before its body is read
 * until it ends. Held by this relay process only: it bounds the memory uploads take here.
 */
export class Upload {
  bytes = 0;
  constructor(
    private files: Files,
    readonly key: string,
    /** What the other keys' latest versions took when the upload began. */
    private pinned: number,
  ) {}
  /** Throws (413 or 429) when `size` bytes do not fit. */
  grow(size: number) {
    if (size <= this.bytes) return;
    this.files.checkRoom(size, this.pinned, this);
    this.files.reserved += size - this.bytes;
    this.bytes = size;
  }
  /** The upload ended, stored or not: its room goes back. */
  release() {
    this.files.reserved -= this.bytes;
    this.bytes = 0;
  }
}


/** Times a write starts over because another write to the same key came first. */
const RETRIES = 8;

export const versionView = (f: FileVersionMeta): FileVersion => ({ key: f.key, version: f.version, size: f.size, sha256: f.sha256, author: f.author, created_at: iso(f.createdAt) });
const written = (f: FileVersionMeta, created: boolean, merged: boolean): FileWritten => ({ ...versionView(f), created, merged });
const lockView = (lock: FileLockRecord): FileLock => ({ key: lock.key, holder: lock.holderName, holder_id: lock.holderId, since: iso(lock.since), until: iso(lock.until) });

export class Files {
  /** Bytes held by uploads in progress. */
  reserved = 0;

  constructor(
    private store: Store,
    private bus: Bus,
    private clock: Clock,
    readonly opts: FilesOptions,
  ) {}

  /** Stores `bytes` as the key's next version, unless they equal the latest one. */
  async put(actor: Actor, key: string, bytes: Uint8Array, opts: PutOptions = {}): Promise<FileWritten> {
    const sha256 = sha256Hex(bytes);
    for (let attempt = 0; ; attempt++) {
      const now = this.clock();
      const lock = await this.store.getLease(key, now);
      if (lock && lock.holderId !== actor.id) throw locked(lock, now, "nothing was written");
      const head = await this.store.getFileHead(key);
      const latest = await this.latest(head);
      // Already there (a retried put, or an edit someone else made too): nothing to do, whatever --if-version said.
      if (latest && latest.sha256 === sha256) return written(latest, false, false);
      let body = bytes;
      let hash = sha256;
      let merged = false;
      if (opts.ifVersion !== undefined && opts.ifVersion !== (latest?.version ?? 0)) {
        if (!opts.merge || !latest) throw versionConflict(key, opts.ifVersion, head, latest);
        body = await mergeEdit(this.store, key, opts.ifVersion, latest, bytes, this.opts.maxVersions);
        hash = sha256Hex(body);
        merged = true;
        if (hash === latest.sha256) return written(latest, false, true);
      }
      this.checkRoom(body.byteLength, await this.store.pinnedBytes(key), opts.hold);
      const r = await this.store.putFileVersionIf(key, latest?.version ?? 0, { bytes: body, sha256: hash, author: actor.name, authorId: actor.id, createdAt: now }, this.opts);
      if (r.ok) {
        await this.emit(actor, { key, version: r.version.version, action: "put", size: r.version.size, sha256: hash, merged });
        return written(r.version, true, merged);
      }
      switch (r.refused) {
        case "version":
          // Another write came between the read and this one: go again against it.
          if (attempt < RETRIES) continue;
          throw versionConflict(key, latest?.version ?? 0, r.head ?? undefined, r.latest ?? undefined);
        case "locked":
          throw locked(r.lock, now, "nothing was written");
        case "storage_full":
          throw storageFull(body.byteLength, r.pinned, this.opts.maxTotalBytes);
      }
    }
  }

  /** Holds room for an upload of `size` bytes under `key` (0 when its size is not known yet) until it is released. */
  async reserve(key: string, size: number): Promise<Upload> {
    const upload = new Upload(this, key, await this.store.pinnedBytes(key));
    upload.grow(size);
    return upload;
  }

  /**
   * Throws unless a new version of `size` bytes fits beside `pinned` bytes of the other keys and the
   * uploads in progress (but `own`): 413 when the stored files leave no room, 429 when uploads in progress hold it for now.
   */
  checkRoom(size: number, pinned: number, own?: Upload) {
    const max = this.opts.maxTotalBytes;
    if (pinned + size > max) throw storageFull(size, pinned, max);
    const uploading = this.reserved - (own?.bytes ?? 0);
    if (pinned + uploading + size <= max) return;
    throw new ClawlinkError(
      "storage_busy",
      `uploads in progress hold ${uploading} bytes: storing ${size} more beside the ${pinned} bytes kept would pass the shared files' limit of ${max} bytes (--max-total-file-bytes)`,
      "retry when they have finished (Retry-After), or start the relay with a higher --max-total-file-bytes",
      { headers: { "Retry-After": "1" } },
    );
  }

  /** The latest version, or version `version`. */
  async get(key: string, version?: number): Promise<FileVersionRecord> {
    const head = await this.store.getFileHead(key);
    if (!head || head.deletedAt !== null) throw missing(key, head);
    const found = await this.store.getFileVersion(key, version ?? head.version);
    if (found) return found;
    const oldest = (await this.store.listFileVersions(key))[0]?.version ?? head.version;
    throw notFound(
      "unknown_version",
      version! > head.version
        ? `"${key}" has no version ${version}; its latest is version ${head.version}`
        : `version ${version} of "${key}" is no longer kept: the relay keeps the last ${this.opts.maxVersions} versions (now ${oldest}-${head.version})`,
      `run \`clawlink file-history --key ${shellArg(key)}\` to see the versions kept`,
    );
  }

  /** The versions kept, newest first. */
  async history(key: string): Promise<FileHistory> {
    const head = await this.store.getFileHead(key);
    if (!head || head.deletedAt !== null) throw missing(key, head);
    return { key, versions: [...(await this.store.listFileVersions(key))].reverse().map(versionView) };
  }

  async list(prefix = ""): Promise<FileInfo[]> {
    return (await this.store.listFiles(prefix, this.clock())).map(({ latest: f, lock }) => ({
      key: f.key,
      version: f.version,
      size: f.size,
      sha256: f.sha256,
      updated_by: f.author,
      updated_at: iso(f.createdAt),
      lock: lock ? lockView(lock) : null,
    }));
  }

  /** Deletes every version; the key's numbering goes on from where it was if it is put again. */
  async delete(actor: Actor, key: string): Promise<FileDeleted> {
    const now = this.clock();
    const r = await this.store.deleteFileIf(key, actor.id, actor.name, now);
    if (!r.ok) throw r.refused === "locked" ? locked(r.lock, now, "nothing was deleted") : missing(key, r.head ?? undefined);
    await this.emit(actor, { key, version: r.head.version, action: "delete" });
    return { key, version: r.head.version, deleted: true };
  }

  /** Gives `actor` the sole right to write `key` for `ttlS` seconds (renewed if it already holds it). */
  async lock(actor: Actor, key: string, ttlS: number): Promise<FileLock> {
    const now = this.clock();
    const r = await this.store.takeLease(key, actor.id, actor.name, now, now + ttlS * 1000);
    if (!r.ok) throw locked(r.lock, now, "you cannot lock it until then");
    await this.emit(actor, { key, version: await this.versionOf(key), action: "lock", until: iso(r.lock.until) });
    return lockView(r.lock);
  }

  async unlock(actor: Actor, key: string): Promise<FileLock> {
    const r = await this.store.releaseLease(key, actor.id, this.clock());
    if (!r.ok) {
      if (r.refused === "not_locked") {
        throw notFound("not_locked", `"${key}" is not locked (a lease also ends by itself when its ttl runs out)`, "`clawlink file-list` shows who holds leases");
      }
      const lock = r.lock;
      throw new ClawlinkError("file_locked", `"${key}" is locked by ${lock.holderName}, not by you; only the holder can unlock it (the lease ends at ${iso(lock.until)})`, `ask ${lock.holderName} to unlock it, or wait for the lease to end`);
    }
    this.bus.publish({ type: "lease", key });
    await this.emit(actor, { key, version: await this.versionOf(key), action: "unlock" });
    return lockView(r.lock);
  }

  /** The relay's operator ends a lease, whoever holds it (from the dashboard); every agent hears of it, the holder too. */
  async releaseAny(key: string): Promise<FileLock> {
    const r = await this.store.releaseLease(key, null, this.clock());
    if (!r.ok) throw notFound("not_locked", `"${key}" is not locked (a lease also ends by itself when its ttl runs out)`, "the file list shows who holds leases");
    this.bus.publish({ type: "lease", key });
    await this.emit(null, { key, version: await this.versionOf(key), action: "unlock" });
    return lockView(r.lock);
  }

  /** The latest version of one key and its lease, or undefined when the key holds no file. */
  async info(key: string): Promise<FileInfo | undefined> {
    return (await this.list(key)).find((f) => f.key === key);
  }

  /** Ends leases whose time ran out (or whose holder is gone) and tells everyone, the holder too. */
  async sweep(now: number) {
    for (const lock of await this.store.expireLeases(now)) {
      this.bus.publish({ type: "lease", key: lock.key });
      await this.emit(null, { key: lock.key, version: await this.versionOf(lock.key), action: "unlock", expired: true }, lock.holderName);
    }
  }

  /** Queues a change for every agent but the one that made it (from the relay itself when `actor` is null). */
  private async emit(actor: Actor | null, change: Pick<FileMessage, "key" | "version" | "action"> & Partial<FileMessage>, by = actor?.name ?? RELAY) {
    const msg: FileMessage = { type: "file", id: newSortableId("m"), from: actor?.id ?? RELAY, to: null, created_at: iso(this.clock()), by, ...change };
    // The change is committed by then: a store that refuses its notice loses the notice, rather than fail what it confirms.
    const told = await this.store.broadcast(msg, actor?.id ?? null, this.opts.room).catch(unlessStoreUnavailable);
    this.bus.publish({ type: "file", key: change.key });
    if (told) announce(this.bus, told.effects);
  }

  private async latest(head: FileHeadRecord | undefined): Promise<FileVersionRecord | undefined> {
    if (!head || head.deletedAt !== null) return undefined;
    return this.store.getFileVersion(head.key, head.version);
  }

  /** The latest version number of a live key, 0 if none. */
  private async versionOf(key: string): Promise<number> {
    const head = await this.store.getFileHead(key);
    return head && head.deletedAt === null ? head.version : 0;
  }
}

function locked(lock: FileLockRecord, now: number, outcome: string) {
  const left = Math.max(1, Math.ceil((lock.until - now) / 1000));
  return new ClawlinkError(
    "file_locked",
    `"${lock.key}" is locked by ${lock.holderName} until ${iso(lock.until)} (${left}s from now); ${outcome}`,
    `wait for the lease to end, or ask ${lock.holderName} to run \`clawlink file-unlock --key ${shellArg(lock.key)}\``,
  );
}

function storageFull(size: number, pinned: number, max: number) {
  return new ClawlinkError(
    "storage_full",
    `storing ${size} bytes would take the shared files to ${pinned + size} bytes, over the relay's limit of ${max} bytes`,
    "delete files that are no longer needed (`clawlink file-rm --key KEY`), or start the relay with a higher --max-total-file-bytes",
  );
}

function versionConflict(key: string, expected: number, head: FileHeadRecord | undefined, latest: FileVersionMeta | undefined): ClawlinkError {
  const k = shellArg(key);
  if (!latest) {
    const gone = head?.deletedAt != null ? `; it was deleted by ${head.deletedBy} at ${iso(head.deletedAt)}` : "";
    return new ClawlinkError("version_conflict", `"${key}" does not exist${gone}, so it is not at version ${expected}`, "to create it, put with --if-version 0 (or without --if-version)");
  }
  const by = `written by ${latest.author} at ${iso(latest.createdAt)}`;
  if (expected === 0) {
    return new ClawlinkError("version_conflict", `"${key}" already exists: version ${latest.version}, ${by}`, `to replace it, put with --if-version ${latest.version}; to keep both, use another key`, { headers: { etag: `"${latest.version}"` } });
  }
  const reread = `re-read it (\`clawlink file-get --key ${k}\`), redo your edit on version ${latest.version} and put with --if-version ${latest.version}`;
  return new ClawlinkError(
    "version_conflict",
    `"${key}" is at version ${latest.version} (${by}), not version ${expected}; nothing was written`,
    // A version past the latest was never written: there is no edit of it to merge.
    expected > latest.version
      ? `version ${expected} was never written, so it cannot be the version you read: ${reread}`
      : `${reread}; for text, add --merge to merge your edit with the changes since version ${expected}`,
    { headers: { etag: `"${latest.version}"` } },
  );
}

function missing(key: string, head: FileHeadRecord | undefined): ClawlinkError {
  if (head?.deletedAt != null) {
    return notFound("unknown_file", `"${key}" was deleted by ${head.deletedBy} at ${iso(head.deletedAt)}`, `put it again to recreate it (as version ${head.version + 1})`);
  }
  return notFound("unknown_file", `no shared file has the key "${key}"`, "run `clawlink file-list` to see the keys");
}
