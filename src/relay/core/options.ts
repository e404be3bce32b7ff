/** What the relay's core is built with: its options, the relays it shares a store with, and each part's options with the defaults filled in. */
import type { ClawlinkError } from "../../errors";
import type { Bus } from "../bus/port";
import type { Clock } from "../clock";
import { DEFAULT_LIMITS } from "../limits";
import type { Effects, Room, Store } from "../store/port";
import type { DeliveryOptions } from "./delivery";
import type { FilesOptions } from "./files";
import type { RegistryOptions } from "./registry";
import type { TaskOptions } from "./tasks";

export interface CoreOptions {
  version?: string;
  store?: Store;
  bus?: Bus;
  clock?: Clock;
  /** An agent not seen for this long is listed as stale. */
  staleAfterMs?: number;
  /** A task's holder whose socket closed this long ago, with no sign of life since, loses its unfinished tasks (default 15 s). */
  holderGraceMs?: number;
  /** How long a non-task message may stay unacknowledged before it is handed out again. */
  ackWindowMs?: number;
  /** Messages waiting per agent before senders get 429. */
  maxQueue?: number;
  maxAgents?: number;
  /** Bytes of every message waiting, relay-wide, before senders get 429. */
  maxQueuedBytes?: number;
  /** Bytes one sender may have waiting across its recipients, with its unfinished tasks, before it gets 429. */
  maxSenderBytes?: number;
  /** Bytes waiting for one recipient before its senders get 429. */
  maxRecipientBytes?: number;
  /** A message left unread this long is dropped; a task expires. */
  messageTtlMs?: number;
  maxFileVersions?: number;
  maxTotalFileBytes?: number;
  /** An agent unseen this long, stale, with nothing queued, in flight or held, is forgotten. */
  forgetAfterMs?: number;
  /** The key agent secrets are derived from; by default the store's (per process in memory, kept by a durable store). */
  secretKey?: Uint8Array;
  /** Finished tasks are kept this long, and at most `maxFinishedTasks` of them. */
  taskRetentionMs?: number;
  maxFinishedTasks?: number;
  /** Bytes of finished tasks kept at most; the oldest finished are forgotten first. */
  maxFinishedBytes?: number;
  /** Called with unexpected errors of work no request waits for (pushes, sweeps). */
  onError?: (err: unknown) => void;
  /** The relays sharing the store (Redis), which health reports; none for a relay on its own. */
  peers?: PeerList;
  /** Called when writing the store starts failing (with the error every write now answers) and when it works again (null). */
  onStoreHealth?: (failure: ClawlinkError | null) => void;
}

export interface PeerList {
  /** Relays up now, this one included. */
  count(): Promise<number>;
  /** Each as `instance url`. */
  list(): Promise<string[]>;
  /** The other relays as of the last heartbeat, each as `instance url`. */
  others(): readonly string[];
  /** Claims relays that are gone and queues again what went out on their connections; returns what it changed. */
  sweep(now: number): Promise<readonly Effects[]>;
  /** Hears when the other relays took this one for gone (and dropped its connections). */
  onForgotten(listener: () => void): void;
  /** Hears when the shared store was found emptied (Redis restarted without persistence). */
  onEmptied(listener: () => void): void;
  /** Hears when another relay wrote its relay key over the one this relay took from the store. */
  onKeyMoved?(listener: () => void): void;
  stop(): Promise<void>;
}

/** Each part's options; the parts share one room. */
export interface PartOptions {
  room: Room;
  registry: RegistryOptions;
  tasks: TaskOptions;
  files: FilesOptions;
  delivery: DeliveryOptions;
}

/** Each part's options from the relay's, with the relay's defaults (`DEFAULT_LIMITS`) where one is left out. */
export function partOptions(opts: CoreOptions, instance: string): PartOptions {
  const staleAfterMs = opts.staleAfterMs ?? 120_000;
  const d = DEFAULT_LIMITS;
  const room = {
    maxQueue: opts.maxQueue ?? d.maxQueue,
    maxQueuedBytes: opts.maxQueuedBytes ?? d.maxQueuedBytes,
    maxSenderBytes: opts.maxSenderBytes ?? d.maxSenderBytes,
    maxRecipientBytes: opts.maxRecipientBytes ?? d.maxRecipientBytes,
  };
  return {
    room,
    registry: {
      staleAfterMs,
      maxAgents: opts.maxAgents ?? d.maxAgents,
      forgetAfterMs: opts.forgetAfterMs ?? 24 * 3600_000,
      secretKey: opts.secretKey,
      room,
    },
    tasks: {
      staleAfterMs,
      holderGraceMs: opts.holderGraceMs ?? 15_000,
      room,
      retention: { retentionMs: opts.taskRetentionMs ?? d.taskRetentionMs, maxFinished: opts.maxFinishedTasks ?? d.maxFinishedTasks, maxFinishedBytes: opts.maxFinishedBytes ?? d.maxFinishedBytes },
      messageTtlMs: opts.messageTtlMs ?? d.messageTtlMs,
    },
    files: { maxVersions: opts.maxFileVersions ?? d.maxFileVersions, maxTotalBytes: opts.maxTotalFileBytes ?? d.maxTotalFileBytes, room },
    delivery: { instance, ackWindowMs: opts.ackWindowMs ?? 60_000, staleAfterMs, room, onError: opts.onError },
  };
}
