/**
 * The limits every relay on one store counts together, so that N relays do not allow N times as much:
 * windows of events (registrations, failed authentications) and the connections each identity holds open.
 */
import type { Clock } from "../clock";
import type { Held, Hit, Store } from "../store/port";

/** How long a release the store refused (it was away) waits before it is tried again. */
const RETRY_MS = 1_000;

export type Hold = ({ ok: true; release: () => void } | { ok: false }) & Held;

export class TeamLimits {
  private n = 0;
  /** Connections held here and counted in the store, by id: counted again if the other relays took this one for gone. */
  private live = new Map<string, string>();
  /** Releases the store could not take yet: a count left behind would hold an agent's place for good. */
  private unreleased = new Map<string, string>();
  private retry: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private store: Store,
    private clock: Clock,
    private instance: string,
    /** Whether other relays share the store (then what one relay counted, another must ask the store for). */
    readonly shared: boolean,
    private onError: (err: unknown) => void,
  ) {}

  /** Counts one event under `key` in a window of `windowMs` unless `max` are counted already; `max` 0 only reads. */
  hit(key: string, windowMs: number, max: number): Promise<Hit> {
    return this.store.hit(key, windowMs, max, this.clock());
  }

  /** Whole seconds until a window that refused ends, at least one. */
  retryAfterS(w: Hit): number {
    return Math.max(1, Math.ceil((w.resetAt - this.clock()) / 1000));
  }

  /** Counts a connection `identity` holds open, on every relay together, unless it holds `max`; `release` gives it back, once. */
  async hold(identity: string, max: number): Promise<Hold> {
    const conn = `${this.instance}.h${++this.n}`;
    let held: Held;
    try {
      held = await this.store.holdConnection(identity, conn, max);
    } catch (err) {
      // The store may have counted it before its answer was lost: give it back, or it would hold a place until this relay stops.
      this.release(identity, conn);
      throw err;
    }
    if (!held.ok) return { ok: false, count: held.count };
    this.live.set(conn, identity);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.live.delete(conn);
      this.release(identity, conn);
    };
    return { ok: true, count: held.count, release };
  }

  private release(identity: string, conn: string) {
    this.store.releaseConnection(identity, conn).catch(() => {
      if (this.closed) return;
      this.unreleased.set(conn, identity);
      this.retry ??= setTimeout(() => {
        this.retry = undefined;
        const left = [...this.unreleased];
        this.unreleased.clear();
        for (const [c, who] of left) this.release(who, c);
      }, RETRY_MS);
    });
  }

  /** After the other relays took this one for gone (and dropped its counts): what is still open here counts again. */
  reclaim() {
    for (const [conn, identity] of this.live) this.store.holdConnection(identity, conn, Number.MAX_SAFE_INTEGER).catch(this.onError);
  }

  close() {
    this.closed = true;
    clearTimeout(this.retry);
  }
}
