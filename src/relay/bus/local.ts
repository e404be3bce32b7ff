/**
 * The in-process bus of a single relay: an event reaches every subscriber before `publish` returns.
 * Subscribers only note what to do and return, so a publisher is never re-entered.
 */
import type { Bus, BusEvent } from "./port";

export class LocalBus implements Bus {
  private listeners: ((event: BusEvent) => void)[] = [];

  publish(event: BusEvent) {
    for (const listener of this.listeners) listener(event);
  }

  subscribe(listener: (event: BusEvent) => void) {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  async close() {
    this.listeners = [];
  }
}
