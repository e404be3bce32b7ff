/** SendStreamingMessage and SubscribeToTask: one task's life as Server-Sent Events, closed when the task ends. */
import { FINAL_STATES, type Task } from "../../protocol/schemas";
import type { Caller, Operations } from "./operations";
import type { Call } from "./rest";
import { a2aTask, artifactOf, contextIdOf, statusOf } from "./views";

/** A comment line every so often keeps proxies and idle timers from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000;

// The connection ends with the stream: it was exempted from the idle timeout while the task ran.
export const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "close" };

/**
 * Streams the task first, then a status update each time its A2A state or status text changes; a
 * completed task's artifact comes just before its final status. `frame` wraps each StreamResponse
 * for the binding (a JSON-RPC response, or the bare object). A reader that falls `streamBufferBytes`
 * behind is cut off rather than buffered for; `release` gives the connection's place back when the stream ends.
 */
export function taskStream(ops: Operations, caller: Caller, taskId: string, frame: (response: object) => string, call: Pick<Call, "signal" | "streamBufferBytes" | "cutOff">, release: () => void): Response {
  const { signal, streamBufferBytes } = call;
  const encoder = new TextEncoder();
  let stop: (() => void) | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  const cleanup = () => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    stop?.();
    release();
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        let last: string | undefined;
        const finish = () => {
          if (closed) return;
          cleanup();
          controller.close();
        };
        // Below zero, desiredSize is what the connection has not taken yet: the socket's buffers are full.
        const enqueue = (text: string) => {
          if (closed) return;
          controller.enqueue(encoder.encode(text));
          if ((controller.desiredSize ?? 0) >= -streamBufferBytes) return;
          cleanup();
          controller.error(new Error("the reader fell too far behind"));
          call.cutOff();
        };
        const send = (response: object) => enqueue(frame(response));
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
          if (FINAL_STATES.has(t.state) && !closed) {
            ops.seen(caller, t);
            finish();
          }
        };
        timer = setInterval(() => enqueue(": keep-alive\n\n"), KEEP_ALIVE_MS);
        signal.addEventListener("abort", cleanup);
        ops.follow(caller, taskId, push).then((unwatch) => {
          if (closed) unwatch();
          else stop = unwatch;
        }, finish);
      },
      cancel: cleanup,
    },
    { highWaterMark: 0, size: (chunk) => chunk?.byteLength ?? 0 },
  );
  return new Response(body, { headers: SSE_HEADERS });
}

export const sseData = (json: unknown) => `data: ${JSON.stringify(json)}\n\n`;
