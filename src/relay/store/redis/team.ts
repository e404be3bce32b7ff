/**
 * What makes the relays on one Redis (and prefix) one team: a marker written when the team is
 * created (`team`: an epoch, and a slow hash of the relays' token, never the token), so that a relay
 * started with another token refuses to join, and a store emptied under running relays (Redis
 * restarted without persistence, or flushed) is noticed: the marker is gone, or another epoch's.
 */
import { ClawlinkError } from "../../../errors";
import { newId } from "../../ids";
import type { RedisStore } from "./store";

/** What `team.token` holds for a team whose relays take no token. */
const NO_TOKEN = "none";

export class Team {
  private epoch: string | undefined;
  private tokenHash: string | undefined;
  private emptied: (() => void)[] = [];
  private checking: Promise<void> | undefined;

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
    let kept = await this.store.cmd<string | null>("HGET", [this.key, "token"]);
    if (kept === null) {
      await this.store.cmd("HSETNX", [this.key, "token", await this.hash()]);
      kept = (await this.store.cmd<string | null>("HGET", [this.key, "token"])) ?? NO_TOKEN;
    }
    this.refuseOther(kept);
    if (kept !== NO_TOKEN) this.tokenHash = kept;
    this.epoch = (await this.store.cmd<string | null>("HGET", [this.key, "epoch"])) ?? undefined;
  }

  private refuseOther(kept: string) {
    const where = `the relays on this Redis (prefix ${this.prefix})`;
    const fix = `every relay on one Redis needs the same token: start this one with theirs (--token-file or CLAWLINK_TOKEN); to change the team's token, stop every relay, run \`redis-cli HDEL ${this.key} token\`, and start them all with the new one`;
    if (kept === NO_TOKEN && this.token) throw new ClawlinkError("bad_config", `${where} take no token, and this relay was given one`, fix);
    if (kept !== NO_TOKEN && !this.token) throw new ClawlinkError("bad_config", `${where} require a token, and this relay was started without one`, fix);
    if (kept !== NO_TOKEN && this.token && !Bun.password.verifySync(this.token, kept)) throw new ClawlinkError("bad_config", `this relay's token is not the one ${where} use`, fix);
  }

  /** Hears when the store was found emptied (once per emptying); the marker is already written back. */
  onEmptied(listener: () => void) {
    this.emptied.push(listener);
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
    let epoch = await this.store.cmd<string | null>("HGET", [this.key, "epoch"]);
    if (epoch === this.epoch) return;
    if (epoch === null) {
      await this.store.cmd("HSETNX", [this.key, "epoch", newId("e", 12)]);
      await this.store.cmd("HSETNX", [this.key, "token", await this.hash()]);
      epoch = await this.store.cmd<string | null>("HGET", [this.key, "epoch"]);
    }
    this.epoch = epoch ?? undefined;
    for (const l of this.emptied) l();
  }
}
