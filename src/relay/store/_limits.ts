/**
 * The counters behind the limits every relay on a store shares (`hit`, `holdConnection`): in memory
 * (and in SQLite, whose counters need not outlive the one relay that uses them) plain maps.
 */
import type { Held, Hit } from "./port";

/** Windows kept at most; past it, ended ones go, then those not yet full, oldest first. */
const CAPACITY = 100_000;

interface Window {
  count: number;
  resetAt: number;
  max: number;
}

export class Counters {
  private windows = new Map<string, Window>();
  private held = new Map<string, Set<string>>();

  hit(key: string, windowMs: number, max: number, now: number): Hit {
    let w = this.windows.get(key);
    if (w && now >= w.resetAt) {
      this.windows.delete(key);
      w = undefined;
    }
    if (w && w.count >= max) return { ok: false, count: w.count, resetAt: w.resetAt };
    if (max <= 0) return { ok: false, count: 0, resetAt: now };
    if (w) {
      w.count++;
      w.max = max;
      return { ok: true, count: w.count, resetAt: w.resetAt };
    }
    if (this.windows.size >= CAPACITY) this.makeRoom(now);
    w = { count: 1, resetAt: now + windowMs, max };
    // A table of full windows only, which no one attacker fills, counts nothing new rather than forget a full one.
    if (this.windows.size < CAPACITY) this.windows.set(key, w);
    return { ok: true, count: 1, resetAt: w.resetAt };
  }

  private makeRoom(now: number) {
    for (const [k, w] of this.windows) if (now >= w.resetAt) this.windows.delete(k);
    const target = Math.floor((CAPACITY * 3) / 4);
    // Insertion order is age order.
    for (const [k, w] of this.windows) {
      if (this.windows.size <= target) break;
      if (w.count < w.max) this.windows.delete(k);
    }
  }

  holdConnection(identity: string, conn: string, max: number): Held {
    let conns = this.held.get(identity);
    const count = conns?.size ?? 0;
    if (conns?.has(conn)) return { ok: true, count };
    if (count >= max) return { ok: false, count };
    if (!conns) this.held.set(identity, (conns = new Set()));
    conns.add(conn);
    return { ok: true, count: count + 1 };
  }

  releaseConnection(identity: string, conn: string) {
    const conns = this.held.get(identity);
    if (!conns?.delete(conn)) return;
    if (conns.size === 0) this.held.delete(identity);
  }
}
