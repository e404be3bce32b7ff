import { PRIORITIES, type Message, type Priority } from "../protocol/schemas";

/** A message waiting for its recipient, with what ordering and redelivery need. */
export interface Entry {
  msg: Message;
  to: string;
  priority: Priority;
  /** Arrival order across the relay: older first within a priority. */
  seq: number;
}

const LANE: Record<Priority, number> = { urgent: 0, high: 1, normal: 2, low: 3 };
export const laneOf = (p: Priority) => LANE[p];

/** One FIFO lane: an array with a moving head, compacted as it drains, so push and shift are O(1). */
class Lane {
  private items: Entry[] = [];
  private head = 0;

  get size() {
    return this.items.length - this.head;
  }
  push(e: Entry) {
    const last = this.items[this.items.length - 1];
    if (!last || this.size === 0 || last.seq < e.seq) {
      this.items.push(e);
      return;
    }
    // A redelivered entry goes back to where its age puts it.
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.seq < e.seq) lo = mid + 1;
      else hi = mid;
    }
    this.items.splice(lo, 0, e);
  }
  peek(): Entry | undefined {
    return this.items[this.head];
  }
  shift(): Entry | undefined {
    const e = this.items[this.head];
    if (!e) return undefined;
    this.items[this.head++] = undefined as unknown as Entry;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return e;
  }
  remove(id: string): Entry | undefined {
    for (let i = this.head; i < this.items.length; i++) {
      if (this.items[i]!.msg.id === id) return this.items.splice(i, 1)[0];
    }
    return undefined;
  }
  *entries(): Iterable<Entry> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!;
  }
}

/** An agent's inbox: urgent, high, normal, low, then oldest first. */
export class PriorityQueue {
  private lanes = PRIORITIES.map(() => new Lane());
  size = 0;

  push(e: Entry) {
    this.lanes[LANE[e.priority]]!.push(e);
    this.size++;
  }
  peek(): Entry | undefined {
    for (const lane of this.lanes) if (lane.size > 0) return lane.peek();
    return undefined;
  }
  shift(): Entry | undefined {
    for (const lane of this.lanes) {
      if (lane.size > 0) {
        this.size--;
        return lane.shift();
      }
    }
    return undefined;
  }
  remove(id: string): Entry | undefined {
    for (const lane of this.lanes) {
      const e = lane.remove(id);
      if (e) {
        this.size--;
        return e;
      }
    }
    return undefined;
  }
  *entries(): Iterable<Entry> {
    for (const lane of this.lanes) yield* lane.entries();
  }
}
