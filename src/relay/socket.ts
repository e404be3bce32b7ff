/** WebSocket adapter: translates Bun's socket events into hub calls and hub pushes into frames. */
import type { ServerWebSocket, WebSocketHandler } from "bun";
import { ClawlinkError } from "../errors";
import { describeIssues, safeParse } from "../protocol/codec";
import { ClientFrame, SendMessage, type Message, type ServerFrame } from "../protocol/schemas";
import { newSinkId, type Sink } from "./delivery";
import type { Hub } from "./hub";
import type { AgentRecord } from "./store";

export interface SocketData {
  agent: AgentRecord;
  /** Set for `delegate --wait`: the socket follows one task instead of receiving the inbox. */
  watch: string | null;
  /** Set for `file-watch`: the socket takes only file messages whose key starts with this. */
  files: string | null;
  /** Set for `listen --type`: the socket takes only these message types; the rest stays queued for poll. */
  types: Set<string> | null;
  sink: Sink | null;
  unwatch: (() => void) | null;
  /** Gives back the socket's place under the connection limits. */
  release: () => void;
}

const frame = (f: ServerFrame) => JSON.stringify(f);

function errorFrame(err: unknown, ref?: string): string {
  const body =
    err instanceof ClawlinkError
      ? err.toJSON().error
      : { code: "internal", message: "the relay could not handle this frame", hint: "retry; if it persists, check the relay's log" };
  return frame({ op: "error", ref, error: body });
}

export function createSocketHandler(hub: Hub): WebSocketHandler<SocketData> {
  return {
    // Relay-side bound on what one connection may buffer before `send` reports backpressure.
    backpressureLimit: 4 * 1024 * 1024,
    closeOnBackpressureLimit: false,
    idleTimeout: 120,
    sendPings: true,

    open(ws) {
      const { agent, watch } = ws.data;
      ws.send(frame({ op: "hello", agent: hub.view(agent) }));
      if (watch) {
        try {
          ws.data.unwatch = hub.tasks.watch(agent, watch, {
            agentId: agent.id,
            push: (task, response) => ws.send(JSON.stringify({ op: "task", task, response })),
            close: (code, reason) => ws.close(code, reason),
          });
        } catch (err) {
          ws.send(errorFrame(err));
          ws.close(4004, "cannot watch that task");
        }
        return;
      }
      const { files: prefix, types } = ws.data;
      const sink: Sink = {
        id: newSinkId(),
        agentId: agent.id,
        push: (message: Message) => ws.send(frame({ op: "message", message })),
        close: (code, reason) => ws.close(code, reason),
        ...(prefix !== null
          ? { accepts: (m: Message) => m.type === "file" && m.key.startsWith(prefix) }
          : types !== null
            ? { accepts: (m: Message) => types.has(m.type) }
            : {}),
      };
      ws.data.sink = sink;
      hub.delivery.connect(sink);
    },

    message(ws, raw) {
      // The socket was authorized at upgrade; the agent may have unregistered or re-registered since.
      const agent = hub.store.getAgent(ws.data.agent.id);
      if (!agent) {
        ws.close(4001, "unregistered");
        return;
      }
      ws.data.agent = agent;
      agent.lastSeen = hub.clock();
      let parsed: unknown;
      try {
        parsed = JSON.parse(typeof raw === "string" ? raw : raw.toString());
      } catch {
        ws.send(errorFrame(new ClawlinkError("bad_request", 400, "a frame must be a JSON object", "see docs/protocol.md, WebSocket frames")));
        return;
      }
      const f = safeParse(ClientFrame, parsed);
      if (!f.success) {
        const ref = typeof (parsed as { ref?: unknown })?.ref === "string" ? (parsed as { ref: string }).ref : undefined;
        ws.send(errorFrame(new ClawlinkError("bad_request", 400, `invalid frame: ${describeIssues(f.issues)}`, "see docs/protocol.md, WebSocket frames"), ref));
        return;
      }
      const op = f.output;
      try {
        switch (op.op) {
          case "send": {
            const m = safeParse(SendMessage, op.message);
            if (!m.success) throw new ClawlinkError("bad_request", 400, `invalid message: ${describeIssues(m.issues)}`, "see docs/protocol.md for the fields");
            const sent = frame({ op: "sent", ref: op.ref, ...hub.send(agent, m.output) });
            // Acknowledge only what is durable (immediate in memory).
            const durable = hub.store.sync();
            if (durable) durable.then(() => ws.send(sent), (err) => ws.send(errorFrame(err, op.ref)));
            else ws.send(sent);
            break;
          }
          case "ack":
            hub.ack(agent, op.ids, op.tasks);
            hub.store.sync()?.catch(() => {}); // an ack that is lost means a redelivery, not a loss
            break;
          case "ping":
            ws.send(frame({ op: "pong" }));
            break;
        }
      } catch (err) {
        ws.send(errorFrame(err, op.op === "send" ? op.ref : undefined));
      }
    },

    drain(ws) {
      if (ws.data.sink) hub.delivery.resume(ws.data.sink);
    },

    close(ws) {
      ws.data.release();
      ws.data.unwatch?.();
      if (ws.data.sink) hub.delivery.disconnect(ws.data.sink);
    },
  };
}

export type RelaySocket = ServerWebSocket<SocketData>;
