/** SendStreamingMessage and SubscribeToTask: one task's life as Server-Sent Events, closed when the task ends. */
import { FINAL_STATES, type Task } from "../../protocol/schemas";
import type { Caller, Operations } from "./operations";
import { a2aTask, artifactOf, contextIdOf, statusOf } from "./views";

/** A comment line every so often keeps proxies and idle timers from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000;

// The connection ends with the stream: it was exempted from the idle timeout while the task ran.
export const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "close" };

/**
 * Streams the task first, then a status update each time its A2A state or status text changes; a
 * completed task's artifact comes just before its final status. `frame` wraps each StreamResponse
 * for the binding (a JSON-RPC response, or the bare object).
 */
export function taskStream(ops: Operations, caller: Caller, taskId: string, frame: (response: object) => string, signal: AbortSignal): Response {
  const encoder = new TextEncoder();
  let stop: (() => void) | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  const cleanup = () => {
    closed = true;
    clearInterval(timer);
    stop?.();
  };
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let last: string | undefined;
      const send = (response: object) => controller.enqueue(encoder.encode(frame(response)));
      const end = (t: Task) => {
        ops.seen(caller, t);
        cleanup();
        controller.close();
      };
      const push = (t: Task) => {
        if (closed) return;
        const status = statusOf(t);
        const key = `${status.state}\n${status.message?.parts[0]?.text ?? ""}`;
        if (last === undefined) send({ task: a2aTask(t) });
        else if (key !== last) {
          const artifact = artifactOf(t);
          if (artifact) send({ artifactUpdate: { taskId: t.id, contextId: contextIdOf(t), artifact, lastChunk: true } });
          send({ statusUpdate: { taskId: t.id, contextId: contextIdOf(t), status } });
        }
        last = key;
        if (FINAL_STATES.has(t.state)) end(t);
      };
      timer = setInterval(() => controller.enqueue(encoder.encode(": keep-alive\n\n")), KEEP_ALIVE_MS);
      signal.addEventListener("abort", cleanup);
      ops.follow(caller, taskId, push).then(
        (unwatch) => {
          if (closed) unwatch();
          else stop = unwatch;
        },
        () => {
          cleanup();
          controller.close();
        },
      );
    },
    cancel: cleanup,
  });
  return new Response(body, { headers: SSE_HEADERS });
}

export const sseData = (json: unknown) => `data: ${JSON.stringify(json)}\n\n`;
