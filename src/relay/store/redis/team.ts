/**
 * What makes the relays on one Redis (and prefix) one team: a marker written when the team is
 * created (`team`: an epoch, and a slow hash of the relays' token, never the token), so that a relay
 * started with another token refuses to join, and a store emptied under running relays (Redis
 * restarted without persistence, or flushed) is noticed: the marker is gone, or another epoch's.
 */
import { ClawlinkError } from "../../../errors";
import { newId } from "../../ids";
import { PEER_TTL_MS } from "./peers";
import type { RedisStore } from "./store";

/** What `team.token` holds for a team whose relays take no token. */
const NO_TOKEN = "none";

export class Team {
  private epoch: string | undefined;
  private tokenHash: string | undefined;
  private emptied: (() => void)[] = [];
  private keyMoved: (() => void)[] = [];
  private refused: ((err: ClawlinkError, since: number | undefined) => void)[] = [];
  private checking: Promise<void> | undefined;
  /** When this relay last wrote the team's token itself (it found none): what it did since, the team may not own. */
  private wroteAt: number | undefined;

  constructor(
    private store: RedisStore,
    private prefix: string,
    private token: string | undefined,
  ) {}

  private get key() {
    return `${this.prefix}team`;
  }

  /** The token as the team keeps it: a salted, slow hash (argon2id), made once per process. */
  private async hash(): Promise<string> {
    this.tokenHash ??= this.token ? await Bun.password.hash(this.token, { algorithm: "argon2id", memoryCost: 19_456, timeCost: 2 }) : NO_TOKEN;
    return this.tokenHash;
  }

  /** Joins the team (creating it on an empty store); rejects with exit 2's error when this relay's token is not the team's. */
  async join(): Promise<void> {
    await this.store.cmd("HSETNX", [this.key, "epoch", newId("e", 12)]);
    let [epoch, kept] = await this.marker();
    if (kept === null) {
      await this.writeToken();
      [epoch, kept] = await this.marker();
    }
    const other = await this.mismatch(kept ?? NO_TOKEN);
    if (other) throw other;
    this.tokenHash = kept ?? NO_TOKEN;
    this.epoch = epoch;
  }

  private async writeToken() {
    if (Number(await this.store.cmd("HSETNX", [this.key, "token", await this.hash()])) === 1) this.wroteAt = Date.now();
  }

  /** The team's epoch and token hash as the store holds them now (undefined and null when missing). */
  private async marker(): Promise<[string | undefined, string | null]> {
    const [epoch, kept] = await this.store.cmd<(string | null)[]>("HMGET", [this.key, "epoch", "token"]);
    return [epoch ?? undefined, kept ?? null];
  }

  /** Why this relay's token is not the one a marker keeps, or undefined when it is. */
  private async mismatch(kept: string): Promise<ClawlinkError | undefined> {
    const where = `the relays on this Redis (prefix ${this.prefix})`;
    const fix = `every relay on one Redis needs the same token: start this one with theirs (--token-file or CLAWLINK_TOKEN); to change the team's token, stop every relay, run \`redis-cli HDEL ${this.key} token\`, and start them all with the new one`;
    if (kept === NO_TOKEN && this.token) return new ClawlinkError("bad_config", `${where} take no token, and this relay was given one`, fix);
    if (kept !== NO_TOKEN && !this.token) return new ClawlinkError("bad_config", `${where} require a token, and this relay was started without one`, fix);
    if (kept !== NO_TOKEN && this.token && !(await Bun.password.verify(this.token, kept))) return new ClawlinkError("bad_config", `this relay's token is not the one ${where} use`, fix);
    return undefined;
  }

  /** Hears when the store was found emptied (once per emptying); the marker is already written back. */
  onEmptied(listener: () => void) {
    this.emptied.push(listener);
  }

  /** Hears when another relay of the team wrote its relay key over the one this relay took from the store (below): take the store's. */
  onKeyMoved(listener: () => void) {
    this.keyMoved.push(listener);
  }

  /**
   * Hears when this relay no longer belongs to the team: the store was emptied, a relay with another
   * token wrote the marker again first, and the relays that were running took it back. It should stop.
   * `since` is when this relay wrote that marker, when that was recent enough for the refusal to be the
   * running relays taking it back (they heartbeat well within PEER_TTL_MS): what it let in since is not the team's.
   */
  onRefused(listener: (err: ClawlinkError, since: number | undefined) => void) {
    this.refused.push(listener);
  }

  /** Looks whether the store still holds this team's marker; if not, writes it back (the first relay to do so sets the epoch) and says so. */
  check(): Promise<void> {
    this.checking ??= this.look().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async look() {
    if (this.epoch === undefined) return;
    let [epoch, kept] = await this.marker();
    if (epoch === this.epoch && kept === this.tokenHash) {
      if (await this.store.relayKeyMoved()) for (const l of this.keyMoved) l();
      return;
    }
    const emptied = epoch !== this.epoch;
    // The secrets of the agents from before derive from this relay's key, so the team keeps it, over any
    // that a relay started on the empty store wrote (it takes this one at its next heartbeat, above) or a
    // relay with another token (refused below). Written before the marker, so a relay that finds the
    // marker finds the key.
    if (emptied) await this.store.retakeRelayKey();
    if (epoch === undefined || kept === null) {
      if (epoch === undefined) await this.store.cmd("HSETNX", [this.key, "epoch", newId("e", 12)]);
      await this.writeToken();
      [epoch, kept] = await this.marker();
    }
    const other = await this.mismatch(kept ?? NO_TOKEN);
    if (other && !emptied) {
      // The team's relays took the marker back from this one, which wrote it while the store was empty.
      const since = this.wroteAt !== undefined && Date.now() - this.wroteAt <= PEER_TTL_MS ? this.wroteAt : undefined;
      for (const l of this.refused) l(other, since);
      return;
    }
    if (other) {
      // A relay with another token wrote the marker into the emptied store first: the team's token is
      // the one its running relays hold, and that relay hears so at its next heartbeat.
      kept = await this.hash();
      await this.store.cmd("HSET", [this.key, "token", kept]);
    }
    this.tokenHash = kept ?? NO_TOKEN;
    this.epoch = epoch;
    // Only an emptied store empties anything: another relay's hash of the same token (written as the team was taken back) changes nothing.
    if (emptied) for (const l of this.emptied) l();
  }
}
