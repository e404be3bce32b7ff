/**
 * What a task's sender is told about its holder: the relay notes `holder NAME went offline; …` in
 * the task's history when it takes a task back (docs/protocol.md), and shows the holder's status.
 */
import type { Task } from "../protocol/schemas";
import { ago } from "./render";

const LOST = /^holder (.+?) went offline; (.*)$/;

/** A holder lost, read from one history note: who, and who has the task now (null: nobody yet). */
export interface HolderLost {
  holder: string;
  /** The agent it was reassigned to; null while it waits (for its agent's return, or a capable agent). */
  reassignedTo: string | null;
  /** The rest of the note: "reassigned to carol", "delivered again when bob returns", "waiting for an agent with x". */
  then: string;
}

export function holderLost(note: string): HolderLost | undefined {
  const m = LOST.exec(note);
  if (!m) return undefined;
  const to = /^reassigned to (.+)$/.exec(m[2]!);
  return { holder: m[1]!, reassignedTo: to ? to[1]! : null, then: m[2]! };
}

/** Follows task snapshots; calls `onLost` once for every holder loss the history records after the first snapshot. */
export function followHolder(onLost: (lost: HolderLost, task: Task) => void) {
  let seen: number | undefined;
  return (task: Task) => {
    const from = seen ?? task.history.length;
    seen = task.history.length;
    for (const h of task.history.slice(from)) {
      const lost = holderLost(h.note);
      if (lost) onLost(lost, task);
    }
  };
}

/** Where a task is, in one line: its state, and its holder with whether it can be reached, and since when. */
export function whereIs(task: Task, now = Date.now()): string {
  const h = task.holder;
  if (!h) return task.to === null ? `${task.state}, waiting for an agent with ${task.cap}` : `${task.state}, for ${task.to}`;
  const how =
    h.status === "listening"
      ? `listening since ${h.since}`
      : h.online
        ? `online, seen ${ago(h.since, now)}`
        : `offline since ${h.since} (${ago(h.since, now)})`;
  // A queued task waits for its agent; only one delivered to it is held.
  return task.state === "queued" ? `queued for ${h.name} (${how})` : `${task.state}, held by ${h.name} (${how})`;
}
