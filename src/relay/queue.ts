import { PRIORITIES, type Message, type Priority } from "../protocol/schemas";

/** A message waiting for its recipient, with what ordering, redelivery and the byte budgets need. */
export interface Entry {
  msg: Message;
  to: string;
  priority: Priority;
  /** Arrival order across the relay: older first within a priority. */
  seq: number;
  /** The message's serialized size in bytes, measured once when it is first queued. */
  size: number;
}

const LANE: Record<Priority, number> = { urgent: 0, high: 1, normal: 2, low: 3 };
export const laneOf = (p: Priority) => LANE[p];

/** A place in a lane; a removed entry leaves an empty slot behind, so removal never shifts the array. */
interface Slot {
  seq: number;
  entry: Entry | null;
}

/** Empty slots are swept out once there are this many and more of them than live ones. */
const SWEEP_AT = 1024;

/** One FIFO lane: an array of slots with a moving head, compacted as it drains, so push, shift and removal are O(1). */
class Lane {
  private slots: Slot[] = [];
  private head = 0;
  size = 0;
  private empty = 0;

  push(e: Entry): Slot {
    const slot: Slot = { seq: e.seq, entry: e };
    const last = this.slots[this.slots.length - 1];
    this.size++;
    if (!last || last.seq < e.seq) {
      this.slots.push(slot);
      return slot;
    }
    // A redelivered entry goes back to where its age puts it.
    let lo = this.head;
    let hi = this.slots.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.slots[mid]!.seq < e.seq) lo = mid + 1;
      else hi = mid;
    }
    this.slots.splice(lo, 0, slot);
    return slot;
  }
  peek(): Entry | undefined {
    // Empty slots at the head are passed for good.
    while (this.head < this.slots.length && !this.slots[this.head]!.entry) {
      this.slots[this.head++] = undefined as unknown as Slot;
      this.empty--;
    }
    return this.slots[this.head]?.entry ?? undefined;
  }
  shift(): Entry | undefined {
    while (this.head < this.slots.length) {
      const slot = this.slots[this.head]!;
      this.slots[this.head++] = undefined as unknown as Slot;
      if (!slot.entry) {
        this.empty--;
        continue;
      }
      this.size--;
      if (this.head > SWEEP_AT && this.head * 2 > this.slots.length) {
        this.slots = this.slots.slice(this.head);
        this.head = 0;
      }
      return slot.entry;
    }
    return undefined;
  }
  /** Empties a slot this lane holds; the message it held is free at once. */
  clear(slot: Slot) {
    slot.entry = null;
    this.size--;
    this.empty++;
    if (this.size === 0) {
      this.slots = [];
      this.head = 0;
      this.empty = 0;
    } else if (this.empty > SWEEP_AT && this.empty > this.size) {
      this.slots = this.slots.slice(this.head).filter((s) => s.entry);
      this.head = 0;
      this.empty = 0;
    }
  }
  *entries(): Iterable<Entry> {
    for (let i = this.head; i < this.slots.length; i++) {
      const e = this.slots[i]!.entry;
      if (e) yield e;
    }
  }
}

/** An agent's inbox: urgent, high, normal, low, then oldest first; any message found or removed by id in O(1). */
export class PriorityQueue {
  private lanes = PRIORITIES.map(() => new Lane());
  private byId = new Map<string, Slot>();
  size = 0;

  push(e: Entry) {
    this.byId.set(e.msg.id, this.lanes[LANE[e.priority]]!.push(e));
    this.size++;
  }
  peek(): Entry | undefined {
    for (const lane of this.lanes) if (lane.size > 0) return lane.peek();
    return undefined;
  }
  shift(): Entry | undefined {
    for (const lane of this.lanes) {
      if (lane.size > 0) {
        const e = lane.shift()!;
        if (this.byId.get(e.msg.id)?.entry === e) this.byId.delete(e.msg.id);
        this.size--;
        return e;
      }
    }
    return undefined;
  }
  get(id: string): Entry | undefined {
    return this.byId.get(id)?.entry ?? undefined;
  }
  remove(id: string): Entry | undefined {
    const slot = this.byId.get(id);
    const e = slot?.entry;
    if (!e) return undefined;
    this.byId.delete(id);
    this.lanes[LANE[e.priority]]!.clear(slot);
    this.size--;
    return e;
  }
  *entries(): Iterable<Entry> {
    for (const lane of this.lanes) yield* lane.entries();
  }
}
