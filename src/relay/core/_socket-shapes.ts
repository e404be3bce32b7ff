/**
 * What `Sockets` keeps of each connection and each agent's pump, what it pushes to, and when it gives
 * up or looks again: the shapes the pump's logic (`sockets.ts`) works on.
 */
import type { Message } from "../../protocol/schemas";
import type { AgentRecord, Room, Store, Want } from "../store/port";

/**
 * How often a closed socket's detach is asked again while the store is away or refuses it, for as long as it does:
 * given up, the agent would look connected, and a task in flight on the socket would wait for it for good (its lease is renewed while its connection is attached).
 */
export const DETACH_RETRY_MS = 1000;
/** A pump whose claim the store refused looks again after this long, doubling to RETRY_MAX_MS while it is refused. */
export const RETRY_MS = 1000;
export const RETRY_MAX_MS = 8000;
export const STORE_LOST = "the relay lost its store while handing out messages; reconnect to get them";
export const BACK_REFUSED = "the relay's store refused to take back messages this socket could not take; reconnect to get them";


export type Claimed = Awaited<ReturnType<Store["claimNext"]>>;

/** A live connection that messages are pushed to (an adapter over a WebSocket). */
export interface Sink {
  /** The connection is attached: called once, with the agent's record, before any message. */
  open(agent: AgentRecord): void;
  /** Like Bun's `ws.send`: >0 sent, -1 accepted but the socket is backed up, 0 dropped. */
  push(msg: Message): number;
  /** Several at once (a batch frame); returns how many it took, and whether the socket is now backed up. */
  pushMany?(msgs: readonly Message[]): { taken: number; full: boolean };
  close(code: number, reason: string): void;
}

export interface Local {
  readonly agent: string;
  readonly conn: string;
  readonly sink: Sink;
  readonly want: Want | null;
  /** Attached in the store: only then may it claim. */
  ready: boolean;
  paused: boolean;
  closed: boolean;
  /** Messages claimed at once for it. */
  batch: number;
  /** Messages the store put in flight on it as they were queued, held while a claim for it runs so they go out after what that claim returns. */
  carried: Message[];
  /** The store may hold messages in flight on it that it never got: a claim or a hand-back for it whose outcome is unknown. */
  stranded: boolean;
}

/** An agent's connections here, and whether a pump is running for it (events during it ask for another round). */
export interface Pump {
  readonly agent: string;
  locals: Local[];
  running: boolean;
  again: boolean;
  turn: number;
  /** A look again after a claim the store refused, and how long the next one waits (0: none refused since the last round that went through). */
  retry?: ReturnType<typeof setTimeout>;
  retryMs: number;
}

/** A connection attached through `Delivery.connect`. */
export interface Connection {
  readonly id: string;
  /** The socket drained: pushing resumes. */
  drained(): void;
  /** The socket closed: what went out on it unacknowledged is queued again. */
  close(): Promise<void>;
}

export interface SocketOptions {
  /** This relay process; connection ids carry it. */
  instance: string;
  ackWindowMs: number;
  /** Where the status messages a delivery tells fit. */
  room: Room;
  /** Messages claimed at once for one socket, at most. */
  batch?: number;
  onError?: (err: unknown) => void;
}
