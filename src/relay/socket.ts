/** WebSocket adapter: translates Bun's socket events into calls on the relay's core, and its pushes into frames. */
import type { ServerWebSocket, WebSocketHandler } from "bun";
import { ClawlinkError } from "../errors";
import { unlessStoreUnavailable } from "./store/port";
import { describeIssues, holdsLoneSurrogate, loneSurrogate, messageJson, safeParse } from "../protocol/codec";
import { ClientFrame, FrameRef, SendMessage, type BatchResult, type ErrorBody, type Message, type MessageType, type ResponseMessage, type ServerFrame, type Task } from "../protocol/schemas";
import type { AgentRecord, Connection, Relay, Want } from "./core/relay";
import type { FloodCooldown } from "./cooldown";
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
  /** The client asked in its hello for `messages` frames (several messages in one). */
  batch: boolean;
  unwatch: Promise<(() => void) | undefined> | null;
  /** A task watch's snapshot held back while its socket is backed up (the latest wins, serialized only when sent), and since when it has been. */
  held?: { frame: (() => string) | null; since: number };
  /** Gives back the socket's place under the connection limits. */
  release: () => void;
  /** Closed for sending faster than the relay reads: its frames still waiting are dropped. */
  flooded?: boolean;
}

/** A frame touches its agent's last seen at most this often. */
const SEEN_MS = 1000;

/**
 * A task watch never queues snapshots behind a socket that is backed up: the latest replaces the one
 * held back, and goes out when the socket drains. A watcher that stays backed up this long, or has
 * more than this many bytes unsent, is closed (1008); `delegate --wait` connects again and gets the task as it is.
 */
export const WATCH_STALL_MS = 30_000;
export const WATCH_BUFFER_BYTES = 4 * 1024 * 1024;

/** One snapshot is pushed to every watcher of a task: it is serialized once. */
let lastSnapshot: { task: Task; frame: string } | undefined;
function snapshotFrame(task: Task, response: ResponseMessage | null): string {
  if (lastSnapshot?.task !== task) lastSnapshot = { task, frame: frame({ op: "task", task, response }) };
  return lastSnapshot.frame;
}

/** Pushes a watch's snapshot now, or holds it back (replacing the one held) while the socket is backed up. */
function pushSnapshot(ws: ServerWebSocket<SocketData>, task: Task, response: ResponseMessage | null, now: number, stallMs: number) {
  const held = (ws.data.held ??= { frame: null, since: 0 });
  const buffered = ws.getBufferedAmount();
  if (buffered === 0 && held.frame === null) {
    if (ws.send(snapshotFrame(task, response)) === -1) held.since = now;
    return;
  }
  if (held.since === 0) held.since = now;
  held.frame = () => snapshotFrame(task, response);
  if (buffered > WATCH_BUFFER_BYTES || now - held.since > stallMs) {
    held.frame = null;
    ws.close(1008, "task watch not read: the relay keeps only the latest snapshot for a slow reader; reconnect to get it");
  }
}

/** The socket drained: the snapshot held back goes out. */
function drainSnapshot(ws: ServerWebSocket<SocketData>) {
  const held = ws.data.held;
  if (!held) return;
  const f = held.frame;
  held.frame = null;
  held.since = 0;
  if (f !== null && ws.send(f()) === -1) held.since = Date.now();
}

/** Characters of messages one `messages` frame carries at most; a bigger message goes alone. */
const BATCH_FRAME_CHARS = 256 * 1024;

const frame = (f: ServerFrame) => JSON.stringify(f);

function errorBody(err: unknown): ErrorBody["error"] {
  return err instanceof ClawlinkError
    ? err.toJSON().error
    : { code: "internal", message: "the relay could not handle this frame", hint: "retry; if it persists, check the relay's log" };
}

function errorFrame(err: unknown, ref?: FrameRef): string {
  return frame({ op: "error", ref, error: errorBody(err) });
}

type Socket = Parameters<NonNullable<WebSocketHandler<SocketData>["open"]>>[0];

/**
 * Pushes claimed messages: in `messages` frames to a client that asked for them, else one frame
 * each. Like `ws.send`, it stops at the first frame the socket drops or that backs it up.
 */
function pushMany(ws: Socket, msgs: readonly Message[]): { taken: number; full: boolean } {
  let taken = 0;
  if (!ws.data.batch) {
    let full = false;
    // One write for all the frames, not one each.
    ws.cork(() => {
      for (const message of msgs) {
        const sent = ws.send(`{"op":"message","message":${messageJson(message)}}`);
        if (sent !== 0) taken++;
        if (sent <= 0) return void (full = true);
      }
    });
    return { taken, full };
  }
  let parts: string[] = [];
  let size = 0;
  // False once the socket dropped the frame or is backed up: what is left goes back to the queue.
  const flush = () => {
    const sent = ws.send(`{"op":"messages","messages":[${parts.join(",")}]}`);
    if (sent !== 0) taken += parts.length;
    parts = [];
    size = 0;
    return sent > 0;
  };
  for (const m of msgs) {
    const text = messageJson(m);
    if (parts.length > 0 && size + text.length > BATCH_FRAME_CHARS && !flush()) return { taken, full: true };
    parts.push(text);
    size += text.length + 1;
  }
  return parts.length > 0 && !flush() ? { taken, full: true } : { taken, full: false };
}

/**
 * A batch is checked whole before any of it is sent: one malformed message refuses it all. Then each
 * is sent as if alone, in order, and one `sent` frame lists what became of each.
 */
function sendBatch(relay: Relay, ws: Socket, ref: FrameRef | undefined, raw: readonly unknown[]) {
  const batch: SendMessage[] = [];
  for (let i = 0; i < raw.length; i++) {
    const m = safeParse(SendMessage, raw[i]);
    if (!m.success) {
      const why = `invalid messages[${i}] of a batch of ${raw.length}: ${describeIssues(m.issues)}; nothing in the batch was sent`;
      ws.send(errorFrame(new ClawlinkError("bad_request", why, "fix that message and send the whole batch again; see docs/protocol.md for the fields"), ref));
      return;
    }
    batch.push(m.output);
  }
  void relay.sendMany(ws.data.agent, batch).then((outcomes) => {
    const results = outcomes.map((o): BatchResult => (o.ok ? o.sent : { error: errorBody(o.error) }));
    ws.send(frame({ op: "sent", ref, results }));
  });
}

/** What a socket takes: file changes under a prefix (`file-watch`), some types (`listen --type`), or everything. */
function wantOf(data: SocketData): Want | null {
  if (data.files !== null) return { types: ["file"], filePrefix: data.files };
  if (data.types !== null) return { types: [...data.types] as MessageType[], filePrefix: null };
  return null;
}

/**
 * `backlog`: bytes of frames an agent, and all agents, may have waiting for their share of later turns before a socket
 * is closed; the agent then waits out `cooldown` before its next socket.
 */
export function createSocketHandler(relay: Relay, fair: FairShare, backlog: { perAgent: number; total: number }, cooldown: FloodCooldown, opts: { stallMs?: number } = {}): WebSocketHandler<SocketData> {
  const stallMs = opts.stallMs ?? WATCH_STALL_MS;
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
            push: (task, response) => pushSnapshot(ws, task, response, Date.now(), stallMs),
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
          open: (rec) => ws.send(frame({ op: "hello", agent: relay.view(rec), batch: true })),
          push: (message: Message) => ws.send(`{"op":"message","message":${messageJson(message)}}`),
          pushMany: (msgs) => pushMany(ws, msgs),
          close: (code, reason) => ws.close(code, reason),
        },
        wantOf(ws.data),
      );
    },

    message(ws, raw) {
      // A socket closed for flooding reads no more: what arrives before its close completes is dropped unread.
      if (ws.data.flooded) return;
      const size = typeof raw === "string" ? raw.length : raw.byteLength;
      // One agent's flood of frames waits for its share of later turns instead of holding up everyone's.
      const waiting = fair.waitingFor(ws.data.agent.id);
      const overOwn = waiting + size > backlog.perAgent;
      if (overOwn || (waiting > 0 && fair.waitingBytes + size > backlog.total)) {
        // What it sent before waits no more: the client is told to slow down, and those frames go with the socket.
        ws.data.flooded = true;
        // Only an agent past its own backlog waits out the cooldown: one caught in a relay-wide backlog others filled may come back at once.
        if (overOwn) cooldown.start(ws.data.agent.id);
        ws.close(1008, `frames arrive faster than the relay reads them: wait for answers${overOwn ? `; reconnect after ${cooldown.ms / 1000}s` : ""}`);
        return;
      }
      fair.submit(ws.data.agent.id, size, () => handleFrame(ws, raw));
    },

    drain(ws) {
      ws.data.connection?.drained();
      if (ws.data.watch) drainSnapshot(ws);
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
      void relay.touch(agent).then(
        (rec) => {
          if (rec) ws.data.agent = rec;
          else ws.close(4001, "unregistered");
        },
        // Refused while the store is away or will not write: the agent stays as last seen, and its next frame tries again.
        unlessStoreUnavailable,
      );
    }
    let parsed: unknown;
    const text = typeof raw === "string" ? raw : raw.toString();
    try {
      parsed = JSON.parse(text);
    } catch {
      ws.send(errorFrame(new ClawlinkError("bad_request", "a frame must be a JSON object", "see docs/protocol.md, WebSocket frames")));
      return;
    }
    if (holdsLoneSurrogate(text, parsed)) {
      const r = safeParse(FrameRef, (parsed as { ref?: unknown } | null)?.ref);
      ws.send(errorFrame(loneSurrogate("the frame"), r.success ? r.output : undefined));
      return;
    }
    const f = safeParse(ClientFrame, parsed);
    if (!f.success) {
      // Any ref that can be read is echoed, so the client can match the refusal to its frame.
      const r = safeParse(FrameRef, (parsed as { ref?: unknown } | null)?.ref);
      const ref = r.success ? r.output : undefined;
      ws.send(errorFrame(new ClawlinkError("bad_request", `invalid frame: ${describeIssues(f.issues)}`, "see docs/protocol.md, WebSocket frames"), ref));
      return;
    }
    const op = f.output;
    switch (op.op) {
      case "send": {
        if (op.messages) return sendBatch(relay, ws, op.ref, op.messages);
        const m = safeParse(SendMessage, op.message);
        if (!m.success) {
          ws.send(errorFrame(new ClawlinkError("bad_request", `invalid message: ${describeIssues(m.issues)}`, "see docs/protocol.md for the fields"), op.ref));
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
      case "hello":
        ws.data.batch = op.batch;
        return;
    }
  }
}
