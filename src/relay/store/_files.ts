/**
 * Shared files in the memory store: heads, versions and leases, with running byte totals so a
 * write checks its room without adding up every file.
 */
import { frozen } from "./rules";
import type { FileDeleted, FileEntry, FileHeadRecord, FileLockRecord, FilePut, FileRules, FileVersionMeta, FileVersionRecord, LeaseReleased, LeaseTaken, NewFileVersion } from "./port";

/** What changed, for a store that writes it down (no-ops in memory). */
export interface FileJournal {
  head(key: string): void;
  version(key: string, version: number): void;
  /** Versions of `key` numbered `upTo` or lower were dropped. */
  dropped(key: string, upTo: number): void;
  lock(key: string): void;
}

export const metaOf = (f: FileVersionRecord): FileVersionMeta =>
  frozen({ key: f.key, version: f.version, size: f.size, sha256: f.sha256, author: f.author, createdAt: f.createdAt });

export class FileBook {
  readonly heads = new Map<string, FileHeadRecord>();
  /** Oldest first. */
  readonly versions = new Map<string, FileVersionRecord[]>();
  readonly locks = new Map<string, FileLockRecord>();
  /** Bytes of every kept version. */
  private total = 0;
  /** Bytes of the latest version of every live key. */
  private pinned = 0;

  constructor(
    private journal: FileJournal,
    private isAgent: (id: string) => boolean,
  ) {}

  latest(key: string): FileVersionRecord | undefined {
    const head = this.heads.get(key);
    if (!head || head.deletedAt !== null) return undefined;
    const list = this.versions.get(key);
    const last = list?.[list.length - 1];
    return last?.version === head.version ? last : undefined;
  }

  version(key: string, version: number): FileVersionRecord | undefined {
    return this.versions.get(key)?.find((f) => f.version === version);
  }

  /** The lease on `key` if it still runs and its holder is still registered. */
  liveLock(key: string, now: number): FileLockRecord | undefined {
    const lock = this.locks.get(key);
    if (!lock || lock.until <= now || !this.isAgent(lock.holderId)) return undefined;
    return lock;
  }

  pinnedExcept(key: string): number {
    return this.pinned - (this.latest(key)?.size ?? 0);
  }

  putIf(key: string, expected: number, file: NewFileVersion, rules: FileRules): FilePut {
    const lock = this.liveLock(key, file.createdAt);
    if (lock && lock.holderId !== file.authorId) return { ok: false, refused: "locked", lock };
    const head = this.heads.get(key);
    const latest = this.latest(key);
    if (expected !== (latest?.version ?? 0)) return { ok: false, refused: "version", head: head ?? null, latest: latest ? metaOf(latest) : null };
    const size = file.bytes.byteLength;
    const others = this.pinned - (latest?.size ?? 0);
    if (others + size > rules.maxTotalBytes) return { ok: false, refused: "storage_full", pinned: others };
    const version = (head?.version ?? 0) + 1;
    const record: FileVersionRecord = frozen({ key, version, size, sha256: file.sha256, author: file.author, createdAt: file.createdAt, bytes: file.bytes });
    this.add(record);
    this.setHead({ key, version, deletedBy: null, deletedAt: null });
    if (version > rules.maxVersions) this.drop(key, version - rules.maxVersions);
    if (this.total > rules.maxTotalBytes) this.makeRoom(rules.maxTotalBytes);
    return { ok: true, version: metaOf(record) };
  }

  deleteIf(key: string, actorId: string, actorName: string, now: number): FileDeleted {
    const head = this.heads.get(key);
    if (!head || head.deletedAt !== null) return { ok: false, refused: "unknown_file", head: head ?? null };
    const lock = this.liveLock(key, now);
    if (lock && lock.holderId !== actorId) return { ok: false, refused: "locked", lock };
    this.drop(key, head.version);
    const gone = this.setHead({ ...head, deletedBy: actorName, deletedAt: now });
    return { ok: true, head: gone };
  }

  take(key: string, holderId: string, holderName: string, now: number, until: number): LeaseTaken {
    const held = this.liveLock(key, now);
    if (held && held.holderId !== holderId) return { ok: false, refused: "locked", lock: held };
    const lock: FileLockRecord = frozen({ key, holderId, holderName, since: held?.since ?? now, until });
    this.locks.set(key, lock);
    this.journal.lock(key);
    return { ok: true, lock };
  }

  release(key: string, holderId: string | null, now: number): LeaseReleased {
    const lock = this.liveLock(key, now);
    if (!lock) return { ok: false, refused: "not_locked" };
    if (holderId !== null && lock.holderId !== holderId) return { ok: false, refused: "not_holder", lock };
    this.locks.delete(key);
    this.journal.lock(key);
    return { ok: true, lock };
  }

  /** Leases that ran out or whose holder is gone, removed. */
  expire(now: number): FileLockRecord[] {
    const out: FileLockRecord[] = [];
    for (const lock of this.locks.values()) {
      if (this.liveLock(lock.key, now)) continue;
      this.locks.delete(lock.key);
      this.journal.lock(lock.key);
      out.push(lock);
    }
    return out;
  }

  list(prefix: string, now: number): FileEntry[] {
    const out: FileEntry[] = [];
    for (const head of this.heads.values()) {
      if (!head.key.startsWith(prefix)) continue;
      const latest = this.latest(head.key);
      if (latest) out.push({ latest: metaOf(latest), lock: this.liveLock(head.key, now) ?? null });
    }
    return out.sort((a, b) => (a.latest.key < b.latest.key ? -1 : a.latest.key > b.latest.key ? 1 : 0));
  }

  /** Loads a record kept by a durable store (no journal). */
  restore(record: FileHeadRecord | FileVersionRecord | FileLockRecord) {
    if ("holderId" in record) this.locks.set(record.key, frozen(record));
    else if ("bytes" in record) this.add(frozen(record), false);
    else this.setHead(record, false);
  }

  private add(f: FileVersionRecord, journal = true) {
    let list = this.versions.get(f.key);
    if (!list) this.versions.set(f.key, (list = []));
    const before = this.latest(f.key)?.size ?? 0;
    list.push(f);
    if (list.length > 1 && list[list.length - 2]!.version > f.version) list.sort((a, b) => a.version - b.version);
    this.total += f.size;
    this.pinned += (this.latest(f.key)?.size ?? 0) - before;
    if (journal) this.journal.version(f.key, f.version);
  }

  private setHead(head: FileHeadRecord, journal = true): FileHeadRecord {
    const before = this.latest(head.key)?.size ?? 0;
    const record = frozen({ ...head });
    this.heads.set(head.key, record);
    this.pinned += (this.latest(head.key)?.size ?? 0) - before;
    if (journal) this.journal.head(head.key);
    return record;
  }

  /** Drops the key's versions numbered `upTo` or lower. */
  private drop(key: string, upTo: number) {
    const list = this.versions.get(key);
    if (!list) return;
    const before = this.latest(key)?.size ?? 0;
    const rest = list.filter((f) => f.version > upTo);
    for (const f of list) if (f.version <= upTo) this.total -= f.size;
    if (rest.length) this.versions.set(key, rest);
    else this.versions.delete(key);
    this.pinned += (this.latest(key)?.size ?? 0) - before;
    this.journal.dropped(key, upTo);
  }

  /** Drops the oldest versions that are not the latest of their key until every kept version fits. */
  private makeRoom(max: number) {
    const older: FileVersionRecord[] = [];
    for (const [key, list] of this.versions) {
      const head = this.heads.get(key);
      for (const f of list) if (f.version !== head?.version) older.push(f);
    }
    older.sort((a, b) => a.createdAt - b.createdAt || a.version - b.version);
    for (const f of older) {
      if (this.total <= max) return;
      this.drop(f.key, f.version);
    }
  }
}
