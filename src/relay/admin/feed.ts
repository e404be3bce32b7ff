/**
 * The dashboard's memory of messages: the latest ones for the feed, their bodies for a while, and how
 * many were sent in each of the last five minutes' seconds. Counted from the first dashboard on.
 */
import { FEED_SHOWN, THROUGHPUT_SECONDS, type FeedItem, type Throughput } from "../../protocol/admin";
import type { Message, Priority } from "../../protocol/schemas";
import { iso } from "../clock";

/** Bodies kept for `GET /v1/admin/messages/{id}`: this many messages, and this many characters of text in all. */
export const BODIES_KEPT = 500;
const BODY_CHARS_KEPT = 16 * 1024 * 1024;
/** A broadcast is queued once per agent: ids seen lately are counted once. */
const SEEN_KEPT = 4096;

function textLength(m: Message): number {
  switch (m.type) {
    case "task":
      return m.task.length;
    case "response":
      return m.result.length;
    case "broadcast":
      return m.content.length;
    case "progress":
    case "status":
      return m.note.length;
    case "file":
      return 0;
  }
}

export class Feed {
  private recent: FeedItem[] = [];
  private pending: FeedItem[] = [];
  private bodies = new Map<string, { message: Message; chars: number }>();
  private bodyChars = 0;
  private seen = new Set<string>();
  /** Messages per second; `counts[i]` is second `first + i`. */
  private counts = new Array<number>(THROUGHPUT_SECONDS + 1).fill(0);
  private first: number;
  readonly since: number;

  constructor(now: number) {
    this.since = now;
    this.first = Math.floor(now / 1000) - THROUGHPUT_SECONDS;
  }

  /** Records a queued message; false when it was already recorded (another recipient of a broadcast). */
  add(message: Message, priority: Priority, now: number): boolean {
    if (this.seen.has(message.id)) return false;
    this.seen.add(message.id);
    if (this.seen.size > SEEN_KEPT) this.seen.delete(this.seen.values().next().value!);
    this.advance(now);
    this.counts[this.counts.length - 1]!++;
    const item: FeedItem = { id: message.id, type: message.type, from: message.from, to: message.to, priority, created_at: message.created_at };
    if (message.type === "status") item.task_id = message.task_id;
    else if (message.type === "response" || message.type === "progress") item.task_id = message.in_reply_to;
    else if (message.type === "task") item.task_id = message.id;
    this.recent.push(item);
    if (this.recent.length > 2 * FEED_SHOWN) this.recent = this.recent.slice(-FEED_SHOWN);
    this.pending.push(item);
    this.keepBody(message);
    return true;
  }

  private keepBody(message: Message) {
    const chars = textLength(message);
    this.bodies.set(message.id, { message, chars });
    this.bodyChars += chars;
    for (const [id, kept] of this.bodies) {
      if (this.bodies.size <= BODIES_KEPT && this.bodyChars <= BODY_CHARS_KEPT) break;
      this.bodies.delete(id);
      this.bodyChars -= kept.chars;
    }
  }

  /** Moves the window so that its last second is the one `now` falls in. */
  private advance(now: number) {
    const last = Math.floor(now / 1000);
    const shift = last - (this.first + this.counts.length - 1);
    if (shift <= 0) return;
    const kept = this.counts.slice(Math.min(shift, this.counts.length));
    this.counts = [...kept, ...new Array<number>(this.counts.length - kept.length).fill(0)];
    this.first = last - this.counts.length + 1;
  }

  /** Items added since the last call, oldest first. */
  take(): FeedItem[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /** The latest items, newest first. */
  latest(): FeedItem[] {
    return this.recent.slice(-FEED_SHOWN).reverse();
  }

  body(id: string): Message | undefined {
    return this.bodies.get(id)?.message;
  }

  /** The last THROUGHPUT_SECONDS whole seconds before `now`. */
  throughput(now: number): Throughput {
    this.advance(now);
    return { end: iso(Math.floor(now / 1000) * 1000), since: iso(this.since), counts: this.counts.slice(0, THROUGHPUT_SECONDS) };
  }
}
