/** Following the agent's inbox over the WebSocket: reconnects with backoff, drops redeliveries, batches acks. */
import type { Identity } from "../config";
import { EXIT, asClawlinkError, exitCodeFor } from "../errors";
import { logger } from "../logger";
import { safeParse } from "../protocol/codec";
import { LIMIT } from "../protocol/constants";
import { ServerFrame, type Message } from "../protocol/schemas";
import type { Client } from "./client";
import { printable } from "./render";
import { ensureRegistered, type Session } from "./session";
import { backoffMs, isTransient } from "./backoff";

/** Remembers the last `size` ids so a redelivered message is handled once. */
class SeenIds {
  private set = new Set<string>();
  constructor(private size: number) {}
  add(id: string): boolean {
    if (this.set.has(id)) return false;
    this.set.add(id);
    if (this.set.size > this.size) this.set.delete(this.set.values().next().value!);
    return true;
  }
}

export interface FollowOptions {
  client: Client;
  me: Identity;
  home: string;
  /** Take only file messages whose key starts with this (`file-watch`); everything else stays in the inbox. */
  files?: string;
  /** Handles one message, in order; it is acknowledged once this settles (unless `hold`). */
  handle(m: Message): Promise<void> | void;
  /** The caller acknowledges (`mcp`, through the inbox): every copy pushed, redeliveries included, goes to `handle`, and nothing is acknowledged here. */
  hold?: boolean;
  /** Stops the stream when aborted; without one, SIGINT and SIGTERM do. */
  signal?: AbortSignal;
  /** Told when the relay could not take the identity back and the agent registered afresh, under a new id (saved). */
  onRenewed?(me: Identity): void;
  /** Take only these message types (`listen --type`); the others stay in the inbox. */
  types?: string[];
  /** What the connected line says the command is doing, e.g. "listening". */
  doing: string;
  /** Called once when the command is stopped. */
  onStop?(): void;
}

/** Runs until SIGINT or SIGTERM (exit code 0), or until an error that reconnecting cannot fix (its exit code). */
export async function followInbox(opts: FollowOptions): Promise<number> {
  const { client } = opts;
  // Replaced when the relay makes this agent register afresh.
  let me = opts.me;
  const seen = new SeenIds(100_000);
  /** Messages being handled now: a redelivered copy of one is acknowledged only when its handling ends. */
  const inProgress = new Set<string>();
  let pendingAcks: string[] = [];
  let ws: WebSocket | undefined;
  let stopping = false;
  let attempt = 0;
  let lastRefusal: string | undefined;
  let chain = Promise.resolve();
  let stop: (code?: number) => void = () => {};
  const stopped = new Promise<number>((resolve) => {
    stop = (code = 0) => {
      stopping = true;
      flushAcks();
      clearInterval(ackTimer);
      ws?.close(1000, "listener stopped");
      opts.onStop?.();
      resolve(code);
    };
  });

  const flushAcks = () => {
    if (pendingAcks.length && ws?.readyState === WebSocket.OPEN) {
      for (let i = 0; i < pendingAcks.length; i += LIMIT.ackIds) ws.send(JSON.stringify({ op: "ack", ids: pendingAcks.slice(i, i + LIMIT.ackIds) }));
      pendingAcks = [];
    }
  };
  const ackTimer = setInterval(flushAcks, 50);

  const handle = async (m: Message) => {
    await opts.handle(m);
    pendingAcks.push(m.id);
    if (pendingAcks.length >= 500) flushAcks();
  };

  const receive = (m: Message) => {
    if (opts.hold) {
      chain = chain.then(() => opts.handle(m)).catch((e) => logger.warn(printable((e as Error).message)));
      return;
    }
    if (!seen.add(m.id)) {
      // Acking a copy whose first is still running would settle it before it is handled.
      if (!inProgress.has(m.id)) pendingAcks.push(m.id);
      return;
    }
    inProgress.add(m.id);
    chain = chain
      .then(() => handle(m))
      .catch((e) => logger.warn(printable((e as Error).message)))
      .finally(() => inProgress.delete(m.id));
  };

  const connect = () => {
    let greeted = false;
    const socket = (ws = client.socket({ files: opts.files, types: opts.types }));
    socket.onmessage = (ev) => {
      const parsed = safeParse(ServerFrame, JSON.parse(String(ev.data)));
      if (!parsed.success) return;
      const f = parsed.output;
      if (f.op === "hello") {
        greeted = true;
        attempt = 0;
        // A relay that offers batches gets asked for them: fewer frames, the same acks.
        if (f.batch) socket.send(JSON.stringify({ op: "hello", batch: true }));
        logger.info(printable(`${opts.doing} as ${f.agent.name} (${f.agent.id}) on ${client.relay}`));
      } else if (f.op === "message") receive(f.message);
      else if (f.op === "messages") for (const m of f.messages) receive(m);
      else if (f.op === "error") logger.warn(printable(`${f.error.message} (${f.error.hint})`));
    };
    socket.onclose = (ev) => {
      if (stopping) return;
      // 4001: the agent was unregistered; registering it again here would undo that.
      if (ev.code === 4001) {
        logger.info(printable(`${me.name} (${me.id}) was unregistered; stopping`));
        return stop(0);
      }
      // 4009: another identity, which held this name before the relay restarted, took it back.
      if (ev.code === 4009) {
        logger.error(printable(`${me.name} (${me.id}) was removed: its name was reclaimed by the agent that held it before the relay restarted (${ev.reason}); register under another name with \`clawlink register --name NEW\``));
        return stop(EXIT.conflict);
      }
      // 1012: the relay's store was emptied; it says what that means, and registering again follows.
      if (ev.code === 1012 && ev.reason) logger.warn(printable(ev.reason));
      reconnect(!greeted);
    };
  };

  const renewed = (session: Session) => {
    if (session.previousId) opts.onRenewed?.(session.identity);
    return session.identity;
  };

  // Backoff with jitter; before each try, make sure the relay (perhaps restarted) knows us.
  const reconnect = async (refused: boolean) => {
    const delay = backoffMs(attempt++);
    // A socket refused at the upgrade says nothing; the relay says why over HTTP (a connection limit, say).
    const why = refused ? await client.socketRefusal({ files: opts.files, types: opts.types }) : undefined;
    if (why && (attempt === 1 || why.code !== lastRefusal)) logger.warn(printable(`the relay refused the connection: ${why.message}${why.hint ? ` (${why.hint})` : ""}; retrying`, true));
    else if (attempt === 1) logger.warn(`connection to ${client.relay} lost; reconnecting`);
    lastRefusal = why?.code;
    await Bun.sleep(delay);
    if (stopping) return;
    try {
      const session = await ensureRegistered(client, me, opts.home);
      me = renewed(session);
      if (session.reregistered) logger.info(printable(`the relay had forgotten ${me.name}; registered it again as ${me.id}`));
      connect();
    } catch (err) {
      // A refused credential, a taken name or a bad answer will not pass by trying again.
      if (!isTransient(err)) {
        const e = asClawlinkError(err);
        logger.error(printable(`${e.message}${e.hint ? ` (${e.hint})` : ""}`));
        return stop(exitCodeFor(e));
      }
      reconnect(false);
    }
  };

  try {
    me = renewed(await ensureRegistered(client, me, opts.home));
  } catch (err) {
    clearInterval(ackTimer);
    throw err;
  }
  if (opts.signal?.aborted) stop();
  else connect();
  if (opts.signal) opts.signal.addEventListener("abort", () => stop(), { once: true });
  else {
    process.once("SIGINT", () => stop());
    process.once("SIGTERM", () => stop());
  }
  return await stopped;
}
