/**
 * The Bus port: what one relay process tells the others, and itself, after a store operation
 * changed something they may be waiting for. Events carry ids (and a message queued, for whoever
 * watches the traffic); whoever cares reads the rest from the store.
 * Delivery is at most once and in order per publisher; a missed event is caught up by the sweeps.
 */
import type { Message, Priority } from "../../protocol/schemas";

export type BusEvent =
  /**
   * Messages wait for this agent: one just queued (`message`), or ones out that came back. With `conn`,
   * the message is already in flight on that connection, and the relay holding it pushes it without a claim.
   */
  | { readonly type: "queued"; readonly agent: string; readonly message?: Message; readonly priority?: Priority; readonly conn?: string }
  /** A task's record changed. */
  | { readonly type: "task"; readonly id: string }
  /** A shared file changed (written, deleted, locked or unlocked). */
  | { readonly type: "file"; readonly key: string }
  /** A lease on a file ended: released, run out, or its holder gone. */
  | { readonly type: "lease"; readonly key: string }
  /** Registered, or registered again (its record changed). */
  | { readonly type: "registered"; readonly agent: string }
  | { readonly type: "connected"; readonly agent: string; readonly conn: string }
  | { readonly type: "disconnected"; readonly agent: string; readonly conn: string }
  /** The agent is gone: unregistered, forgotten, or its name taken over (stale) or reclaimed (by `reclaimedBy`, after a restart). */
  | { readonly type: "unregistered"; readonly agent: string; readonly reclaimedBy?: string };

/** The topic of an agent's `queued` events (its sockets and long polls follow it). */
export const agentTopic = (agent: string) => `a:${agent}`;
/** The topic of a task's `task` events (its watches follow it). */
export const taskTopic = (id: string) => `t:${id}`;
/** Every topic's events at once, for the listeners to everything (the dashboard), while it is followed. */
export const FEED_TOPIC = "all";

export interface Bus {
  /** Tells every subscriber; `sent`: the other processes have it already (the store operation published it), so only this one's hear it. */
  publish(event: BusEvent, sent?: boolean): void;
  /**
   * Calls `listener` with this process's own events, and with other processes' events of the topics followed here
   * (`follow`) and of no topic (agents registered, connected or gone; files and leases); with `everything`, with those
   * and, while `FEED_TOPIC` is followed, with every topic's events (the dashboard). A bus in one process has no topics:
   * every listener hears every event.
   * Returns the unsubscribe.
   */
  subscribe(listener: (event: BusEvent) => void, everything?: boolean): () => void;
  /**
   * Hears other processes' events of one topic (`agentTopic`, `taskTopic`) from when it resolves until the returned
   * unfollow is called: whoever waits on a topic follows it before reading the store, so no change between the read
   * and the subscription goes unheard. Counted: the topic is heard while anyone here follows it. Absent in one process.
   */
  follow?(topic: string): Promise<() => void>;
  /**
   * Resolves once every other process has handled the events published so far, of every topic it follows (a bus between processes;
   * one that hangs is waited for no longer than a store command); what waits on it, a refusal of an agent
   * gone, holds on every relay before its caller hears back.
   */
  flush?(): Promise<void>;
  /** Hears when events from other processes may have been missed (a bus between processes reconnected): whoever waits should look at the store again. */
  onResume?(listener: () => void): void;
  close(): Promise<void>;
}
