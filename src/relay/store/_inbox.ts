/**
 * One agent's messages in the memory store: a queue served urgent, high, normal, low, then oldest
 * first, and what is in flight. Indexed by message id, by coalescing key and by the task a message
 * is about, so no operation scans a queue to find one message.
 */
import { PRIORITIES, type Message, type Priority } from "../../protocol/schemas";
import type { Want } from "./port";

/** A message held for its recipient: queued, in flight, or gone (settled or dropped). */
export interface Slot {
  readonly seq: number;
  readonly to: string;
  readonly priority: Priority;
  /** A task's copy is replaced when claimed, to carry its attempt. */
  msg: Message;
  readonly bytes: number;
  readonly key: string | null;
  readonly about: string | null;
  where: "queued" | "flying" | "gone";
  /** In flight: when it is queued again unless acknowledged, and the connection it went out on (null: a poll). */
  until: number;
  conn: string | null;
}

const LANE: Record<Priority, number> = { urgent: 0, high: 1, normal: 2, low: 3 };

/** One priority's FIFO: an array with a moving head; removal in the middle marks the slot and skips it later. */
class Lane {
  private items: Slot[] = [];
  private head = 0;
  live = 0;

  push(s: Slot) {
    this.live++;
    const last = this.items[this.items.length - 1];
    if (!last || this.items.length === this.head || last.seq < s.seq) {
      this.items.push(s);
      return;
    }
    // A message queued again goes back to where its age puts it.
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.seq < s.seq) lo = mid + 1;
      else hi = mid;
    }
    this.items.splice(lo, 0, s);
  }

  /** The oldest slot still queued here, taken out. */
  shift(): Slot | undefined {
    while (this.head < this.items.length) {
      const s = this.items[this.head]!;
      this.items[this.head++] = undefined as unknown as Slot;
      if (s.where === "queued") {
        this.live--;
        this.compact();
        return s;
      }
    }
    this.compact();
    return undefined;
  }

  /** A slot taken out of the middle (it is no longer `queued`); its place is skipped later. */
  removed() {
    this.live--;
    this.compact();
  }

  *queued(): Iterable<Slot> {
    for (let i = this.head; i < this.items.length; i++) {
      const s = this.items[i]!;
      if (s.where === "queued") yield s;
    }
  }

  private compact() {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    } else if (this.items.length - this.head > 2048 && this.live * 2 < this.items.length - this.head) {
      this.items = this.items.slice(this.head).filter((s) => s.where === "queued");
      this.head = 0;
    }
  }
}

export const wants = (want: Want | null | undefined, msg: Message) =>
  !want || ((want.types === null || want.types.includes(msg.type)) && (want.filePrefix === null || (msg.type === "file" && msg.key.startsWith(want.filePrefix))));

export class Inbox {
  private lanes = PRIORITIES.map(() => new Lane());
  private queuedById = new Map<string, Slot>();
  readonly flying = new Map<string, Slot>();
  private latest = new Map<string, Slot>();
  private aboutIndex = new Map<string, Set<Slot>>();

  get size() {
    return this.queuedById.size;
  }

  get empty() {
    return this.queuedById.size === 0 && this.flying.size === 0;
  }

  /** Queues a new slot; returns the unread slot with the same coalescing key it replaced. */
  add(slot: Slot): Slot | undefined {
    let replaced: Slot | undefined;
    if (slot.key !== null) {
      const prev = this.latest.get(slot.key);
      if (prev && prev.where === "queued") replaced = this.remove(prev.msg.id);
      this.latest.set(slot.key, slot);
    }
    slot.where = "queued";
    this.queuedById.set(slot.msg.id, slot);
    this.lanes[LANE[slot.priority]]!.push(slot);
    if (slot.about !== null) {
      let set = this.aboutIndex.get(slot.about);
      if (!set) this.aboutIndex.set(slot.about, (set = new Set()));
      set.add(slot);
    }
    return replaced;
  }

  /** Takes the next queued slot this connection wants. */
  shift(want: Want | null | undefined): Slot | undefined {
    if (!want) {
      for (const lane of this.lanes) {
        if (lane.live === 0) continue;
        const s = lane.shift();
        if (s) {
          this.queuedById.delete(s.msg.id);
          s.where = "gone";
          this.unindex(s);
          return s;
        }
      }
      return undefined;
    }
    for (const lane of this.lanes) {
      for (const s of lane.queued()) if (wants(want, s.msg)) return this.remove(s.msg.id);
    }
    return undefined;
  }

  /** Takes a queued slot out; it is `gone` until flown or pushed again. */
  remove(id: string): Slot | undefined {
    const s = this.queuedById.get(id);
    if (!s) return undefined;
    this.queuedById.delete(id);
    s.where = "gone";
    this.lanes[LANE[s.priority]]!.removed();
    this.unindex(s);
    return s;
  }

  fly(s: Slot, until: number, conn: string | null) {
    s.where = "flying";
    s.until = until;
    s.conn = conn;
    this.flying.set(s.msg.id, s);
    if (s.about !== null) {
      let set = this.aboutIndex.get(s.about);
      if (!set) this.aboutIndex.set(s.about, (set = new Set()));
      set.add(s);
    }
  }

  /**
   * Puts an in-flight slot back in the queue at its place, as a fresh slot (the old one may still sit
   * in a lane); `fresh` is null when a newer unread message with its coalescing key made it moot.
   */
  requeue(id: string): { old: Slot; fresh: Slot | null } | undefined {
    const old = this.land(id);
    if (!old) return undefined;
    if (old.key !== null && this.latest.get(old.key)?.where === "queued") return { old, fresh: null };
    const fresh: Slot = { ...old, until: 0, conn: null };
    this.add(fresh);
    return { old, fresh };
  }

  /** Takes a slot out of flight. */
  land(id: string): Slot | undefined {
    const s = this.flying.get(id);
    if (!s) return undefined;
    this.flying.delete(id);
    s.where = "gone";
    this.unindex(s);
    return s;
  }

  /** Slots queued or in flight that are about `id`. */
  about(id: string): Slot[] {
    return [...(this.aboutIndex.get(id) ?? [])];
  }

  queued(): Iterable<Slot> {
    return this.queuedById.values();
  }

  has(id: string) {
    return this.queuedById.has(id) || this.flying.has(id);
  }

  private unindex(s: Slot) {
    if (s.key !== null && this.latest.get(s.key) === s) this.latest.delete(s.key);
    if (s.about === null) return;
    const set = this.aboutIndex.get(s.about);
    if (set?.delete(s) && set.size === 0) this.aboutIndex.delete(s.about);
  }
}
