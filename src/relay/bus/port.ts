/**
 * The Bus port: what one relay process tells the others, and itself, after a store operation
 * changed something they may be waiting for. Events carry ids only; whoever cares reads the store.
 * Delivery is at most once and in order per publisher; a missed event is caught up by the sweeps.
 */
export type BusEvent =
  /** Messages wait for this agent. */
  | { readonly type: "queued"; readonly agent: string }
  /** A task's record changed. */
  | { readonly type: "task"; readonly id: string }
  /** A shared file changed (written, deleted, locked or unlocked). */
  | { readonly type: "file"; readonly key: string }
  /** A lease on a file ended: released, run out, or its holder gone. */
  | { readonly type: "lease"; readonly key: string }
  | { readonly type: "connected"; readonly agent: string; readonly conn: string }
  | { readonly type: "disconnected"; readonly agent: string; readonly conn: string }
  /** The agent is gone: unregistered, forgotten, or its stale name taken over. */
  | { readonly type: "unregistered"; readonly agent: string };

export interface Bus {
  publish(event: BusEvent): void;
  /** Calls `listener` with every event, this process's own included; returns the unsubscribe. */
  subscribe(listener: (event: BusEvent) => void): () => void;
  close(): Promise<void>;
}
