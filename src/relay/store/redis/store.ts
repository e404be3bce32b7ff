/**
 * The Redis store (`relay --redis URL`): the Store port over one Redis (or Valkey) server that any
 * number of relay processes share. Every operation that changes anything is one Lua script
 * (`lua/<operation>.lua`), so it is atomic across relays; reads are plain commands. Keys live under
 * a prefix so several teams can share a server. Here: agents, messages and tasks, on the files and
 * limits of `files.ts` and the connection and scripts of `base.ts`.
 */
import { AGENT_ID_RE, type Message, type TaskState } from "../../../protocol/schemas";
import {
  NO_EFFECTS,
  type ClaimedName,
  type ClaimOptions,
  type Created,
  type Effects,
  type Enqueued,
  type LivenessRules,
  type NameRules,
  type NewAgent,
  type NewEntry,
  type NewTask,
  type QueuedOne,
  type Reclaimed,
  type Room,
  type Store,
  type TaskChange,
  type TaskChanged,
  type TaskQuery,
  type TaskRecord,
} from "../port";
import { frozenTask } from "../rules";
import { agentOf, agentOrNone, countsOf, effectsOf, entryOf, list, storedTask, taskOf, type RawAgent, type RawFx, type RawTask } from "./_decode";
import { renderTask } from "./_render";
import { Batcher } from "./batcher";
import { RedisFiles } from "./files";

/** What `create_task` answers. */
type CreateReply = { ok: boolean; task?: RawTask; duplicate?: boolean; to?: string | null; note?: string; delivered?: boolean; fx?: RawFx };

export { redactUrl } from "./connection";
export { CHUNK } from "./files";
export type { RedisStoreOptions } from "./base";

/**
 * When messages just sent go in flight if the store hands them out as it queues them (`attachConnection`'s
 * `eagerMs`): when they were sent, by the relay's clock; none (they wait for a claim) when that is unknown.
 */
const flyAt = (entries: readonly { ca: number }[]) => {
  const at = Math.max(...entries.map((e) => e.ca));
  return Number.isFinite(at) ? at : null;
};

export class RedisStore extends RedisFiles implements Store {
  /**
   * Tasks sent in one turn of the event loop are made by one script call (group commit): each as it
   * would be alone, in the order sent, with its own answer; one alone goes as `create_task`.
   */
  private created = new Batcher<{ args: object; texts: string[] }, CreateReply>(async (items) => {
    // Each item's texts follow the JSON as arguments of their own, from ARGV[x] on.
    if (items.length === 1) return [await this.run<CreateReply>("create_task", { ...items[0]!.args, x: 4 }, items[0]!.texts)];
    const texts: string[] = [];
    const batch = items.map((item) => {
      const x = 4 + texts.length;
      texts.push(...item.texts);
      return { ...item.args, x };
    });
    return this.run<CreateReply[]>("create_tasks", { items: batch }, texts);
  });

  // ---------------------------------------------------------------- agents

  async getAgent(id: string) {
    return agentOrNone(await this.hgetJson<RawAgent>("agents", id));
  }
  async getAgentByName(name: string) {
    const id = await this.cmd<string | null>("HGET", [this.k("names"), name]);
    return id === null ? undefined : this.getAgent(id);
  }
  async findAgent(idOrName: string) {
    return AGENT_ID_RE.test(idOrName) ? this.getAgent(idOrName) : this.getAgentByName(idOrName);
  }
  async listAgents() {
    return list<string>(await this.cmd("HVALS", [this.k("agents")])).map((j) => agentOf(JSON.parse(j)));
  }
  async countAgents() {
    return Number(await this.cmd("HLEN", [this.k("agents")]));
  }

  async claimName(agent: NewAgent, now: number, rules: NameRules): Promise<ClaimedName> {
    type Reply = { ok: boolean; refused?: string; agent?: RawAgent; holder?: RawAgent; replaced?: RawAgent | null; created?: boolean; reclaimed?: boolean; fx?: RawFx };
    const r = await this.run<Reply>("claim_name", { agent, now, rules, ...this.stamp(now) });
    if (!r.ok) return (r.holder ? { ...r, holder: agentOf(r.holder) } : r) as ClaimedName;
    return { ok: true, agent: agentOf(r.agent!), created: r.created!, replaced: agentOrNone(r.replaced) ?? null, reclaimed: r.reclaimed!, effects: effectsOf(r.fx) };
  }

  async touchAgent(id: string, now: number, _keep?: boolean) {
    return agentOrNone((await this.run<{ agent: RawAgent | null }>("touch_agent", { id, now })).agent);
  }

  async unregisterAgent(id: string, now: number, note: string, room: Room) {
    const r = await this.run<{ agent: RawAgent | null; fx: RawFx }>("unregister_agent", { id, now, note, room, ...this.stamp(now) });
    return r.agent ? { agent: agentOf(r.agent), effects: effectsOf(r.fx) } : undefined;
  }

  async forgetAgents(staleBefore: number, limit: number, now: number, note: string, room: Room) {
    const r = await this.run<{ agents: unknown; fx: RawFx }>("forget_agents", { staleBefore, limit, now, note, room, ...this.stamp(now) });
    return { agents: list<RawAgent>(r.agents).map(agentOf), effects: effectsOf(r.fx) };
  }

  async attachConnection(agentId: string, conn: string, now?: number, eagerMs?: number) {
    return agentOrNone((await this.run<{ agent: RawAgent | null }>("attach_connection", { agent: agentId, conn, now: now ?? null, eagerMs: eagerMs ?? null })).agent);
  }

  async detachConnection(agentId: string, conn: string, now?: number) {
    return effectsOf((await this.run<{ fx: RawFx }>("detach_connection", { agent: agentId, conn, now: now ?? null })).fx);
  }

  // ---------------------------------------------------------------- messages

  async enqueueIfRoom(entry: NewEntry, room: Room): Promise<Enqueued> {
    const e = entryOf(entry);
    const r = await this.run<{ ok: boolean; fx?: RawFx }>("enqueue_if_room", { entry: e, room, flyAt: flyAt([e]) });
    if (!r.ok) return r as Enqueued;
    return { ok: true, id: entry.msg.id, effects: effectsOf(r.fx) };
  }

  async enqueueMany(entries: readonly NewEntry[], room: Room) {
    if (entries.length === 0) return { results: [], effects: NO_EFFECTS };
    const es = entries.map(entryOf);
    const r = await this.run<{ results: unknown; fx: RawFx }>("enqueue_many", { entries: es, room, flyAt: flyAt(es) });
    const results = list<{ ok: boolean }>(r.results).map((x, i): QueuedOne => (x.ok ? { ok: true, id: entries[i]!.msg.id } : (x as QueuedOne)));
    return { results, effects: effectsOf(r.fx) };
  }

  async broadcast(msg: NewEntry["msg"], except: string | null, room: Room) {
    const e = entryOf({ to: "", priority: "normal", msg });
    const r = await this.run<{ recipients: number; fx: RawFx }>("broadcast", { entry: e, except, room, flyAt: flyAt([e]) });
    return { recipients: r.recipients, effects: effectsOf(r.fx) };
  }

  async claimNext(agentId: string, conn: string | null, now: number, opts: ClaimOptions) {
    const args = { agent: agentId, conn, now, flyAt: now, max: opts.max, want: opts.want ?? null, ackMs: opts.ackWindowMs, room: opts.room, ...this.stamp(now) };
    const r = await this.run<{ messages: unknown; fx: RawFx }>("claim_next", args);
    return { messages: list<Message>(r.messages), effects: effectsOf(r.fx) };
  }

  async ack(agentId: string, ids: readonly string[]) {
    if (ids.length === 0) return 0;
    return (await this.run<{ n: number }>("ack", { agent: agentId, ids })).n;
  }

  async clearTaskMessages(agentId: string, taskIds: readonly string[]) {
    if (taskIds.length === 0) return 0;
    return (await this.run<{ n: number }>("clear_task_messages", { agent: agentId, taskIds })).n;
  }

  async requeue(agentId: string, ids: readonly string[]): Promise<Effects> {
    return effectsOf((await this.run<{ fx: RawFx }>("requeue", { agent: agentId, ids })).fx);
  }

  async requeueExpired(now: number, limit: number, room: Room) {
    const r = await this.run<{ requeued: number; fx: RawFx }>("requeue_expired", { now, limit, room, ...this.stamp(now) });
    return { requeued: r.requeued, effects: effectsOf(r.fx) };
  }

  async expireUnread(before: number, limit: number, now: number, note: string, room: Room) {
    const r = await this.run<{ dropped: number; tasks: unknown; fx: RawFx }>("expire_unread", { before, limit, now, note, room, ...this.stamp(now) });
    return { dropped: r.dropped, tasks: list<RawTask>(r.tasks).map((t) => taskOf(t)), effects: effectsOf(r.fx) };
  }

  async countWaiting(agentId: string) {
    return Number(await this.cmd("ZCARD", [this.k("q", agentId)]));
  }

  async countInFlight(agentId: string) {
    return Number(await this.cmd("SCARD", [this.k("fl", agentId)]));
  }

  // ---------------------------------------------------------------- tasks

  private async tasksByIds(ids: readonly string[]): Promise<TaskRecord[]> {
    if (ids.length === 0) return [];
    const kept = await this.cmd<(string | null)[]>("HMGET", [this.k("t"), ...ids]);
    return kept.filter((v) => v !== null).map(storedTask);
  }

  async getTask(id: string) {
    return (await this.tasksByIds([id]))[0];
  }

  async getTaskByKey(from: string, idempotencyKey: string) {
    const id = await this.cmd<string | null>("HGET", [this.k("idem"), `${from}\0${idempotencyKey}`]);
    return id === null ? undefined : this.getTask(id);
  }

  async listTasks(agentId: string, query: TaskQuery) {
    const limit = query.limit ?? Infinity;
    // Ids read in order from where the page starts, a batch at a time, until the page is full.
    const batch = Math.min(Math.max(limit, 64), 1000);
    const out: TaskRecord[] = [];
    let from = query.after === undefined ? "-" : `(${query.after}`;
    while (out.length < limit) {
      const ids = list<string>(await this.cmd("ZRANGEBYLEX", [this.k("tl", agentId), from, "+", "LIMIT", 0, batch]));
      for (const t of await this.tasksByIds(ids)) {
        if (out.length >= limit) break;
        if (query.state && t.state !== query.state) continue;
        if (query.role === "sent" && t.from !== agentId) continue;
        if (query.role === "held" && t.to !== agentId) continue;
        out.push(t);
      }
      if (ids.length < batch) break;
      from = `(${ids.at(-1)}`;
    }
    return out;
  }

  async countHeld(agentIds: readonly string[]) {
    if (agentIds.length === 0) return [];
    const counts = await this.cmd<(string | null)[]>("HMGET", [this.k("held"), ...agentIds]);
    return counts.map((n) => Math.max(0, Number(n ?? 0)));
  }

  async recentTasks(limit: number) {
    if (limit <= 0) return [];
    return this.tasksByIds(list<string>(await this.cmd("ZRANGE", [this.k("recent"), 0, limit - 1, "REV"])));
  }

  async countTasks(): Promise<Readonly<Record<TaskState, number>>> {
    return countsOf(await this.cmd("HGETALL", [this.k("states")]));
  }

  async createTask(task: NewTask, room: Room): Promise<Created> {
    const { context, ...rest } = task;
    const { args, texts } = renderTask(task);
    // Handed out as it is made, it is handed out when it was made (`flyAt`).
    const r = await this.created.add({ args: { ...args, toIsId: task.to !== null && AGENT_ID_RE.test(task.to), room, flyAt: task.createdAt, ...this.stamp(task.createdAt) }, texts });
    if (!r.ok) return r as Created;
    if (r.duplicate) return { ok: true, task: taskOf(r.task!), duplicate: true, effects: effectsOf(r.fx) };
    // The record as the script kept it, from what was sent and the holder and first note it answers with.
    const queued = { state: "queued" as const, at: task.createdAt, note: r.note! };
    // Handed out as it was made, to a socket that takes everything (`attachConnection`'s `eagerMs`).
    const history = r.delivered ? [queued, { state: "delivered" as const, at: task.createdAt, note: "attempt 1" }] : [queued];
    const record: TaskRecord = { ...rest, context, to: r.to!, state: r.delivered ? "delivered" : "queued", attempts: r.delivered ? 1 : 0, handedTo: r.delivered ? r.to! : null, updatedAt: task.createdAt, history, note: null, result: null, responseId: null };
    return { ok: true, task: frozenTask(record), duplicate: false, effects: effectsOf(r.fx) };
  }

  async assignWaiting(agentId: string, now: number) {
    const r = await this.run<{ tasks: unknown; fx: RawFx }>("assign_waiting", { agent: agentId, ...this.stamp(now) });
    return { tasks: list<RawTask>(r.tasks).map((t) => taskOf(t)), effects: effectsOf(r.fx) };
  }

  async transitionTask(id: string, from: readonly TaskState[], change: TaskChange): Promise<TaskChanged> {
    // A reply's body is made with an empty `to`, which the script fills in with the task's sender: it
    // comes as the text before and after that value (ARGV[4], ARGV[5]), which Lua joins without decoding it.
    const reply = change.reply ? entryOf({ to: "", priority: "normal", msg: { ...change.reply, to: "" } as NewEntry["msg"] }) : null;
    let texts: string[] | undefined;
    let entry: Omit<NonNullable<typeof reply>, "body"> | null = null;
    if (reply) {
      const { body, ...rest } = reply;
      const at = body.indexOf('"to":""') + '"to":'.length;
      texts = [body.slice(0, at), body.slice(at + 2)];
      entry = rest;
    }
    const args = { id, from, change: { ...change, messages: (change.messages ?? []).map(entryOf), reply: entry }, flyAt: change.at, ...this.stamp(change.at) };
    const r = await this.run<{ ok: boolean; refused?: string; task?: RawTask; ctx?: object; fx?: RawFx; fin?: [number, number] }>("transition_task", args, texts);
    if (r.ok) return { ok: true, task: taskOf(r.task!, r.ctx), effects: effectsOf(r.fx), finished: { count: r.fin![0], bytes: r.fin![1] } };
    return (r.task ? { ...r, task: taskOf(r.task) } : r) as TaskChanged;
  }

  async expireTasks(now: number, limit: number, room: Room) {
    const r = await this.run<{ tasks: unknown; fx: RawFx }>("expire_tasks", { now, limit, room, ...this.stamp(now) });
    return { tasks: list<RawTask>(r.tasks).map((t) => taskOf(t)), effects: effectsOf(r.fx) };
  }

  async reclaimTasks(now: number, limit: number, rules: LivenessRules) {
    const r = await this.run<{ tasks: unknown; fx: RawFx }>("reclaim_tasks", { now, limit, rules, ...this.stamp(now) });
    const tasks: Reclaimed[] = list<{ task: RawTask; holder: string }>(r.tasks).map((x) => ({ task: taskOf(x.task), holder: x.holder }));
    return { tasks, effects: effectsOf(r.fx) };
  }

  async pruneTasks(before: number, keep: number, keepBytes?: number) {
    return list<RawTask>((await this.run<{ tasks: unknown }>("prune_tasks", { before, keep, keepBytes: keepBytes ?? null })).tasks).map((t) => taskOf(t));
  }

  async heldBytes() {
    const [queued, finished] = await this.cmd<(string | null)[]>("MGET", [this.k("bytes"), this.k("finbytes")]);
    return { queued: Number(queued ?? 0), finished: Number(finished ?? 0) };
  }
}
