/**
 * The layer of Tasks for changes of state after a task is made: its holder answers it (completed or
 * failed) or reports progress, its sender or the operator cancels it. Each is one compare-and-set in the
 * store; a refusal says why, and a task that finishes may make the oldest finished one give way.
 */
import { badRequest, conflict, forbidden, notFound, type ClawlinkError } from "../../errors";
import type { Sent, Task, TaskState } from "../../protocol/schemas";
import { iso } from "../clock";
import { newSortableId } from "../ids";
import { unlessStoreUnavailable, type AgentRecord, type FinishedKept, type TaskChanged, type TaskRecord } from "../store/port";
import { isFinal, receivedBy } from "../store/rules";
import { announce } from "./announce";
import { responseMessage, taskView } from "./views";
import { TaskReplies } from "./_tasks-replies";
import { noRoom, type SendResponse } from "./_tasks-sending";

const UNFINISHED: readonly TaskState[] = ["queued", "delivered", "working"];
/** What its holder may answer: a task queued again for it (it went offline meanwhile) was handed to it before, and its work counts. */
const ANSWERABLE: readonly TaskState[] = ["queued", "delivered", "working"];

/** Only the holder may answer or report on a task, only while it holds it, and only once it was handed to it. */
function checkHolder(task: TaskRecord, sender: AgentRecord, verb: string) {
  if (task.to !== sender.id) throw takenFrom(task, sender, verb) ?? forbidden(`only the agent holding task ${task.id} can ${verb} it`, "`clawlink tasks --held` lists the tasks you hold");
  if (isFinal(task.state)) throw conflict("task_finished", `task ${task.id} is already ${task.state}`, "nothing more can be sent about it");
  if (receivedBy(task) !== sender.id) throw conflict("task_not_delivered", `task ${task.id} has not been delivered to you yet`, "poll or listen to receive it first");
}

/** The refusal for an agent a task was taken from when it went offline (its history says so, or it was the last handed the task). */
function takenFrom(task: TaskRecord, sender: AgentRecord, verb: string): ClawlinkError | undefined {
  // The note's prefix is part of the protocol (docs/protocol.md, Holders that go offline).
  const entry = task.history.findLast((h) => h.note.startsWith(`holder ${sender.name} went offline; `));
  if (!entry && receivedBy(task) !== sender.id) return undefined;
  return conflict(
    "task_reassigned",
    `task ${task.id} was reassigned (${entry?.note ?? "its holder went offline"}), so ${sender.name} can no longer ${verb} it`,
    "nothing you send about it is kept: its sender gets the answer of the agent holding it now; `clawlink tasks --held` lists the tasks you hold",
  );
}

export abstract class TaskChanges extends TaskReplies {
  /** The holder answers: the task ends completed or failed, and the sender gets the response. A reply to any other message goes to `to`. */
  respond(sender: AgentRecord, msg: SendResponse): Promise<Sent> {
    // Ids name their kind: only a `t_` id can be a task's, so a plain reply need not look for one.
    return msg.in_reply_to.startsWith("t_") ? this.answer(sender, msg) : this.reply(sender, msg);
  }

  /**
   * The holder's answer in one store step: the task is not read first, the store addresses the response
   * to its sender, and a refusal says why with the task as it is. An answer naming its recipient (`to`)
   * has it checked against the task first.
   */
  private async answer(sender: AgentRecord, msg: SendResponse): Promise<Sent> {
    if (msg.to !== undefined) return this.answerNamed(sender, msg);
    const id = newSortableId("m");
    const now = this.clock();
    const r = await this.store.transitionTask(msg.in_reply_to, ANSWERABLE, {
      ...this.answered(sender, msg, id, now),
      handedOut: true,
      reply: { type: "response", id, from: sender.id, to: "", created_at: iso(now), in_reply_to: msg.in_reply_to, status: msg.status, result: msg.result },
    });
    // Not a task's id: a plain reply, which without a recipient says what became of the task.
    if (!r.ok && r.refused === "unknown_task") return this.reply(sender, msg);
    this.settled(r, sender, "respond to");
    await this.forgetPastCount(r.finished);
    return { id, to: r.task.from };
  }

  private async answerNamed(sender: AgentRecord, msg: SendResponse): Promise<Sent> {
    const task = await this.store.getTask(msg.in_reply_to);
    if (!task) return this.reply(sender, msg);
    checkHolder(task, sender, "respond to");
    if (msg.to !== undefined && msg.to !== task.from && (await this.store.getAgentByName(msg.to))?.id !== task.from) {
      throw badRequest(`task ${task.id} came from ${task.from}, not ${msg.to}`, "leave out --to; the response goes to whoever sent the task");
    }
    const id = newSortableId("m");
    const now = this.clock();
    const r = await this.store.transitionTask(task.id, ANSWERABLE, {
      ...this.answered(sender, msg, id, now),
      handedOut: true,
      messages: [{ to: task.from, priority: task.priority, msg: responseMessage(task, id, msg.status, msg.result, now) }],
    });
    this.settled(r, sender, "respond to");
    await this.forgetPastCount(r.finished);
    return { id, to: task.from };
  }

  /** What an answer changes on its task, whichever way its response is addressed. */
  private answered(sender: AgentRecord, msg: SendResponse, responseId: string, at: number) {
    return {
      state: msg.status,
      note: msg.status === "failed" ? "the assignee reported failure" : "",
      at,
      holder: sender.id,
      result: msg.result,
      responseId,
      withdraw: true,
      room: this.opts.room,
    } as const;
  }

  /** The holder reports progress: the task is working, its lease is settled, and the sender hears of it. */
  async progress(sender: AgentRecord, taskId: string, note: string): Promise<Sent> {
    const task = await this.store.getTask(taskId);
    if (!task) throw this.forgetting.missing(sender.id, taskId, "run `clawlink tasks --held` to see the tasks you hold");
    checkHolder(task, sender, "report progress on");
    const id = newSortableId("m");
    const now = this.clock();
    const r = await this.store.transitionTask(task.id, ANSWERABLE, {
      state: task.state === "working" ? undefined : "working",
      note,
      progress: note,
      at: now,
      holder: sender.id,
      handedOut: true,
      withdraw: true,
      messages: [{ to: task.from, priority: task.priority, msg: { type: "progress", id, from: sender.id, to: task.from, created_at: iso(now), in_reply_to: task.id, note } }],
      room: this.opts.room,
    });
    this.settled(r, sender, "report progress on");
    return { id, to: task.from };
  }

  /** Tells the bus what a change by the holder did, or throws the error that explains its refusal. */
  private settled(r: TaskChanged, sender: AgentRecord, verb: string): asserts r is Extract<TaskChanged, { ok: true }> {
    if (r.ok) return announce(this.bus, r.effects);
    if (r.refused === "unknown_task") throw notFound("unknown_task", "the task is gone", "run `clawlink tasks` to see the tasks you hold");
    if (r.refused === "no_room") throw noRoom(r.room, this.opts.room);
    checkHolder(r.task, sender, verb);
    // checkHolder explains every refusal of the holder or the state; this only if the store and it disagreed.
    throw conflict("task_finished", `task ${r.task.id} is already ${r.task.state}`, "nothing more can be sent about it");
  }

  async cancel(agent: AgentRecord, taskId: string, note = ""): Promise<Task> {
    const task = await this.require(agent, taskId);
    if (task.from !== agent.id) throw forbidden(`only the agent that sent task ${task.id} can cancel it`, "ask its sender to cancel it, or respond with --status failed");
    return this.callOff(task, note || "canceled by its sender");
  }

  /** The relay's operator cancels a task, whoever sent it (from the dashboard). */
  async cancelAny(taskId: string, note: string): Promise<Task> {
    const task = await this.store.getTask(taskId);
    if (!task) throw notFound("unknown_task", `no task has the id ${taskId}`, "it may have been removed; reload the task list");
    return this.callOff(task, note);
  }

  private async callOff(task: TaskRecord, note: string): Promise<Task> {
    const r = await this.store.transitionTask(task.id, UNFINISHED, { state: "canceled", note, at: this.clock(), withdraw: true, room: this.opts.room });
    if (!r.ok) throw conflict("task_finished", `task ${task.id} is already ${"task" in r ? r.task.state : "gone"}`, "there is nothing to cancel");
    announce(this.bus, r.effects);
    await this.forgetPastCount(r.finished);
    return taskView(r.task);
  }

  /** The task, if `agent` sent or holds it. */
  async require(agent: AgentRecord, taskId: string): Promise<TaskRecord> {
    const task = await this.store.getTask(taskId);
    if (!task) throw this.forgetting.missing(agent.id, taskId);
    if (task.from !== agent.id && task.to !== agent.id) throw forbidden(`task ${taskId} is neither sent nor held by you`, "an agent can see only its own tasks");
    return task;
  }

  /**
   * Past the count or the bytes, the oldest finished task gives way as soon as another finishes (the change says what is kept).
   * The change is committed by then: a store that refuses this leaves it to the sweep, rather than fail what it confirms.
   */
  protected async forgetPastCount(kept: FinishedKept) {
    const { maxFinished, maxFinishedBytes } = this.opts.retention;
    if (kept.count <= maxFinished && kept.bytes <= maxFinishedBytes) return;
    const pruned = await this.store.pruneTasks(-Infinity, maxFinished, maxFinishedBytes).catch(unlessStoreUnavailable);
    if (pruned) this.forgot(pruned);
  }

  protected forgot(tasks: readonly TaskRecord[]) {
    this.forgetting.forgot(tasks);
    for (const t of tasks) this.bus.publish({ type: "task", id: t.id });
  }
}
