/**
 * What the MCP server holds for its agent. Messages pushed over the inbox stream are announced and kept
 * unacknowledged until the `inbox` tool hands them to the model, so a message whose announcement went
 * nowhere (a client without channels, a server that died) is still delivered: if this process ends, the
 * relay queues them again at once.
 */
import type { Message } from "../protocol/schemas";

/** The task a message is about: its own id for a task, the task replied to or reported on otherwise. */
export function taskOf(m: Message): string | undefined {
  if (m.type === "task") return m.id;
  if (m.type === "response" || m.type === "progress") return m.in_reply_to;
  if (m.type === "status") return m.task_id;
  return undefined;
}

/** The last `size` ids added. */
export class Recent {
  private set = new Set<string>();
  constructor(private size: number) {}
  add(id: string) {
    this.set.delete(id);
    this.set.add(id);
    if (this.set.size > this.size) this.set.delete(this.set.values().next().value!);
  }
  has(id: string) {
    return this.set.has(id);
  }
}

export interface MailboxHooks {
  /** Tells the client a message arrived; announcements go out in the order messages came. */
  announce(m: Message): Promise<void> | void;
  /** Acknowledges messages the model has no need to read (what a finished wait already showed). */
  ack(ids: string[]): void;
}

export class Mailbox {
  private held = new Map<string, Message>();
  private arrivals = new Set<() => void>();
  /** Tasks a tool call is waiting on: what arrives about them is its answer, not news. */
  private awaited = new Map<string, number>();
  /** Tasks whose end a wait has shown; the relay cleared their messages then. */
  private settled = new Recent(10_000);

  constructor(private hooks: MailboxHooks) {}

  get size() {
    return this.held.size;
  }

  /** A message pushed by the relay: kept, and announced once however often it is redelivered. */
  receive(m: Message): Promise<void> | void {
    const task = taskOf(m);
    if (m.type !== "task" && task && this.settled.has(task)) return this.hooks.ack([m.id]);
    const fresh = !this.held.has(m.id);
    // A redelivered copy replaces the first: it carries the new attempt count.
    this.held.set(m.id, m);
    if (!fresh) return;
    for (const wake of this.arrivals) wake();
    if (!(task && this.awaited.has(task))) return this.hooks.announce(m);
  }

  /** Up to `max` held messages, oldest first, of the given types (all when none); they stay held until `remove`. */
  peek(max: number, types?: ReadonlySet<string>): Message[] {
    const out: Message[] = [];
    for (const m of this.held.values()) {
      if (out.length >= max) break;
      if (!types || types.has(m.type)) out.push(m);
    }
    return out;
  }

  /** Keeps a message that a poll took from the relay but the model has not acknowledged. */
  keep(m: Message) {
    this.held.set(m.id, m);
  }

  /** Another identity now: what the old one held goes back to the relay with its socket. */
  clear() {
    this.held.clear();
  }

  remove(ids: Iterable<string>) {
    for (const id of ids) this.held.delete(id);
  }

  /** The model answered (or took up) a task: the relay settled it, so it is no longer the inbox's to hand out. */
  answered(taskId: string) {
    if (this.held.get(taskId)?.type === "task") this.held.delete(taskId);
  }

  /** Resolves when a message arrives, after `ms`, or when `signal` aborts. */
  next(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.arrivals.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.arrivals.add(done);
      signal?.addEventListener("abort", done);
    });
  }

  /** Marks a task as awaited by a tool call; the returned function ends that. */
  await(taskId: string): () => void {
    this.awaited.set(taskId, (this.awaited.get(taskId) ?? 0) + 1);
    return () => {
      const n = this.awaited.get(taskId)! - 1;
      if (n > 0) this.awaited.set(taskId, n);
      else this.awaited.delete(taskId);
    };
  }

  /** The model called off a task it sent: what the relay says about it is no news; what is held about it is acknowledged. */
  dismiss(taskId: string) {
    this.settled.add(taskId);
    const done = [...this.held.values()].filter((m) => m.type !== "task" && taskOf(m) === taskId).map((m) => m.id);
    this.remove(done);
    if (done.length) this.hooks.ack(done);
  }

  /** A wait showed the task's end and acknowledged what concerned it: drop those messages here too. */
  settle(taskId: string) {
    this.settled.add(taskId);
    for (const m of [...this.held.values()]) if (m.type !== "task" && taskOf(m) === taskId) this.held.delete(m.id);
  }
}
