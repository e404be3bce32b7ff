/**
 * What the Redis store stands on: one connection to the server, the operations' scripts run on it by
 * SHA with the key prefix and the bus origin, plain commands, and what belongs to the store as a whole
 * (the relays sharing it, the relay key). `files.ts` and `store.ts` build the Store port on it.
 */
import type { RedisClient } from "bun";
import type { ClawlinkError } from "../../../errors";
import { iso } from "../../clock";
import { newSortableId } from "../../ids";
import type { Effects } from "../port";
import { effectsOf, list, type RawFx } from "./_decode";
import { RedisConnection, redactUrl } from "./connection";
import { runScript, type Operation } from "./scripts";

export interface RedisStoreOptions {
  /** Key prefix; default `clawlink:`. */
  prefix?: string;
}

export class RedisBase {
  protected conn: RedisConnection;
  readonly prefix: string;
  /** The bus origin the scripts publish their changes as; empty until `publishAs`. */
  protected origin = "";
  /** The relay key as this process took it from the store (none with --key-file, which never asks). */
  private teamKey: Uint8Array | undefined;

  constructor(
    readonly url: string,
    opts: RedisStoreOptions = {},
  ) {
    this.prefix = opts.prefix ?? "clawlink:";
    this.conn = new RedisConnection(url);
  }

  get client(): RedisClient {
    return this.conn.client;
  }

  onHealth(listener: (failure: ClawlinkError | null) => void) {
    this.conn.onHealth(listener);
  }

  /** Resolves once the server answers and has the scripts. */
  async open(): Promise<this> {
    await this.conn.ready;
    return this;
  }

  protected k(...parts: string[]) {
    return this.prefix + parts.join(":");
  }

  protected guard<T>(call: () => Promise<T>, bytes?: number): Promise<T> {
    return this.conn.guard(call, bytes);
  }

  protected run<T>(op: Operation, args: object, texts?: readonly string[]): Promise<T> {
    return this.guard(() => runScript<T>(this.client, op, this.prefix, args, this.origin, texts));
  }

  /**
   * From now on every operation tells the other relays what it changed itself, within its script, as
   * the bus of this origin (`RedisBus.origin`): no PUBLISH of its own, so no second round trip.
   */
  publishAs(origin: string) {
    this.origin = origin;
  }

  /** One plain command, refused with 503 while the server is away (relays' heartbeats use it too). */
  cmd<T = unknown>(command: string, args: (string | number)[]): Promise<T> {
    return this.guard(async () => (await this.client.send(command, args.map(String))) as T);
  }

  /** Arguments every script that may queue a status message needs: a time part for ids, and the time it tells. */
  protected stamp(at: number) {
    return { mid: newSortableId("m").slice(0, 11), iso: iso(at), ms: at };
  }

  protected async hgetJson<T>(hash: string, field: string): Promise<T | undefined> {
    const j = await this.cmd<string | null>("HGET", [this.k(hash), field]);
    return j === null ? undefined : (JSON.parse(j) as T);
  }

  // ---------------------------------------------------------------- relays sharing the store

  /** Relays whose heartbeat ran out by `now`. */
  async deadRelays(now: number): Promise<string[]> {
    return list<string>(await this.cmd("ZRANGEBYSCORE", [this.k("relays"), "-inf", now]));
  }

  /** Claims a relay whose heartbeat ran out (once, whichever relay asks) and queues again what went out on its connections. */
  async forgetRelay(instance: string, now: number): Promise<{ forgot: boolean; effects: Effects }> {
    const r = await this.run<{ forgot: boolean; fx: RawFx }>("forget_relay", { instance, now });
    return { forgot: r.forgot, effects: effectsOf(r.fx) };
  }

  // ---------------------------------------------------------------- the store itself

  describe() {
    return { kind: "redis" as const, path: redactUrl(this.url) };
  }

  /** Writes `key` as the relay key: over whatever is there, or `onlyIfNone`. */
  private setRelayKey(key: Uint8Array, onlyIfNone: boolean) {
    const args = [this.k("relaykey"), Buffer.from(key) as unknown as string];
    return this.guard(() => this.client.send("SET", onlyIfNone ? [...args, "NX"] : args));
  }

  private storedRelayKey() {
    return this.guard(() => this.client.getBuffer(this.k("relaykey")));
  }

  async relayKey(fresh: Uint8Array) {
    await this.setRelayKey(fresh, true);
    const kept = await this.storedRelayKey();
    this.teamKey = kept ? new Uint8Array(kept) : fresh;
    return this.teamKey;
  }

  /**
   * Whether the store's relay key is no longer the one this process took (another relay wrote its own back).
   * One lost alone (deleted, or evicted) is written back, so a relay started next takes it instead of making one the team would adopt.
   */
  async relayKeyMoved(): Promise<boolean> {
    const key = this.teamKey;
    if (!key) return false;
    const kept = await this.storedRelayKey();
    if (kept === null) await this.setRelayKey(key, true);
    return kept !== null && !Buffer.from(key).equals(kept);
  }

  /**
   * Writes the relay key this process took from the store back over whatever is there (`team.ts`: a
   * relay that finds the store emptied keeps the team's key over one another relay wrote there first).
   */
  async retakeRelayKey() {
    const key = this.teamKey;
    if (key) await this.setRelayKey(key, false);
  }

  close() {
    return this.conn.close();
  }
}
