/**
 * Relays sharing one Redis: each heartbeats its instance id and URL (`relays`, scored by when its
 * heartbeat runs out), so any of them can say how many are up and who they are.
 */
import type { RedisClient } from "bun";

/** A relay that has not renewed its heartbeat for this long is taken for gone. */
export const PEER_TTL_MS = 15_000;
const BEAT_MS = 5_000;

export class Peers {
  private timer: ReturnType<typeof setInterval> | undefined;
  private instance = "";
  private url = "";

  constructor(
    private client: RedisClient,
    private prefix: string,
  ) {}

  /** Heartbeats this relay's id and URL now and every few seconds until stopped. */
  async start(instance: string, url: string): Promise<void> {
    this.instance = instance;
    this.url = url;
    await this.beat();
    this.timer = setInterval(() => void this.beat().catch(() => {}), BEAT_MS);
  }

  private async beat() {
    const now = Date.now();
    await Promise.all([
      this.client.send("ZADD", [`${this.prefix}relays`, String(now + PEER_TTL_MS), this.instance]),
      this.client.send("HSET", [`${this.prefix}relay-urls`, this.instance, this.url]),
      this.client.send("ZREMRANGEBYSCORE", [`${this.prefix}relays`, "-inf", String(now)]),
    ]);
  }

  /** The relays up now, this one included, as `id url`. */
  async list(): Promise<string[]> {
    const ids = (await this.client.send("ZRANGEBYSCORE", [`${this.prefix}relays`, String(Date.now()), "+inf"])) as string[];
    if (ids.length === 0) return [];
    const urls = (await this.client.send("HMGET", [`${this.prefix}relay-urls`, ...ids])) as (string | null)[];
    return ids.map((id, i) => `${id} ${urls[i] ?? ""}`.trim());
  }

  async count(): Promise<number> {
    return Number(await this.client.send("ZCOUNT", [`${this.prefix}relays`, String(Date.now()), "+inf"]));
  }

  /** Stops heartbeating and leaves the list at once (a clean stop). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (!this.instance) return;
    await Promise.all([this.client.send("ZREM", [`${this.prefix}relays`, this.instance]), this.client.send("HDEL", [`${this.prefix}relay-urls`, this.instance])]).catch(() => {});
  }
}
