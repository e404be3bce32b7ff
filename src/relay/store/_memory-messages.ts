/** The memory store's message operations: queueing within the budgets, claiming, acknowledging, and queueing again what a lease or a socket left. */
import type { Message, TaskState } from "../../protocol/schemas";
import { Changes } from "./_memory-state";
import { MemoryTasks } from "./_memory-tasks";
import { NO_EFFECTS, type ClaimOptions, type Enqueued, type NewEntry, type QueuedOne, type Room } from "./port";
import { isFinal, notes } from "./rules";

const EMPTY_CLAIM = Object.freeze({ messages: Object.freeze([]) as readonly Message[], effects: NO_EFFECTS });
const UNKNOWN_AGENT = Object.freeze({ ok: false, refused: "unknown_agent" } as const);
const DELIVERABLE: readonly TaskState[] = ["queued", "delivered", "working"];

export abstract class MemoryMessages extends MemoryTasks {
  async enqueueIfRoom(entry: NewEntry, room: Room): Promise<Enqueued> {
    const fx = new Changes();
    const slot = this.queue(entry, room, fx);
    if (slot === null) return { ok: false, refused: "unknown_agent" };
    if ("ok" in slot) return slot;
    return { ok: true, id: entry.msg.id, effects: fx.effects };
  }

  async enqueueMany(entries: readonly NewEntry[], room: Room) {
    const fx = new Changes();
    const results: QueuedOne[] = [];
    for (const entry of entries) {
      const slot = this.queue(entry, room, fx);
      results.push(slot === null ? UNKNOWN_AGENT : "ok" in slot ? slot : { ok: true, id: entry.msg.id });
    }
    return { results, effects: fx.effects };
  }

  async broadcast(msg: Message, except: string | null, room: Room) {
    const fx = new Changes();
    let recipients = 0;
    for (const id of this.agents.keys()) {
      if (id === except) continue;
      const slot = this.queue({ to: id, priority: "normal", msg }, room, fx);
      if (slot && !("ok" in slot)) recipients++;
    }
    return { recipients, effects: fx.effects };
  }

  async claimNext(agentId: string, conn: string | null, now: number, opts: ClaimOptions) {
    const inbox = this.inboxes.get(agentId);
    if (!inbox || inbox.size === 0) return EMPTY_CLAIM;
    // A connection that is gone takes nothing: what it took would sit in flight until its lease ran out.
    if (conn !== null && !this.agents.get(agentId)?.conns.includes(conn)) return EMPTY_CLAIM;
    const messages: Message[] = [];
    const fx = new Changes();
    while (messages.length < opts.max) {
      const s = inbox.shift(opts.want, this.committedSeq);
      if (!s) break;
      let until = now + opts.ackWindowMs;
      if (s.msg.type === "task") {
        const task = this.tasks.get(s.msg.id);
        if (!task || !DELIVERABLE.includes(task.state)) {
          this.settle(s);
          continue;
        }
        const attempts = task.attempts + 1;
        this.change(task, { state: "delivered", note: notes.attempt(attempts), at: now }, opts.room, fx, { attempts, handedTo: agentId });
        // A copy after the first says so, so a handler can skip work it already did.
        s.msg = attempts > 1 ? { ...s.msg, attempt: attempts, redelivered: true } : { ...s.msg, attempt: attempts };
        until = now + task.leaseS * 1000;
      }
      inbox.fly(s, until, conn);
      this.slotChanged(s);
      messages.push(s.msg);
    }
    if (inbox.flying.size > 0) this.flyingAgents.add(agentId);
    return { messages, effects: fx.effects };
  }

  async ack(agentId: string, ids: readonly string[]) {
    const inbox = this.inboxes.get(agentId);
    if (!inbox) return 0;
    let n = 0;
    for (const id of ids) {
      const s = inbox.land(id);
      if (!s) continue;
      this.settle(s);
      n++;
    }
    if (inbox.flying.size === 0) this.flyingAgents.delete(agentId);
    return n;
  }

  async clearTaskMessages(agentId: string, taskIds: readonly string[]) {
    const inbox = this.inboxes.get(agentId);
    if (!inbox) return 0;
    let n = 0;
    for (const taskId of taskIds) {
      for (const s of inbox.about(taskId)) {
        const gone = s.where === "queued" ? inbox.take(s) : inbox.land(s.msg.id);
        if (!gone) continue;
        this.settle(gone);
        n++;
      }
    }
    if (inbox.flying.size === 0) this.flyingAgents.delete(agentId);
    return n;
  }

  async requeue(agentId: string, ids: readonly string[]) {
    const inbox = this.inboxes.get(agentId);
    if (!inbox) return NO_EFFECTS;
    const fx = new Changes();
    this.requeueSlots(agentId, inbox, ids, fx);
    return fx.effects;
  }

  async requeueExpired(now: number, limit: number, room: Room) {
    const fx = new Changes();
    let requeued = 0;
    for (const agentId of [...this.flyingAgents]) {
      const inbox = this.inboxes.get(agentId)!;
      const due: string[] = [];
      for (const s of inbox.flying.values()) {
        if (requeued >= limit) break;
        if (s.until > now) continue;
        requeued++;
        if (s.msg.type !== "task") {
          due.push(s.msg.id);
          continue;
        }
        // A task out on a socket that is still attached is being worked on: its lease renews by itself.
        if (s.conn !== null && this.agents.get(agentId)?.conns.includes(s.conn)) {
          const held = this.tasks.get(s.msg.id);
          if (held && !isFinal(held.state)) {
            requeued--;
            s.until = now + held.leaseS * 1000;
            continue;
          }
        }
        // A task goes back only if still merely delivered; past that (working, finished) its copy is dropped.
        const task = this.tasks.get(s.msg.id);
        if (task?.state !== "delivered") {
          this.settle(inbox.land(s.msg.id)!);
          continue;
        }
        this.change(task, { state: "queued", note: notes.leaseRanOut(task.leaseS), at: now }, room, fx);
        due.push(s.msg.id);
      }
      this.requeueSlots(agentId, inbox, due, fx);
      if (requeued >= limit) break;
    }
    return { requeued, effects: fx.effects };
  }

  async countWaiting(agentId: string) {
    return this.inboxes.get(agentId)?.size ?? 0;
  }

  async countInFlight(agentId: string) {
    return this.inboxes.get(agentId)?.flying.size ?? 0;
  }
}
