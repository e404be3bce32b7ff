/**
 * Relays sharing one Redis: each heartbeats its instance id and URL (`relays`, scored by when its
 * heartbeat runs out), so any of them can say how many are up and who they are. A relay whose
 * heartbeat ran out is claimed by one of the others, which drops its connections from their agents
 * and queues again what went out on them (`forget_relay.lua`).
 */
import type { ClawlinkError } from "../../../errors";
import type { Effects } from "../port";
import type { RedisStore } from "./store";
import type { Team } from "./team";

/** A relay that has not renewed its heartbeat for this long is taken for gone. */
export const PEER_TTL_MS = 15_000;
const BEAT_MS = 5_000;

export class Peers {
  private timer: ReturnType<typeof setInterval> | undefined;
  private instance = "";
  private url = "";
  private nextSweep = 0;
  private forgotten: (() => void)[] = [];
  private seen: readonly string[] = [];

  constructor(
    private store: RedisStore,
    private prefix: string,
    private team: Team,
  ) {
    // A server back from an outage may have come back empty (restarted without persistence).
    store.onHealth((failure) => failure === null && void team.check().catch(() => {}));
  }

  /** Heartbeats this relay's id and URL now and every few seconds until stopped. */
  async start(instance: string, url: string): Promise<void> {
    this.instance = instance;
    this.url = url;
    await this.beat(true);
    this.timer = setInterval(() => void this.beat(false).catch(() => {}), BEAT_MS);
  }

  private async beat(first: boolean) {
    const s = this.store;
    // Emptied without the connection breaking (FLUSHALL), or missed at reconnect.
    if (!first) await this.team.check();
    const [added] = await Promise.all([s.cmd("ZADD", [`${this.prefix}relays`, Date.now() + PEER_TTL_MS, this.instance]), s.cmd("HSET", [`${this.prefix}relay-urls`, this.instance, this.url])]);
    // Back after the others took it for gone (Redis was away too long): its sockets must be attached again.
    if (!first && Number(added) === 1) for (const l of this.forgotten) l();
    this.seen = (await this.list()).filter((p) => !p.startsWith(`${this.instance} `));
  }

  /** The other relays as of the last heartbeat, each as `instance url` (for the dashboard, which reads it every second). */
  others(): readonly string[] {
    return this.seen;
  }

  /** Hears when the store was found emptied (Redis restarted without persistence, or flushed): the team's marker is written back. */
  onEmptied(listener: () => void) {
    this.team.onEmptied(listener);
  }

  /** Hears when another relay of the team wrote its relay key over the one this relay took (the store was emptied): take the store's. */
  onKeyMoved(listener: () => void) {
    this.team.onKeyMoved(listener);
  }

  /** Hears when this relay no longer belongs to the team (its token is not the one the others hold); it should stop. */
  onRefused(listener: (err: ClawlinkError, since: number | undefined) => void) {
    this.team.onRefused(listener);
  }

  /** Hears when the other relays took this one for gone and dropped its connections. */
  onForgotten(listener: () => void) {
    this.forgotten.push(listener);
  }

  /** Every few seconds, claims the relays whose heartbeat ran out; returns what that queued again. */
  async sweep(now: number): Promise<Effects[]> {
    if (now < this.nextSweep || !this.instance) return [];
    this.nextSweep = now + BEAT_MS;
    const out: Effects[] = [];
    for (const dead of await this.store.deadRelays(now)) {
      if (dead === this.instance) continue;
      const { forgot, effects } = await this.store.forgetRelay(dead, now);
      if (forgot) out.push(effects);
    }
    return out;
  }

  /** The relays up now, this one included, as `id url`. */
  async list(): Promise<string[]> {
    const ids = await this.store.cmd<string[]>("ZRANGEBYSCORE", [`${this.prefix}relays`, Date.now(), "+inf"]);
    if (ids.length === 0) return [];
    const urls = await this.store.cmd<(string | null)[]>("HMGET", [`${this.prefix}relay-urls`, ...ids]);
    return ids.map((id, i) => `${id} ${urls[i] ?? ""}`.trim());
  }

  async count(): Promise<number> {
    return Number(await this.store.cmd("ZCOUNT", [`${this.prefix}relays`, Date.now(), "+inf"]));
  }

  /**
   * Stops heartbeating and leaves the list at once (a clean stop): its heartbeat is marked run out, so
   * another relay claims it and clears any connection whose close did not reach the store.
   */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (!this.instance) return;
    await this.store.cmd("ZADD", [`${this.prefix}relays`, 0, this.instance]).catch(() => {});
  }
}
