/** Tools about tasks: delegating one (and waiting for it), following it, and answering the ones you hold. */
import * as v from "valibot";
import { renderTask } from "../../client/render";
import { waitForTask } from "../../client/wait";
import { usage } from "../../commands/_shared";
import { LIMIT } from "../../protocol/constants";
import { Id, SendProgress, SendResponse, SendTask, type ResponseMessage, type Task } from "../../protocol/schemas";
import type { AgentSession } from "../agent";
import { args, describe } from "../schema";
import { defineTool, type Call, type Outcome } from "./_tool";

const TaskId = describe(Id, "The task id (t_…), as delegate or inbox gave it");
const Timeout = describe(v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(LIMIT.waitS)), 300), "Give up waiting after this many seconds (the task runs on)");

export const delegate = defineTool({
  name: "delegate",
  description:
    "Send a task to another agent: to one by name (to), or to the least busy online agent with a capability (cap). Say in task what to do, with everything it needs in context. With wait: true, block until the task ends and return its result (after timeout_s it keeps running: follow it with wait_task). Without wait, return the task id at once; the response arrives in your inbox and is announced.",
  args: args({
    to: describe(SendTask.entries.to, "The agent to do it, by name or id (or give cap instead)"),
    cap: describe(SendTask.entries.cap, "Instead of to: any online agent with this capability, e.g. code-review"),
    task: describe(SendTask.entries.task, "What to do, in words the other agent can act on"),
    context: describe(SendTask.entries.context, "A JSON object with whatever the task needs (files, branch, constraints)"),
    priority: describe(SendTask.entries.priority, "urgent, high, normal or low"),
    wait: describe(v.optional(v.boolean(), false), "Block until the task ends and return its result"),
    timeout_s: Timeout,
    lease_s: describe(SendTask.entries.lease_s, "Seconds the recipient has to take the task before it is delivered again"),
    ttl_s: describe(SendTask.entries.ttl_s, "Expire the task if it is not delivered within this many seconds"),
    idempotency_key: describe(SendTask.entries.idempotency_key, "Sending again with the same key returns the first task instead of a second one"),
    queue: describe(SendTask.entries.queue, "With cap: keep the task until an agent with that capability registers"),
  }),
  async run(s, { wait, timeout_s, ...a }, call) {
    if ((a.to === undefined) === (a.cap === undefined)) throw usage("delegate: pass exactly one of to (an agent) and cap (a capability)", "discover lists the agents and their capabilities");
    if (a.queue && a.cap === undefined) throw usage("delegate: queue goes with cap", "drop queue, or route by cap instead of to");
    s.ctx.me();
    const sent = await s.ctx.client.send({ type: "task", ...a });
    if (!wait) {
      // The worker by the name the model gave it (with the relay's id), as discover shows it.
      const where = sent.to ? ` to ${a.to && !a.to.startsWith("a_") ? `${a.to} (${sent.to})` : sent.to}` : " (kept until an agent with that capability registers)";
      return { data: sent, text: `${sent.duplicate ? "already sent as" : "sent task"} ${sent.id}${where}; its response will arrive in your inbox, or wait for it with wait_task (id ${sent.id})` };
    }
    return await waitFor(s, sent.id, timeout_s, call);
  },
});

export const taskStatus = defineTool({
  name: "task_status",
  description: "Show one task you sent or hold: its state (queued, delivered, working, completed, failed, canceled, expired), its holder and whether that agent is online, its history, attempts and result.",
  readOnly: true,
  args: args({ id: TaskId }),
  async run(s, a) {
    s.ctx.me();
    const task = await s.ctx.client.task(a.id);
    return { data: task, text: renderTask(task).trimEnd() };
  },
});

export const waitTask = defineTool({
  name: "wait_task",
  description: "Block until a task you sent ends (completed, failed, canceled or expired), or timeout_s passes, and return its result. What it shows is taken from your inbox.",
  args: args({ id: TaskId, timeout_s: Timeout }),
  async run(s, a, call) {
    s.ctx.me();
    return await waitFor(s, a.id, a.timeout_s, call);
  },
});

/** Follows a task to its end, reporting its changes (and that it is still waited on) as progress. */
async function waitFor(s: AgentSession, id: string, timeoutS: number, call: Call): Promise<Outcome> {
  const release = s.mailbox.await(id);
  const started = Date.now();
  let state = "sent";
  const alive = setInterval(() => call.progress(`still waiting for task ${id} (${state}, ${Math.round((Date.now() - started) / 1000)}s)`), 20_000);
  try {
    const { task, response } = await waitForTask(s.ctx.client, id, timeoutS * 1000, {
      signal: call.signal,
      onUpdate(t) {
        state = t.state;
        const note = t.state === "working" && t.note ? t.note : t.history.at(-1)?.note;
        call.progress(`task ${id} is ${t.state}${note ? `: ${note}` : ""}`);
      },
    });
    s.mailbox.settle(id);
    return { data: { task, response }, text: renderOutcome(task, response) };
  } finally {
    clearInterval(alive);
    release();
  }
}

function renderOutcome(task: Task, response: ResponseMessage | null): string {
  const from = task.holder?.name ? `${task.holder.name} (${task.to})` : task.to;
  if (response) return `task ${task.id} ${task.state}; the result from ${from}:\n${response.result}`;
  return `task ${task.id} ${task.state}${task.history.at(-1)?.note ? `: ${task.history.at(-1)!.note}` : ""}`;
}

export const respond = defineTool({
  name: "respond",
  description:
    "Answer a task you received with your result; status failed says you could not do it. This ends the task and sends the result to whoever delegated it. To reply to a broadcast or another message that is not a task, also give to.",
  args: args({
    id: describe(SendResponse.entries.in_reply_to, "The id of the task (or message) you answer"),
    result: describe(SendResponse.entries.result, "Your answer, as text"),
    status: describe(SendResponse.entries.status, "completed, or failed if you could not do it"),
    to: describe(SendResponse.entries.to, "Only when replying to a message that is not a task: its sender"),
  }),
  async run(s, a) {
    s.ctx.me();
    const sent = await s.ctx.client.send({ type: "response", in_reply_to: a.id, result: a.result, status: a.status, ...(a.to ? { to: a.to } : {}) });
    s.mailbox.answered(a.id);
    return { data: sent, text: `sent response ${sent.id} to ${sent.to}` };
  },
});

export const progress = defineTool({
  name: "progress",
  description: "Tell the sender of a task you hold that you are working on it, with a note. The task becomes working and is no longer delivered again; use it when work takes more than a few minutes.",
  args: args({
    id: describe(SendProgress.entries.in_reply_to, "The id of the task you hold"),
    note: describe(SendProgress.entries.note, "What you have done so far"),
  }),
  async run(s, a) {
    s.ctx.me();
    const sent = await s.ctx.client.send({ type: "progress", in_reply_to: a.id, note: a.note });
    s.mailbox.answered(a.id);
    return { data: sent, text: `progress sent to ${sent.to}` };
  },
});

export const cancel = defineTool({
  name: "cancel",
  description: "Call off a task you sent that has not ended; the agent holding it is told.",
  args: args({ id: TaskId }),
  async run(s, a) {
    s.ctx.me();
    // The relay's word that the task was canceled is this call's answer, not news to announce to the one who canceled it.
    const release = s.mailbox.await(a.id);
    try {
      const task = await s.ctx.client.cancel(a.id);
      s.mailbox.dismiss(a.id);
      return { data: task, text: `task ${task.id} canceled` };
    } finally {
      release();
    }
  },
});
