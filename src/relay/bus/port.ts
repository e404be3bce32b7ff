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

export interface Bus {
  /** Tells every subscriber; `sent`: the other processes have it already (the store operation published it), so only this one's hear it. */
  publish(event: BusEvent, sent?: boolean): void;
  /** Calls `listener` with every event, this process's own included; returns the unsubscribe. */
  subscribe(listener: (event: BusEvent) => void): () => void;
  /**
   * Resolves once every other process has handled the events published so far (a bus between processes;
   * one that hangs is waited for no longer than a store command); what waits on it, a refusal of an agent
   * gone, holds on every relay before its caller hears back.
   */
  flush?(): Promise<void>;
  /** Hears when events from other processes may have been missed (a bus between processes reconnected): whoever waits should look at the store again. */
  onResume?(listener: () => void): void;
  close(): Promise<void>;
}
