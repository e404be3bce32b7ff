/**
 * The Redis store's Lua scripts, bundled into the binary as text: one file per store operation, named
 * after it, with the definitions of the shared fragments (`_*.lua`) it uses in front (`bundle.ts`). Loaded
 * once per connection (SCRIPT LOAD) and called by SHA; a server that lost them (restarted, flushed) is
 * given them again.
 */
import type { RedisClient } from "bun";
import { bundle, definitionsOf } from "./bundle";
import files from "./lua/_files.lua" with { type: "text" };
import inbox from "./lua/_inbox.lua" with { type: "text" };
import lib from "./lua/_lib.lua" with { type: "text" };
import tasks from "./lua/_tasks.lua" with { type: "text" };
import ack from "./lua/ack.lua" with { type: "text" };
import assignWaiting from "./lua/assign_waiting.lua" with { type: "text" };
import attachConnection from "./lua/attach_connection.lua" with { type: "text" };
import broadcast from "./lua/broadcast.lua" with { type: "text" };
import claimName from "./lua/claim_name.lua" with { type: "text" };
import claimNext from "./lua/claim_next.lua" with { type: "text" };
import clearTaskMessages from "./lua/clear_task_messages.lua" with { type: "text" };
import createTask from "./lua/create_task.lua" with { type: "text" };
import createTasks from "./lua/create_tasks.lua" with { type: "text" };
import deleteFileIf from "./lua/delete_file_if.lua" with { type: "text" };
import detachConnection from "./lua/detach_connection.lua" with { type: "text" };
import enqueueIfRoom from "./lua/enqueue_if_room.lua" with { type: "text" };
import enqueueMany from "./lua/enqueue_many.lua" with { type: "text" };
import expireLeases from "./lua/expire_leases.lua" with { type: "text" };
import expireUnread from "./lua/expire_unread.lua" with { type: "text" };
import expireTasks from "./lua/expire_tasks.lua" with { type: "text" };
import forgetAgents from "./lua/forget_agents.lua" with { type: "text" };
import forgetRelay from "./lua/forget_relay.lua" with { type: "text" };
import hit from "./lua/hit.lua" with { type: "text" };
import holdConnection from "./lua/hold_connection.lua" with { type: "text" };
import listFiles from "./lua/list_files.lua" with { type: "text" };
import pinnedBytes from "./lua/pinned_bytes.lua" with { type: "text" };
import pruneTasks from "./lua/prune_tasks.lua" with { type: "text" };
import putFileVersionIf from "./lua/put_file_version_if.lua" with { type: "text" };
import reclaimTasks from "./lua/reclaim_tasks.lua" with { type: "text" };
import releaseConnection from "./lua/release_connection.lua" with { type: "text" };
import releaseLease from "./lua/release_lease.lua" with { type: "text" };
import requeue from "./lua/requeue.lua" with { type: "text" };
import requeueExpired from "./lua/requeue_expired.lua" with { type: "text" };
import takeLease from "./lua/take_lease.lua" with { type: "text" };
import touchAgent from "./lua/touch_agent.lua" with { type: "text" };
import transitionTask from "./lua/transition_task.lua" with { type: "text" };
import unregisterAgent from "./lua/unregister_agent.lua" with { type: "text" };

const OPERATIONS = {
  ack,
  assign_waiting: assignWaiting,
  attach_connection: attachConnection,
  broadcast,
  claim_name: claimName,
  claim_next: claimNext,
  clear_task_messages: clearTaskMessages,
  create_task: createTask,
  // Runs create_task.lua as a function, once per item (group commit: `RedisStore.createTask`).
  create_tasks: `local function create_task()\n${createTask}\nend\n${createTasks}`,
  delete_file_if: deleteFileIf,
  detach_connection: detachConnection,
  enqueue_if_room: enqueueIfRoom,
  enqueue_many: enqueueMany,
  expire_leases: expireLeases,
  expire_tasks: expireTasks,
  expire_unread: expireUnread,
  forget_agents: forgetAgents,
  forget_relay: forgetRelay,
  hit,
  hold_connection: holdConnection,
  list_files: listFiles,
  pinned_bytes: pinnedBytes,
  prune_tasks: pruneTasks,
  put_file_version_if: putFileVersionIf,
  reclaim_tasks: reclaimTasks,
  release_connection: releaseConnection,
  release_lease: releaseLease,
  requeue,
  requeue_expired: requeueExpired,
  take_lease: takeLease,
  touch_agent: touchAgent,
  transition_task: transitionTask,
  unregister_agent: unregisterAgent,
};

export type Operation = keyof typeof OPERATIONS;

const SHARED = [lib, inbox, tasks, files].flatMap(definitionsOf);
const SOURCE = Object.fromEntries(Object.entries(OPERATIONS).map(([name, body]) => [name, bundle(SHARED, body)])) as Record<Operation, string>;
const SHA = Object.fromEntries(Object.entries(SOURCE).map(([name, src]) => [name, new Bun.CryptoHasher("sha1").update(src).digest("hex")])) as Record<Operation, string>;

const BY_SHA = new Map(Object.entries(SHA).map(([op, sha]) => [sha, op as Operation]));

/** The text one operation's script is loaded as. */
export const sourceOf = (op: Operation): string => SOURCE[op];

/** The operation a script SHA runs (what a MONITOR line names), for the benchmark's count. */
export const operationOf = (sha: string): Operation | undefined => BY_SHA.get(sha);

const isNoScript = (e: unknown) => e instanceof Error && e.message.startsWith("NOSCRIPT");

/** Loads every script on the server (SCRIPT LOAD); their SHAs are known before. */
export async function loadScripts(client: RedisClient): Promise<void> {
  await Promise.all(Object.values(SOURCE).map((src) => client.send("SCRIPT", ["LOAD", src])));
}

/** JSON has no infinity; a bound of ±Infinity (no bound) goes to Lua as the largest number there is. */
const finite = (_key: string, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? (v > 0 ? Number.MAX_VALUE : -Number.MAX_VALUE) : v);

function infinite(v: unknown): boolean {
  if (typeof v === "number") return !Number.isFinite(v);
  if (typeof v !== "object" || v === null) return false;
  if (Array.isArray(v)) return v.some(infinite);
  for (const k in v) if (infinite((v as Record<string, unknown>)[k])) return true;
  return false;
}

/** A replacer takes JSON.stringify off its fast path (several times slower), so only arguments with an infinity get one. */
const encode = (args: object) => (infinite(args) ? JSON.stringify(args, finite) : JSON.stringify(args));

/**
 * The operations whose bus event may carry a message to a socket on another relay. Redis writes the
 * clients it owes output to in the order they last became owed, newest first: a script's own reply
 * (owed last) would go out before the events it published, and on a machine with few cores the relay
 * woken by it runs before the relay that pushes the message. A PING sent in the same write makes the
 * caller owed first, so the other relays hear the event before the caller hears its reply; it costs
 * no round trip of its own.
 */
const PUBLISH_FIRST: ReadonlySet<Operation> = new Set(["create_task", "create_tasks", "transition_task", "enqueue_if_room", "enqueue_many", "broadcast", "claim_next", "assign_waiting"]);

/**
 * Runs one operation's script by its SHA with the key prefix and its arguments as JSON; returns its
 * JSON reply, parsed. Given the caller's bus origin, the script also publishes what it changed.
 * `texts` follow as arguments of their own (ARGV[4] on): the script takes them as they are, where a
 * string inside the JSON would cost it several times more to decode.
 */
export async function runScript<T>(client: RedisClient, op: Operation, prefix: string, args: object, origin = "", texts: readonly string[] = []): Promise<T> {
  const argv = [SHA[op], "0", prefix, encode(args), origin, ...texts];
  let reply: string;
  try {
    // Sent in the same write as the script (the client pipelines what one turn sends); its answer is not needed.
    if (origin !== "" && PUBLISH_FIRST.has(op)) client.send("PING", []).catch(() => {});
    reply = await client.send("EVALSHA", argv);
  } catch (e) {
    if (!isNoScript(e)) throw e;
    await loadScripts(client);
    reply = await client.send("EVALSHA", argv);
  }
  return JSON.parse(reply) as T;
}
