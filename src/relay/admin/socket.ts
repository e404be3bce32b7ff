/**
 * The dashboard's WebSocket (`/v1/admin/ws`). A browser cannot put a header on a WebSocket, so the
 * token comes in the first frame; until it does, the socket gets nothing.
 */
import type { ServerWebSocket } from "bun";
import { ClawlinkError } from "../../errors";
import { ADMIN_CLOSE, AdminClientFrame, type AdminServerFrame } from "../../protocol/admin";
import { describeIssues, safeParse } from "../../protocol/codec";
import type { AdminAccess } from "./access";
import type { AdminLive, AdminSink } from "./live";

const AUTH_WAIT_MS = 10_000;

export interface AdminSocketData {
  readonly admin: true;
  /** Counts a refused token against the caller's address, like a refused header. */
  readonly failed: () => void;
  sink: AdminSink | null;
  timer: ReturnType<typeof setTimeout> | null;
}

type Ws = ServerWebSocket<AdminSocketData>;

const send = (ws: Ws, frame: AdminServerFrame) => ws.send(JSON.stringify(frame));

function refuse(ws: Ws, err: ClawlinkError, code: number) {
  send(ws, { op: "error", error: err.toJSON().error });
  ws.close(code, err.code);
}

export function createAdminSocket(live: AdminLive, access: AdminAccess) {
  return {
    open(ws: Ws) {
      ws.data.timer = setTimeout(() => ws.close(ADMIN_CLOSE.authTimeout, "no auth frame"), AUTH_WAIT_MS);
    },

    message(ws: Ws, raw: string | Buffer) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(typeof raw === "string" ? raw : raw.toString());
      } catch {
        parsed = undefined;
      }
      const f = safeParse(AdminClientFrame, parsed);
      if (!f.success) {
        const err = new ClawlinkError("bad_request", `invalid frame: ${describeIssues(f.issues)}`, "see docs/protocol.md, Dashboard and admin API");
        if (ws.data.sink) send(ws, { op: "error", error: err.toJSON().error });
        else refuse(ws, err, ADMIN_CLOSE.badFrame);
        return;
      }
      const frame = f.output;
      if (frame.op === "ping") {
        if (ws.data.sink) send(ws, { op: "pong" });
        else refuse(ws, new ClawlinkError("bad_request", "the first frame must be auth", "send {\"op\":\"auth\",\"token\":\"…\"} first"), ADMIN_CLOSE.badFrame);
        return;
      }
      if (ws.data.sink) return; // authenticated already
      try {
        access.check(frame.token);
      } catch (err) {
        if ((err as ClawlinkError).status === 401) ws.data.failed();
        refuse(ws, err as ClawlinkError, ADMIN_CLOSE.unauthorized);
        return;
      }
      clearTimeout(ws.data.timer!);
      ws.data.sink = {
        send: (text) => ws.send(text),
        buffered: () => ws.getBufferedAmount(),
        close: (code, reason) => ws.close(code, reason),
      };
      live.attach(ws.data.sink);
    },

    close(ws: Ws) {
      if (ws.data.timer) clearTimeout(ws.data.timer);
      if (ws.data.sink) live.detach(ws.data.sink);
    },
  };
}
