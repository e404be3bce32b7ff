/**
 * The one admin WebSocket: the token goes in its first frame, a snapshot comes back, then changes.
 * When the relay goes away (a restart), it reconnects by itself and starts again from a new snapshot.
 */
import type { AdminServerFrame } from "../protocol/admin";
import { token } from "./api";

export type Status = "connecting" | "live" | "reconnecting";

/** The relay refused the token (close code 4401), with what it said. */
export const UNAUTHORIZED = 4401;

export function connect(on: { frame(f: AdminServerFrame): void; status(s: Status): void; refused(message: string): void }) {
  let attempt = 0;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/admin/ws`;
  const open = () => {
    on.status(attempt === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(url);
    let refusal = "";
    ws.onopen = () => {
      const value = token.get();
      ws.send(JSON.stringify(value ? { op: "auth", token: value } : { op: "auth" }));
    };
    ws.onmessage = (ev) => {
      const frame = JSON.parse(String(ev.data)) as AdminServerFrame;
      if (frame.op === "snapshot") {
        attempt = 0;
        on.status("live");
      }
      if (frame.op === "error") refusal = frame.error.message;
      on.frame(frame);
    };
    ws.onclose = (ev) => {
      if (ev.code === UNAUTHORIZED) {
        on.refused(refusal || "The relay refused the token.");
        return;
      }
      // Quick at first (a restart takes a moment), then every few seconds.
      const delay = Math.min(5000, 250 * 2 ** attempt++) * (0.75 + Math.random() / 2);
      on.status("reconnecting");
      setTimeout(open, delay);
    };
  };
  open();
}
