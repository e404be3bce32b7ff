/**
 * The bus of relays sharing a Redis store: each event goes to this process's subscribers at once
 * (as the local bus does) and, over Redis pub/sub, to every other relay on the same key prefix.
 * An event that comes back from Redis is this process's own and is dropped. Delivery across relays
 * is at most once; what a relay misses while disconnected, its sweeps and the store catch up.
 */
import { RedisClient } from "bun";
import { newId } from "../ids";
import type { Bus, BusEvent } from "./port";

export class RedisBus implements Bus {
  private listeners: ((event: BusEvent) => void)[] = [];
  private pub: RedisClient;
  private sub: RedisClient;
  private readonly channel: string;
  /** Tells this process's events from others' when they come back. */
  private readonly origin = newId("b", 8);
  private closed = false;

  constructor(url: string, prefix = "clawlink:") {
    this.channel = `${prefix}bus`;
    this.pub = new RedisClient(url, { enableOfflineQueue: false });
    this.sub = new RedisClient(url);
  }

  /** Connects and subscribes; rejects when the server cannot be reached. */
  async open(): Promise<this> {
    await Promise.all([this.pub.connect(), this.sub.connect()]);
    await this.sub.subscribe(this.channel, (raw) => this.receive(raw));
    return this;
  }

  publish(event: BusEvent) {
    this.dispatch(event);
    if (this.closed) return;
    // Lost while Redis is away: the other relays' sweeps and their next claims catch up.
    this.pub.send("PUBLISH", [this.channel, JSON.stringify({ o: this.origin, e: event })]).catch(() => {});
  }

  subscribe(listener: (event: BusEvent) => void) {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  private receive(raw: string) {
    let parsed: { o: string; e: BusEvent };
    try {
      parsed = JSON.parse(raw);
    } catch {
      return;
    }
    if (parsed.o !== this.origin) this.dispatch(parsed.e);
  }

  private dispatch(event: BusEvent) {
    for (const listener of this.listeners) listener(event);
  }

  async close() {
    this.closed = true;
    this.listeners = [];
    this.pub.close();
    this.sub.close();
  }
}
