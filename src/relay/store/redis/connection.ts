/**
 * The Redis store's connection: connected once at start (failing at once if the server cannot be
 * reached), then watched: a broken connection refuses every command with 503 store_unavailable,
 * reconnects with backoff, loads the scripts again and says when it works again.
 */
import { RedisClient } from "bun";
import { ClawlinkError } from "../../../errors";
import { OutcomeUnknown } from "../port";
import { loadScripts } from "./scripts";

/** The server's address without its password, as the operator sees it. */
/**
 * Tries `attempt` with backoff (100 ms doubling to 5 s) until it succeeds or `closed()` says to stop;
 * resolves true once it succeeded. The store's connection and the bus's both wait out Redis this way.
 */
export async function retryUntilUp(closed: () => boolean, attempt: () => Promise<unknown>): Promise<boolean> {
  for (let delay = 100; !closed(); delay = Math.min(delay * 2, 5000)) {
    await Bun.sleep(delay);
    if (closed()) return false;
    try {
      await attempt();
      return true;
    } catch {
      // Still away; the next attempt waits longer.
    }
  }
  return false;
}

export const redactUrl = (url: string) => url.replace(/\/\/([^@/]*:)?[^@/]*@/, (_m, user: string | undefined) => `//${user ?? ""}***@`);

/** A connection that broke, as opposed to an error the server answered with. */
const isConnectionError = (e: unknown) => {
  const code = (e as { code?: string }).code ?? "";
  return code.startsWith("ERR_REDIS_CONNECTION") || code === "ERR_REDIS_AUTHENTICATION_FAILED" || /^Connection (closed|has failed)/.test((e as Error).message ?? "");
};

/** Answers of a server that is up but cannot serve now (loading its data, a busy script, a replica, out of memory, failing to write): refused as 503, not a bug. */
const isServerUnavailable = (e: unknown) => /^(LOADING|BUSY|MASTERDOWN|READONLY|OOM|MISCONF|NOAUTH|WRONGPASS|NOPERM|CLUSTERDOWN|TRYAGAIN)\b/.test((e as Error).message ?? "");

/** A command the server has not answered in this long is taken for a server that hangs (stopped, swapping): the connection is dropped and made again. */
export const STORE_TIMEOUT_MS = 3000;
/** File bytes sent or read get this much longer per byte (a floor of 8 MiB/s to a remote server). */
const MS_PER_BYTE = 1000 / (8 * 1024 * 1024);

const unavailable = (why: string) =>
  new ClawlinkError("store_unavailable", `the relay cannot reach its Redis store (${why}), so nothing was changed`, "retry in a few seconds: the relay reconnects by itself (its operator sees why in its log)");

/** A server that is up but refused the command (`isServerUnavailable`): it ran nothing. */
const refusedBy = (answer: string) =>
  new ClawlinkError(
    "store_unavailable",
    `the relay's Redis store refused the request (it answered ${answer}), so nothing was changed`,
    "retry in a few seconds; if it goes on, the relay's operator must fix its Redis (its answer above says what: out of memory, a read-only replica, a busy script)",
  );

/** A command sent and never answered: the server may still run it, so its sender must not take it for undone. */
const unanswered = (why: string) =>
  new OutcomeUnknown(
    new ClawlinkError(
      "store_unavailable",
      `the relay's Redis store did not answer (${why}), so the request may or may not have been carried out`,
      "check whether it was done before repeating it (`clawlink tasks` lists the tasks you sent, `clawlink file-list` the files; a task sent with --idempotency-key may be sent again safely): the relay reconnects by itself",
    ),
  );

const TIMED_OUT = Symbol("timed out");
/** How often commands owed an answer are looked at: one timer for all, not one each (a timer per command costs every call). */
const WATCH_MS = 250;

/** A command sent and not answered yet: when it is late, and how to fail it then. */
interface Owed {
  lateAt: number;
  fail: (why: typeof TIMED_OUT) => void;
}

export class RedisConnection {
  readonly client: RedisClient;
  readonly ready: Promise<void>;
  /** Set while the server cannot be reached: every command is refused with it, and changes nothing. */
  private failure: ClawlinkError | null = null;
  private health: ((failure: ClawlinkError | null) => void)[] = [];
  private closed = false;
  private started = false;
  private owed = new Set<Owed>();
  private watch: ReturnType<typeof setInterval> | undefined;

  constructor(url: string) {
    // Reconnecting is ours (lost/reconnect): a start fails at once, and a command never waits in a queue for a server that is away.
    this.client = new RedisClient(url, { autoReconnect: false, enableOfflineQueue: false, connectionTimeout: 5000 });
    this.ready = this.client
      .connect()
      .then(() => loadScripts(this.client))
      .then(() => {
        this.client.onclose = () => this.lost();
        this.started = true;
      });
    // A failed start is reported by the store's `open()` or its first operation; it must not go unhandled meanwhile.
    this.ready.catch(() => {});
  }

  onHealth(listener: (failure: ClawlinkError | null) => void) {
    this.health.push(listener);
  }

  /** The connection broke: refuse every command, tell the relay once, and reconnect with backoff. */
  private lost(why = "the connection closed") {
    if (this.closed || this.failure) return;
    this.failure = unavailable(why);
    for (const l of this.health) l(this.failure);
    void this.reconnect();
  }

  private async reconnect() {
    const up = await retryUntilUp(
      () => this.closed,
      async () => {
        await this.client.connect();
        await loadScripts(this.client);
      },
    );
    if (!up) return;
    this.failure = null;
    for (const l of this.health) l(null);
  }

  /** Runs a command or script, refusing it with 503 while the server is away, and when it does not answer within STORE_TIMEOUT_MS (longer for `bytes` of file data). */
  async guard<T>(call: () => Promise<T>, bytes = 0): Promise<T> {
    if (!this.started) await this.ready;
    if (this.failure) throw this.failure;
    const limit = STORE_TIMEOUT_MS + bytes * MS_PER_BYTE;
    let owed!: Owed;
    const late = new Promise<never>((_, reject) => {
      owed = { lateAt: performance.now() + limit, fail: reject };
    });
    this.owed.add(owed);
    this.watch ??= setInterval(() => this.lookAtOwed(), WATCH_MS);
    try {
      return await Promise.race([call(), late]);
    } catch (e) {
      if (e === TIMED_OUT) {
        // Replies still owed would come in out of order: drop the connection (its commands fail) and make a new one.
        const why = `it did not answer within ${Math.round(limit / 1000)} s`;
        this.lost(why);
        this.client.close();
        throw unanswered(why);
      }
      if (isServerUnavailable(e)) throw refusedBy(String((e as Error).message).split("\n")[0]!);
      if (!isConnectionError(e)) throw e;
      this.lost();
      throw unanswered("the connection closed");
    } finally {
      this.owed.delete(owed);
    }
  }

  /** Fails each command past its time (the first of them drops the connection); the timer stops while nothing is owed. */
  private lookAtOwed() {
    const now = performance.now();
    for (const o of this.owed) if (o.lateAt <= now) o.fail(TIMED_OUT);
    if (this.owed.size === 0) {
      clearInterval(this.watch);
      this.watch = undefined;
    }
  }

  async close() {
    this.closed = true;
    clearInterval(this.watch);
    await this.ready.catch(() => {});
    this.client.close();
  }
}
