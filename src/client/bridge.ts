/** One ClawLink task through an external A2A agent: sent with SendMessage, followed with GetTask, answered with what it made. */
import { ClawlinkError } from "../errors";
import { logger } from "../logger";
import { printable } from "./render";
import { A2A_INTERRUPTED, A2A_TERMINAL, type Task } from "../protocol/a2a";
import { LIMIT } from "../protocol/constants";
import { FINAL_STATES, type TaskMessage } from "../protocol/schemas";
import { A2AClient, artifactsText, partsText } from "./a2a";
import { backoffMs, isTransient } from "./backoff";
import type { Client } from "./client";
import { sendPersistently } from "./deliver";

const POLL_MS = 1000;
/** Tries of one call to the agent while it is unreachable or answers 5xx or 429 (about half a minute in all). */
const TRIES = 7;
const MAX_RESULT = 1_000_000;

export interface Bridge {
  agent: A2AClient;
  /** The agent's name, for notes and errors. */
  name: string;
  relay: Client;
  stopping(): boolean;
  /** Aborted when the bridge stops: calls in flight give up. */
  signal: AbortSignal;
}

async function retrying<T>(b: Bridge, what: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err) || attempt >= TRIES || b.stopping()) throw err;
      if (attempt === 1) logger.warn(printable(`${what}: ${(err as Error).message}; retrying`));
      await Bun.sleep(backoffMs(attempt));
    }
  }
}

/** How an A2A task that stopped ends the ClawLink task. */
function outcome(b: Bridge, t: Task): { status: "completed" | "failed"; result: string } {
  const note = partsText(t.status.message?.parts);
  const state = t.status.state;
  if (state === "TASK_STATE_COMPLETED") return { status: "completed", result: artifactsText(t.artifacts) || note };
  if (A2A_INTERRUPTED.has(state)) return { status: "failed", result: `${b.name} asks for more input, which a ClawLink task cannot give${note ? `: ${note}` : ""}` };
  if (state === "TASK_STATE_CANCELED") return { status: "failed", result: `${b.name} canceled the task${note ? `: ${note}` : ""}` };
  return { status: "failed", result: note || artifactsText(t.artifacts) || `${b.name} reported ${state}` };
}

/** Forwards `m` and answers it; returns without answering when the bridge stops or the task was called off. */
export async function forwardTask(b: Bridge, m: TaskMessage): Promise<void> {
  const respond = (status: "completed" | "failed", result: string) =>
    sendPersistently(b.relay, { type: "response", in_reply_to: m.id, status, result: result.length > MAX_RESULT ? result.slice(0, MAX_RESULT - 1) + "…" : result }, m.id, b.stopping);
  const progress = (note: string) => b.relay.send({ type: "progress", in_reply_to: m.id, note: note.slice(0, LIMIT.noteLength) }).catch((e) => logger.warn(printable(`progress on ${m.id}: ${(e as Error).message}`)));

  // The ClawLink task id is the messageId: a task delivered again is the same message to an agent that dedupes.
  const message = {
    messageId: m.id,
    role: "ROLE_USER",
    parts: [{ text: m.task }, ...(Object.keys(m.context).length ? [{ data: m.context, mediaType: "application/json" }] : [])],
    metadata: { clawlink: { taskId: m.id, from: m.from } },
  };
  let task: Task;
  try {
    const answer = await retrying(b, `sending ${m.id} to ${b.name}`, () => b.agent.sendMessage(message, b.signal));
    if ("message" in answer) return await respond("completed", partsText(answer.message.parts));
    task = answer.task;
  } catch (err) {
    if (b.stopping()) return;
    // A refused credential fails every task alike: whoever runs the bridge must hear of it.
    if (err instanceof ClawlinkError && err.code === "a2a_unauthorized") logger.error(printable(`${m.id}: ${err.message} (${err.hint})`));
    return await respond("failed", `${b.name} did not take the task: ${(err as Error).message}${err instanceof ClawlinkError && err.code === "a2a_unauthorized" ? `; ${err.hint}` : ""}`);
  }
  logger.info(printable(`${m.id} → ${b.name} task ${task.id}`));
  let said = "";
  for (;;) {
    const state = task.status.state;
    if (A2A_TERMINAL.has(state) || A2A_INTERRUPTED.has(state)) {
      const { status, result } = outcome(b, task);
      logger.info(printable(`${m.id} ${status} (${b.name}: ${state})`));
      return await respond(status, result);
    }
    const note = partsText(task.status.message?.parts);
    if (`${state}\n${note}` !== said) {
      said = `${state}\n${note}`;
      await progress(note ? `${b.name}: ${note}` : `${b.name} has it (${state.replace("TASK_STATE_", "").toLowerCase()}, its task ${task.id})`);
    }
    await Bun.sleep(POLL_MS);
    if (b.stopping()) return;
    // Called off on the ClawLink side (canceled, expired): call it off over there too.
    const here = await b.relay.task(m.id).catch(() => undefined);
    if (here && FINAL_STATES.has(here.state)) {
      logger.info(printable(`${m.id} was ${here.state}; canceling ${b.name} task ${task.id}`));
      await b.agent.cancelTask(task.id).catch((e) => logger.warn(printable(`CancelTask ${task.id}: ${(e as Error).message}`)));
      return;
    }
    try {
      task = await retrying(b, `following ${b.name} task ${task.id}`, () => b.agent.getTask(task.id, b.signal));
    } catch (err) {
      if (b.stopping()) return;
      return await respond("failed", `lost track of ${b.name} task ${task.id}: ${(err as Error).message}`);
    }
  }
}
