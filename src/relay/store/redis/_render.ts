/**
 * What a script writes, rendered here as text: JSON costs the relay far less to write than Lua on the
 * server, which every relay shares. The script splices in only what depends on what the store holds.
 */
import { iso } from "../../clock";
import { notes } from "../rules";
import type { NewTask } from "../port";

/**
 * `create_task`'s arguments: what it decides with (`args`), and what it writes (`texts`, arguments of
 * their own): the task's record as kept but for its holder, state, history and weight (open, ending
 * with `"_w":`); the message that carries it, in three parts around its holder's id and its attempt;
 * and its context as sent. Numbers the script only passes on are text, so Redis need not format them.
 */
export function renderTask(task: NewTask) {
  const { id, from, cap, priority, leaseS, ttlS, createdAt, idempotencyKey } = task;
  // Lua's JSON cannot read a lone surrogate back (`\ud800`). The relay refuses one where it comes in
  // (codec.ts); the store, whoever calls it, keeps no record that no script could read.
  if (!task.task.isWellFormed() || (idempotencyKey !== null && !idempotencyKey.isWellFormed())) throw new Error("the Redis store cannot keep a task whose text or idempotency key holds a lone UTF-16 surrogate");
  const at = iso(createdAt);
  const rec = JSON.stringify({ id, from, cap, task: task.task, priority, leaseS, ttlS, createdAt, updatedAt: createdAt, idempotencyKey, _iso: at, note: null, result: null, responseId: null });
  const ctx = JSON.stringify(task.context);
  // rules.ts: taskMessage, field for field.
  const head = `{"type":"task","id":${JSON.stringify(id)},"from":${JSON.stringify(from)},"to":`;
  const mid = `,"created_at":"${at}","task":${JSON.stringify(task.task)},"context":${ctx},"priority":"${priority}","attempt":`;
  const args = {
    t: { id, from, to: task.to, cap, priority, leaseS, key: idempotencyKey, at: String(createdAt), ttlAt: ttlS === null ? null : String(createdAt + ttlS * 1000), leaseAt: String(createdAt + leaseS * 1000) },
    note: task.to === null ? JSON.stringify(notes.waitingFor(cap ?? "")) : null,
  };
  return { args, texts: [`${rec.slice(0, -1)},"_w":`, head, mid, `,"lease_s":${leaseS}}`, ctx] };
}
