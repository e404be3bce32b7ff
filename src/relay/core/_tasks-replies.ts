/** The layer of Tasks for plain replies: a response to a broadcast or any other message that is not a task, alone or many at once. */
import type { ClawlinkError } from "../../errors";
import type { Message, SendMessage, Sent } from "../../protocol/schemas";
import { iso } from "../clock";
import { newSortableId } from "../ids";
import type { AgentRecord, NewEntry, QueuedOne } from "../store/port";
import { announce } from "./announce";
import { unknownAgent, unknownAgentError } from "./registry";
import { noRoom, TaskSending, type SendResponse } from "./_tasks-sending";

/** What became of one message of a batch. */
export type Outcome = { readonly ok: true; readonly sent: Sent } | { readonly ok: false; readonly error: unknown };

function replyMessage(sender: AgentRecord, to: AgentRecord, msg: SendResponse, createdAt: string): Message {
  return { type: "response", id: newSortableId("m"), from: sender.id, to: to.id, created_at: createdAt, in_reply_to: msg.in_reply_to, status: msg.status, result: msg.result };
}

/** A response whose id names no task and no recipient: most often a mistyped task id, less often a reply without `--to`. */
const NOT_A_TASK_HINT = "answer a task id from your own `clawlink poll` or `listen` (`clawlink tasks --held` lists the tasks you hold); to reply to a broadcast or another message, also pass --to AGENT";

export abstract class TaskReplies extends TaskSending {
  /** A reply to a broadcast or any other message: a plain response to a named agent. */
  protected async reply(sender: AgentRecord, msg: SendResponse): Promise<Sent> {
    if (msg.to === undefined) throw this.forgetting.missing(sender.id, msg.in_reply_to, NOT_A_TASK_HINT);
    const to = (await this.store.findAgent(msg.to)) ?? unknownAgent(msg.to);
    const message = replyMessage(sender, to, msg, iso(this.clock()));
    const r = await this.store.enqueueIfRoom({ to: to.id, priority: "normal", msg: message }, this.opts.room);
    if (!r.ok) throw this.refusedReply(r, msg);
    announce(this.bus, r.effects);
    return { id: message.id, to: to.id };
  }

  /** Whether `msg` is a plain reply, which `replyMany` can queue with others. */
  static isPlainReply(msg: SendMessage): msg is SendResponse {
    return msg.type === "response" && !msg.in_reply_to.startsWith("t_");
  }

  /** The recipients plain replies name, looked up once each; for `replyMany`. */
  async recipients(msgs: readonly SendMessage[]): Promise<Map<string, AgentRecord | undefined>> {
    const found = new Map<string, AgentRecord | undefined>();
    for (const msg of msgs) {
      if (TaskReplies.isPlainReply(msg) && msg.to !== undefined && !found.has(msg.to)) found.set(msg.to, await this.store.findAgent(msg.to));
    }
    return found;
  }

  /**
   * Plain replies of one sender (see isPlainReply) to the recipients `found` looked up, queued in one
   * store step, which starts before this returns (so calls keep their order); each outcome is what
   * `respond` would give the message alone.
   */
  async replyMany(sender: AgentRecord, msgs: readonly SendResponse[], found: ReadonlyMap<string, AgentRecord | undefined>): Promise<Outcome[]> {
    const out: Outcome[] = new Array(msgs.length);
    const entries: NewEntry[] = [];
    const at: number[] = [];
    const now = iso(this.clock());
    for (let i = 0; i < msgs.length; i++) {
      const msg = msgs[i]!;
      if (msg.to === undefined) {
        out[i] = { ok: false, error: this.forgetting.missing(sender.id, msg.in_reply_to, NOT_A_TASK_HINT) };
        continue;
      }
      const to = found.get(msg.to);
      if (!to) {
        out[i] = { ok: false, error: unknownAgentError(msg.to) };
        continue;
      }
      entries.push({ to: to.id, priority: "normal", msg: replyMessage(sender, to, msg, now) });
      at.push(i);
    }
    const { results, effects } = await this.store.enqueueMany(entries, this.opts.room);
    announce(this.bus, effects);
    for (let k = 0; k < at.length; k++) {
      const r = results[k]!;
      const i = at[k]!;
      out[i] = r.ok ? { ok: true, sent: { id: r.id, to: entries[k]!.to } } : { ok: false, error: this.refusedReply(r, msgs[i]!) };
    }
    return out;
  }

  private refusedReply(r: Exclude<QueuedOne, { ok: true }>, msg: SendResponse): ClawlinkError {
    return r.refused === "unknown_agent" ? unknownAgentError(msg.to!) : noRoom(r, this.opts.room);
  }
}
