/**
 * The byte budgets of messages still held by the relay (queued, or handed out and not acknowledged):
 * relay-wide (`--max-queued-bytes`) and per sender (`--max-sender-bytes`). Each message is measured
 * once, when it is first queued; the store keeps the running sums as messages come and go.
 */
import { ClawlinkError } from "../errors";
import type { Message } from "../protocol/schemas";

/** What the relay itself sends (status and lease notices) counts toward the relay-wide budget only. */
export const RELAY_SENDER = "relay";

/** A message's size as it crosses the wire, in bytes. */
export const sizeOf = (msg: Message): number => Buffer.byteLength(JSON.stringify(msg));

/** Running sums of held bytes: all of them, and per sender. */
export class Ledger {
  total = 0;
  private bySender = new Map<string, number>();

  of(sender: string): number {
    return this.bySender.get(sender) ?? 0;
  }
  add(sender: string, n: number) {
    this.total += n;
    this.bySender.set(sender, (this.bySender.get(sender) ?? 0) + n);
  }
  clear() {
    this.total = 0;
    this.bySender.clear();
  }
  sub(sender: string, n: number) {
    this.total -= n;
    const left = (this.bySender.get(sender) ?? 0) - n;
    if (left > 0) this.bySender.set(sender, left);
    else this.bySender.delete(sender);
  }
}

export interface ByteLimits {
  /** Bytes of every message held, queued or unacknowledged. */
  maxQueuedBytes: number;
  /** Bytes of one agent's messages held, wherever they wait. */
  maxSenderBytes: number;
}

/** The budgets as rules: whether `size` more bytes from `from` fit, once `freed` bytes (a message it replaces) are given back. */
export class Budgets {
  constructor(
    private ledger: Ledger,
    private limits: ByteLimits,
  ) {}

  fits(from: string, size: number, freed = 0): boolean {
    const grow = size - freed;
    if (grow <= 0) return true;
    if (this.ledger.total + grow > this.limits.maxQueuedBytes) return false;
    return from === RELAY_SENDER || this.ledger.of(from) + grow <= this.limits.maxSenderBytes;
  }

  /** Throws 429 naming the budget that `size` more bytes from `from` would pass. */
  check(from: string, size: number, freed = 0) {
    const grow = size - freed;
    if (grow <= 0) return;
    const { maxQueuedBytes, maxSenderBytes } = this.limits;
    if (this.ledger.total + grow > maxQueuedBytes) {
      throw new ClawlinkError(
        "relay_full",
        429,
        `the relay is full: messages waiting or unacknowledged hold ${this.ledger.total} bytes, and ${size} more would pass its limit of ${maxQueuedBytes} bytes (--max-queued-bytes)`,
        "retry later, once recipients have taken and acknowledged their messages; or start the relay with a higher --max-queued-bytes",
        { "Retry-After": "1" },
      );
    }
    const mine = this.ledger.of(from);
    if (from !== RELAY_SENDER && mine + grow > maxSenderBytes) {
      throw new ClawlinkError(
        "sender_full",
        429,
        `your messages waiting or unacknowledged hold ${mine} bytes, and ${size} more would pass the relay's limit of ${maxSenderBytes} bytes per sender (--max-sender-bytes)`,
        "retry once your recipients have taken and acknowledged what you sent; or start the relay with a higher --max-sender-bytes",
        { "Retry-After": "1" },
      );
    }
  }
}
