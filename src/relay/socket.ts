/** WebSocket adapter: translates Bun's socket events into calls on the relay's core, and its pushes into frames. */
import type { ServerWebSocket, WebSocketHandler } from "bun";
import { ClawlinkError } from "../errors";
import { describeIssues, safeParse } from "../protocol/codec";
import { ClientFrame, FrameRef, SendMessage, type Message, type MessageType, type ServerFrame } from "../protocol/schemas";
import type { AgentRecord, Connection, Relay, Want } from "./core/relay";
import type { FairShare } from "./fair";

export interface SocketData {
  agent: AgentRecord;
  /** Set for `delegate --wait`: the socket follows one task instead of receiving the inbox. */
  watch: string | null;
  /** Set for `file-watch`: the socket takes only file messages whose key starts with this. */
  files: string | null;
  /** Set for `listen --type`: the socket takes only these message types; the rest stays queued for poll. */
  types: Set<string> | null;
  connection: Connection | null;
  unwatch: Promise<(() => void) | undefined> | null;
  /** Gives back the socket's place under the connection limits. */
  release: () => void;
  /** Closed for sending faster than the relay reads: its frames still waiting are dropped. */
  flooded?: boolean;
}

/** A frame touches its agent's last seen at most this often. */
const SEEN_MS = 1000;

const frame = (f: ServerFrame) => JSON.stringify(f);

function errorFrame(err: unknown, ref?: FrameRef): string {
  const body =
    err instanceof ClawlinkError
      ? err.toJSON().error
      : { code: "internal", message: "the relay could not handle this frame", hint: "retry; if it persists, check the relay's log" };
  return frame({ op: "error", ref, error: body });
}

/** What a socket takes: file changes under a prefix (`file-watch`), some types (`listen --type`), or everything. */
function wantOf(data: SocketData): Want | null {
  if (data.files !== null) return { types: ["file"], filePrefix: data.files };
  if (data.types !== null) return { types: [...data.types] as MessageType[], filePrefix: null };
  return null;
}

/** `backlog`: bytes of frames an agent, and all agents, may have waiting for their share of later turns before a socket is closed. */
export function createSocketHandler(relay: Relay, fair: FairShare, backlog: { perAgent: number; total: number }): WebSocketHandler<SocketData> {
  return {
    // Relay-side bound on what one connection may buffer before `send` reports backpressure.
    backpressureLimit: 4 * 1024 * 1024,
    closeOnBackpressureLimit: false,
    idleTimeout: 120,
    sendPings: true,

    open(ws) {
      const { agent, watch } = ws.data;
      if (watch) {
        ws.send(frame({ op: "hello", agent: relay.view(agent) }));
        ws.data.unwatch = relay
          .watchTask(agent, watch, {
            push: (task, response) => ws.send(frame({ op: "task", task, response })),
            close: (code, reason) => ws.close(code, reason),
          })
          .catch((err) => {
            ws.send(errorFrame(err));
            ws.close(4004, "cannot watch that task");
            return undefined;
          });
        return;
      }
      // The hello goes out once the socket is attached, with the record that says so; messages follow it.
      ws.data.connection = relay.connect(
        agent,
        {
          open: (rec) => ws.send(frame({ op: "hello", agent: relay.view(rec) })),
          push: (message: Message) => ws.send(frame({ op: "message", message })),
          close: (code, reason) => ws.close(code, reason),
        },
        wantOf(ws.data),
      );
    },

    message(ws, raw) {
      const size = typeof raw === "string" ? raw.length : raw.byteLength;
      // One agent's flood of frames waits for its share of later turns instead of holding up everyone's.
      const waiting = fair.waitingFor(ws.data.agent.id);
      if (waiting + size > backlog.perAgent || (waiting > 0 && fair.waitingBytes + size > backlog.total)) {
        // What it sent before waits no more: the client is told to slow down, and those frames go with the socket.
        ws.data.flooded = true;
        ws.close(1008, "frames arrive faster than the relay reads them: wait for answers before sending more");
        return;
      }
      fair.submit(ws.data.agent.id, size, () => handleFrame(ws, raw));
    },

    drain(ws) {
      ws.data.connection?.drained();
    },

    close(ws) {
      ws.data.release();
      void ws.data.unwatch?.then((unwatch) => unwatch?.());
      void ws.data.connection?.close();
    },
  };

  function handleFrame(ws: ServerWebSocket<SocketData>, raw: string | Buffer) {
    if (ws.data.flooded) return;
    const agent = ws.data.agent;
    // The socket was authorized at upgrade; an agent that unregisters since has its sockets closed.
    if (relay.clock() - agent.lastSeen >= SEEN_MS) {
      void relay.touch(agent).then((rec) => {
        if (rec) ws.data.agent = rec;
        else ws.close(4001, "unregistered");
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(typeof raw === "string" ? raw : raw.toString());
    } catch {
      ws.send(errorFrame(new ClawlinkError("bad_request", 400, "a frame must be a JSON object", "see docs/protocol.md, WebSocket frames")));
      return;
    }
    const f = safeParse(ClientFrame, parsed);
    if (!f.success) {
      // Any ref that can be read is echoed, so the client can match the refusal to its frame.
      const r = safeParse(FrameRef, (parsed as { ref?: unknown } | null)?.ref);
      const ref = r.success ? r.output : undefined;
      ws.send(errorFrame(new ClawlinkError("bad_request", 400, `invalid frame: ${describeIssues(f.issues)}`, "see docs/protocol.md, WebSocket frames"), ref));
      return;
    }
    const op = f.output;
    switch (op.op) {
      case "send": {
        const m = safeParse(SendMessage, op.message);
        if (!m.success) {
          ws.send(errorFrame(new ClawlinkError("bad_request", 400, `invalid message: ${describeIssues(m.issues)}`, "see docs/protocol.md for the fields"), op.ref));
          return;
        }
        // Confirmed once the core has committed it (507 or 503 when it could not).
        relay.send(agent, m.output).then(
          (sent) => ws.send(frame({ op: "sent", ref: op.ref, ...sent })),
          (err) => ws.send(errorFrame(err, op.ref)),
        );
        return;
      }
      case "ack":
        // An ack that is lost means a redelivery, not a loss.
        relay.ack(agent, op.ids, op.tasks).catch(() => {});
        return;
      case "ping":
        ws.send(frame({ op: "pong" }));
        return;
    }
  }
}
