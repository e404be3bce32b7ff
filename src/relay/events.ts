/**
 * What the core tells whoever watches it (the dashboard): a message queued, a task or a file changed,
 * an agent came or went. Like everything others see, an event goes out once its change is committed.
 * Listeners only note what changed and return; nothing calls back into the core.
 */
import type { Message, Priority } from "../protocol/schemas";

export type CoreEvent =
  | { readonly type: "queued"; readonly agent: string; readonly message: Message; readonly priority: Priority }
  /** A task changed, or was forgotten after its retention. */
  | { readonly type: "task"; readonly id: string }
  /** Written, deleted, locked or unlocked, or its lease ran out. */
  | { readonly type: "file"; readonly key: string }
  | { readonly type: "registered"; readonly agent: string }
  | { readonly type: "unregistered"; readonly agent: string };

export class CoreEvents {
  private listeners: ((event: CoreEvent) => void)[] = [];

  /** `afterCommit` runs its function once what changed so far is durable, and drops it if the commit fails. */
  constructor(private afterCommit: (effect: () => void) => void = (effect) => effect()) {}

  /** Whether anyone listens: emitters check it first, so an unwatched relay builds no events. */
  get watched() {
    return this.listeners.length > 0;
  }

  emit(event: CoreEvent) {
    const listeners = this.listeners;
    this.afterCommit(() => {
      for (const listener of listeners) listener(event);
    });
  }

  /** Returns the unsubscribe. */
  on(listener: (event: CoreEvent) => void): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }
}
