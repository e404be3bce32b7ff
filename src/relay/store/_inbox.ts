/**
 * One agent's messages in the memory store: a queue served urgent, high, normal, low, then oldest
 * first, and what is in flight (by id). Indexed by coalescing key and by the task a message is
 * about, so neither coalescing nor settling a task's messages scans the queue.
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
  /** The task (or message) it is about: indexed, and with `coalesces`, what an unread one of its type is replaced by. */
  readonly about: string | null;
  readonly coalesces: boolean;
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
    // A message queued again goes back to where its age puts it: usually just before the head, where it was taken from.
    if (this.head > 0 && s.seq < this.items[this.head]!.seq) {
      this.items[--this.head] = s;
      return;
    }
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.seq < s.seq) lo = mid + 1;
      else hi = mid;
    }
    this.items.splice(lo, 0, s);
  }

  /** The oldest slot still queued here, taken out, unless it is numbered past `maxSeq`. */
  shift(maxSeq: number): Slot | undefined {
    while (this.head < this.items.length) {
      const s = this.items[this.head]!;
      if (s.where === "queued") {
        if (s.seq > maxSeq) return undefined;
        this.items[this.head++] = undefined as unknown as Slot;
        this.live--;
        this.compact();
        return s;
      }
      this.items[this.head++] = undefined as unknown as Slot;
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
  /** Queued slots; by id only in flight (a queue of tasks for an agent that is away can grow long, and is rarely searched). */
  private count = 0;
  /** Queued slots that are not broadcasts: what keeps a stale agent from being forgotten. */
  private pins = 0;
  /** Bytes of every slot queued or in flight (the store keeps it as slots come and go). */
  bytes = 0;
  readonly flying = new Map<string, Slot>();
  /** Usually one message is about a task at a time: the slot itself, a set only past one (many replies may name one broadcast). */
  private aboutIndex = new Map<string, Slot | Set<Slot>>();

  get size() {
    return this.count;
  }

  get empty() {
    return this.count === 0 && this.flying.size === 0;
  }

  /** Nothing but broadcasts waits, and nothing is in flight. */
  get idle() {
    return this.pins === 0 && this.flying.size === 0;
  }

  /** Queues a new slot; returns the unread slot it replaced. */
  add(slot: Slot): Slot | undefined {
    let replaced: Slot | undefined;
    if (slot.coalesces) {
      const prev = this.unread(slot.about!, slot.msg.type);
      if (prev) replaced = this.take(prev);
    }
    slot.where = "queued";
    this.count++;
    if (slot.msg.type !== "broadcast") this.pins++;
    this.lanes[LANE[slot.priority]]!.push(slot);
    if (slot.about !== null) this.index(slot);
    return replaced;
  }

  /** Takes the next queued slot this connection wants, among those numbered up to `maxSeq` (the durable ones). */
  shift(want: Want | null | undefined, maxSeq: number): Slot | undefined {
    if (!want) {
      for (const lane of this.lanes) {
        if (lane.live === 0) continue;
        const s = lane.shift(maxSeq);
        if (s) {
          this.count--;
          if (s.msg.type !== "broadcast") this.pins--;
          s.where = "gone";
          this.unindex(s);
          return s;
        }
      }
      return undefined;
    }
    for (const lane of this.lanes) {
      for (const s of lane.queued()) if (s.seq <= maxSeq && wants(want, s.msg)) return this.take(s);
    }
    return undefined;
  }

  /** Takes a queued slot out; it is `gone` until flown or added again. */
  take(s: Slot): Slot {
    s.where = "gone";
    this.count--;
    if (s.msg.type !== "broadcast") this.pins--;
    this.lanes[LANE[s.priority]]!.removed();
    this.unindex(s);
    return s;
  }

  /** Takes the queued slot with this id out, looking through the queue (the rare path: a task withdrawn before it was handed out). */
  remove(id: string): Slot | undefined {
    for (const lane of this.lanes) for (const s of lane.queued()) if (s.msg.id === id) return this.take(s);
    return undefined;
  }

  fly(s: Slot, until: number, conn: string | null) {
    s.where = "flying";
    s.until = until;
    s.conn = conn;
    this.flying.set(s.msg.id, s);
    if (s.about !== null) this.index(s);
  }

  /**
   * Puts an in-flight slot back in the queue at its place, as a fresh slot (the old one may still sit
   * in a lane); `fresh` is null when a newer unread one it coalesces with made it moot.
   */
  requeue(id: string): { old: Slot; fresh: Slot | null } | undefined {
    const old = this.land(id);
    if (!old) return undefined;
    if (old.coalesces && this.unread(old.about!, old.msg.type)) return { old, fresh: null };
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
    const found = this.aboutIndex.get(id);
    return found === undefined ? [] : found instanceof Set ? [...found] : [found];
  }

  *queued(): Iterable<Slot> {
    for (const lane of this.lanes) yield* lane.queued();
  }

  /** The queued slots from the head of each lane for as long as `due` holds (lanes are in the order they were queued). */
  oldest(due: (s: Slot) => boolean): Slot[] {
    const out: Slot[] = [];
    for (const lane of this.lanes) {
      for (const s of lane.queued()) {
        if (!due(s)) break;
        out.push(s);
      }
    }
    return out;
  }

  /** The queued slot of this type about `about`, which a newer one replaces. */
  unread(about: string, type: Message["type"]): Slot | undefined {
    const found = this.aboutIndex.get(about);
    if (found === undefined) return undefined;
    const same = (x: Slot) => x.where === "queued" && x.msg.type === type;
    if (!(found instanceof Set)) return same(found) ? found : undefined;
    for (const x of found) if (same(x)) return x;
    return undefined;
  }

  private index(s: Slot) {
    const found = this.aboutIndex.get(s.about!);
    if (found === undefined) this.aboutIndex.set(s.about!, s);
    else if (found instanceof Set) found.add(s);
    else this.aboutIndex.set(s.about!, new Set([found, s]));
  }

  private unindex(s: Slot) {
    if (s.about === null) return;
    const found = this.aboutIndex.get(s.about);
    if (found === s) this.aboutIndex.delete(s.about);
    else if (found instanceof Set && found.delete(s) && found.size === 0) this.aboutIndex.delete(s.about);
  }
}
