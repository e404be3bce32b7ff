/**
 * The Redis store's connection: connected once at start (failing at once if the server cannot be
 * reached), then watched: a broken connection refuses every command with 503 store_unavailable,
 * reconnects with backoff, loads the scripts again and says when it works again.
 */
import { RedisClient } from "bun";
import { ClawlinkError } from "../../../errors";
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

export class RedisConnection {
  readonly client: RedisClient;
  readonly ready: Promise<void>;
  /** Set while the server cannot be reached: every command is refused with it, and changes nothing. */
  private failure: ClawlinkError | null = null;
  private health: ((failure: ClawlinkError | null) => void)[] = [];
  private closed = false;

  constructor(url: string) {
    // Reconnecting is ours (lost/reconnect): a start fails at once, and a command never waits in a queue for a server that is away.
    this.client = new RedisClient(url, { autoReconnect: false, enableOfflineQueue: false, connectionTimeout: 5000 });
    this.ready = this.client
      .connect()
      .then(() => loadScripts(this.client))
      .then(() => {
        this.client.onclose = () => this.lost();
      });
    // A failed start is reported by the store's `open()` or its first operation; it must not go unhandled meanwhile.
    this.ready.catch(() => {});
  }

  onHealth(listener: (failure: ClawlinkError | null) => void) {
    this.health.push(listener);
  }

  /** The connection broke: refuse every command, tell the relay once, and reconnect with backoff. */
  private lost() {
    if (this.closed || this.failure) return;
    this.failure = new ClawlinkError(
      "store_unavailable",
      "the relay cannot reach its Redis store, so nothing was changed",
      "retry in a few seconds: the relay reconnects by itself (its operator sees why in its log)",
    );
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

  /** Runs a command or script, refusing it with 503 while the server is away. */
  async guard<T>(call: () => Promise<T>): Promise<T> {
    await this.ready;
    if (this.failure) throw this.failure;
    try {
      return await call();
    } catch (e) {
      if (!isConnectionError(e)) throw e;
      this.lost();
      throw this.failure ?? e;
    }
  }

  async close() {
    this.closed = true;
    await this.ready.catch(() => {});
    this.client.close();
  }
}
