/** Following one task over the WebSocket until it ends: what `delegate --wait` blocks on. */
import { ClawlinkError, asClawlinkError } from "../errors";
import { safeParse } from "../protocol/codec";
import { FINAL_STATES, ServerFrame, type ResponseMessage, type Task } from "../protocol/schemas";
import { ERRORS, isErrorCode } from "../protocol/errors";
import type { Client } from "./client";
import { unreachable } from "./failures";
import { backoffMs, isTransient } from "./backoff";

export interface TaskOutcome {
  task: Task;
  response: ResponseMessage | null;
}

export interface WaitOptions {
  /** Called with the task on every change before it ends. */
  onUpdate?(task: TaskOutcome["task"]): void;
  /** Gives up when aborted, rejecting with code `aborted`; the task itself runs on. */
  signal?: AbortSignal;
}

/** Resolves with the task once it is completed, failed, canceled or expired; rejects with code `timeout` after `timeoutMs`. */
export function waitForTask(client: Client, taskId: string, timeoutMs: number, opts: WaitOptions = {}): Promise<TaskOutcome> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    let done = false;
    let retries = 0;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.close();
      fn();
    };
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(new ClawlinkError("timeout", `task ${taskId} did not finish within ${timeoutMs / 1000}s`, `it keeps running; check it with \`clawlink task --id ${taskId}\``)),
        ),
      timeoutMs,
    );
    opts.signal?.addEventListener(
      "abort",
      () => finish(() => reject(new ClawlinkError("aborted", `stopped waiting for task ${taskId}`, `it keeps running; check it with \`clawlink task --id ${taskId}\``))),
      { once: true },
    );
    const open = () => {
      let greeted = false;
      let passing = false;
      ws = client.socket({ task: taskId });
      ws.onmessage = (ev) => {
        greeted = true;
        retries = 0;
        const parsed = safeParse(ServerFrame, JSON.parse(String(ev.data)));
        if (!parsed.success) return;
        const f = parsed.output;
        if (f.op === "task") {
          if (FINAL_STATES.has(f.task.state)) {
            // What the watch showed need not be read again from the inbox.
            ws.send(JSON.stringify({ op: "ack", tasks: [taskId] }));
            finish(() => resolve({ task: f.task, response: f.response }));
          } else opts.onUpdate?.(f.task);
        } else if (f.op === "error") {
          const err = ClawlinkError.received(f.error.code, isErrorCode(f.error.code) ? ERRORS[f.error.code].status || 404 : 404, f.error.message, f.error.hint);
          // A relay whose store is away for a moment: the watch is tried again, as after a dropped connection.
          if (isTransient(err)) passing = true;
          else finish(() => reject(err));
        }
      };
      ws.onclose = (ev) => {
        if (done) return;
        if (ev.code === 4004 && !passing) return; // the error frame already explained it
        passing = false;
        if (ev.code === 4001) {
          return finish(() =>
            reject(new ClawlinkError("not_registered", `this agent was unregistered while waiting for task ${taskId}`, "register again with `clawlink register --name NAME`; the task itself may still run")),
          );
        }
        // The relay went away or the connection dropped: try again with backoff until the timeout,
        // unless the relay answers but no longer knows the task (it restarted in memory).
        const delay = backoffMs(retries++);
        if (retries > 12) return finish(() => reject(unreachable(client.relay, undefined, client.opts.relayFrom)));
        setTimeout(async () => {
          if (done) return;
          // A socket refused at the upgrade says nothing: over a connection limit, say so rather than retry blindly until the timeout.
          const why = greeted ? undefined : await client.socketRefusal({ task: taskId });
          if (why?.status === 429) {
            const hint = `${why.hint ? `${why.hint}; ` : ""}the task keeps running: check it with \`clawlink task --id ${taskId}\``;
            return finish(() => reject(new ClawlinkError(why.code, `cannot follow task ${taskId}: ${why.message}`, hint, { status: why.status })));
          }
          const failed = await client.task(taskId).then(() => undefined, (err: unknown) => asClawlinkError(err));
          if (failed === undefined || isTransient(failed)) return !done && open();
          if (failed.code !== "not_registered" && failed.code !== "unknown_task") return finish(() => reject(failed));
          finish(() =>
            reject(
              new ClawlinkError(
                "task_lost",
                `the relay lost task ${taskId}; it was not finished — send it again (the relay at ${client.relay} restarted, or its store was emptied)`,
                "run `clawlink heartbeat` to register again, then send the task again (a relay with --data, or Redis with appendonly yes, keeps tasks across restarts)",
              ),
            ),
          );
        }, delay);
      };
    };
    open();
  });
}
