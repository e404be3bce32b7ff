/** Leases on shared files: one agent's exclusive right to write a key for a while. No I/O. */
import { iso } from "./views";
import { ClawlinkError, notFound, shellArg } from "../errors";
import type { FileLock } from "../protocol/schemas";
import type { FileLockRecord, Store } from "./store";


export class Leases {
  constructor(
    private store: Store,
    private clock: () => number,
  ) {}

  /** The lease on `key` if it still runs and its holder is still registered. */
  live(key: string, now = this.clock()): FileLockRecord | undefined {
    const lock = this.store.getFileLock(key);
    if (!lock || lock.until <= now || !this.store.getAgent(lock.holderId)) return undefined;
    return lock;
  }

  /** Throws unless `actorId` may change `key`: nobody else holds a running lease on it. */
  check(actorId: string, key: string, outcome: string) {
    const now = this.clock();
    const lock = this.live(key, now);
    if (lock && lock.holderId !== actorId) throw this.locked(lock, now, outcome);
  }

  /** Takes the lease, or renews it for its holder. */
  acquire(actor: { id: string; name: string }, key: string, ttlS: number): FileLockRecord {
    const now = this.clock();
    const held = this.live(key, now);
    if (held && held.holderId !== actor.id) throw this.locked(held, now, "you cannot lock it until then");
    const lock: FileLockRecord = { key, holderId: actor.id, holderName: actor.name, since: held?.since ?? now, until: now + ttlS * 1000 };
    this.store.putFileLock(lock);
    return lock;
  }

  /** Ends the lease on `key`: only its holder may, unless `actorId` is null (the relay's operator). */
  release(actorId: string | null, key: string): FileLockRecord {
    const now = this.clock();
    const lock = this.live(key, now);
    if (!lock) {
      throw notFound("not_locked", `"${key}" is not locked (a lease also ends by itself when its ttl runs out)`, "`clawlink file-list` shows who holds leases");
    }
    if (actorId !== null && lock.holderId !== actorId) {
      throw new ClawlinkError("file_locked", 423, `"${key}" is locked by ${lock.holderName}, not by you; only the holder can unlock it (the lease ends at ${iso(lock.until)})`, `ask ${lock.holderName} to unlock it, or wait for the lease to end`);
    }
    this.store.deleteFileLock(key);
    return lock;
  }

  /** Drops leases that ran out or whose holder is gone, and returns them. */
  expire(now = this.clock()): FileLockRecord[] {
    const out: FileLockRecord[] = [];
    for (const lock of this.store.listFileLocks()) {
      if (this.live(lock.key, now)) continue;
      this.store.deleteFileLock(lock.key);
      out.push(lock);
    }
    return out;
  }

  view(lock: FileLockRecord): FileLock {
    return { key: lock.key, holder: lock.holderName, holder_id: lock.holderId, since: iso(lock.since), until: iso(lock.until) };
  }

  private locked(lock: FileLockRecord, now: number, outcome: string) {
    const left = Math.max(1, Math.ceil((lock.until - now) / 1000));
    return new ClawlinkError(
      "file_locked",
      423,
      `"${lock.key}" is locked by ${lock.holderName} until ${iso(lock.until)} (${left}s from now); ${outcome}`,
      `wait for the lease to end, or ask ${lock.holderName} to run \`clawlink file-unlock --key ${shellArg(lock.key)}\``,
    );
  }
}
