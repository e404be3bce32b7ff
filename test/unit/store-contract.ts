/**
 * The Store port's contract: what every store implementation does, run by stores.test.ts against
 * each of them. `again` reopens a store on what it kept (the memory store returns itself), so every
 * check after it also shows the durable stores kept each acknowledged write.
 */
import { describe, expect, test } from "bun:test";
import type { Message, Priority } from "../../src/protocol/schemas";
import { MemoryStore } from "../../src/relay/store/memory";
import type { NewAgent, NewEntry, Room, Store, TaskRecord } from "../../src/relay/store/port";
import { messageBytes, taskMessage } from "../../src/relay/store/rules";

export interface StoreKind {
  name: string;
  open(): Store;
  /** The same state, as a store started again would see it. */
  again(store: Store): Promise<Store>;
}

const T0 = 10_000_000;
const NONE: Room = {};
const agent = (id: string, name = id, caps: string[] = []): NewAgent => ({ id, name, caps, description: "", machine: "", secretHash: `hash-${id}` });
const rules = (now: number, more: { maxAgents?: number; takeOver?: boolean; allowNew?: boolean; reclaim?: number } = {}) => ({
  staleBefore: now - 120_000,
  maxAgents: more.maxAgents ?? 100,
  takeOver: more.takeOver ?? true,
  allowNew: more.allowNew ?? true,
  note: "its name was taken over",
  room: {},
  ...(more.reclaim === undefined ? {} : { reclaim: { since: more.reclaim, note: "its name was reclaimed" } }),
});
const ACK = { max: 100, ackWindowMs: 60_000, room: {} };

let n = 0;
const note = (from: string, to: string, content = "x", priority: Priority = "normal"): NewEntry => ({
  to,
  priority,
  msg: { type: "broadcast", id: `m_${String(++n).padStart(6, "0")}`, from, to: null, created_at: "t", content, topic: "", tags: [] },
});
const progress = (from: string, to: string, taskId: string, text: string): NewEntry => ({
  to,
  priority: "normal",
  msg: { type: "progress", id: `m_p${++n}`, from, to, created_at: "t", in_reply_to: taskId, note: text },
});
const task = (id: string, from: string, to: string | null, more: Partial<TaskRecord> = {}): TaskRecord => ({
  id,
  from,
  to,
  cap: null,
  task: "do it",
  context: {},
  priority: "normal",
  state: "queued",
  attempts: 0,
  leaseS: 30,
  ttlS: null,
  createdAt: T0,
  updatedAt: T0,
  history: [{ state: "queued", at: T0, note: "" }],
  result: null,
  responseId: null,
  idempotencyKey: null,
  ...more,
});
const ids = (ms: readonly Message[]) => ms.map((m) => m.id);
const types = (ms: readonly Message[]) => ms.map((m) => (m.type === "status" ? `status:${m.state}` : m.type));

/** A store with agents a and b registered at T0. */
async function two(kind: StoreKind) {
  const s = kind.open();
  await s.claimName(agent("a"), T0, rules(T0));
  await s.claimName(agent("b", "b", ["x"]), T0, rules(T0));
  return s;
}

export function storeContract(kind: StoreKind) {
  describe(`${kind.name} store: agents`, () => {
    test("registered agents are found by id and name, listed and counted, as frozen values", async () => {
      let s = await two(kind);
      s = await kind.again(s);
      const a = (await s.getAgent("a"))!;
      expect(a).toMatchObject({ id: "a", name: "a", registeredAt: T0, lastSeen: T0, conns: [] });
      expect(Object.isFrozen(a)).toBe(true);
      expect(() => ((a as { name: string }).name = "z")).toThrow();
      expect((await s.getAgentByName("b"))!.caps).toEqual(["x"]);
      expect((await s.listAgents()).map((x) => x.id).sort()).toEqual(["a", "b"]);
      expect(await s.countAgents()).toBe(2);
      await s.close();
    });

    test("registering again keeps the id and registration time; a new name frees the old one; a wrong secret is refused", async () => {
      let s = await two(kind);
      const again = await s.claimName({ ...agent("a", "a2"), caps: ["y"] }, T0 + 5, rules(T0 + 5));
      expect(again).toMatchObject({ ok: true, created: false, agent: { name: "a2", caps: ["y"], registeredAt: T0, lastSeen: T0 + 5 } });
      expect(await s.claimName({ ...agent("a"), secretHash: "other" }, T0, rules(T0))).toEqual({ ok: false, refused: "wrong_secret" });
      expect(await s.claimName(agent("z"), T0, rules(T0, { allowNew: false }))).toEqual({ ok: false, refused: "unknown_id" });
      s = await kind.again(s);
      expect(await s.getAgentByName("a")).toBeUndefined();
      expect((await s.getAgentByName("a2"))!.id).toBe("a");
      await s.close();
    });

    test("a name held by an online agent is refused; a stale holder is replaced only when allowed, and its tasks fail", async () => {
      let s = await two(kind);
      expect(await s.claimName(agent("c", "b"), T0 + 1000, rules(T0 + 1000))).toMatchObject({ ok: false, refused: "name_taken", stale: false, holder: { id: "b" } });
      const later = T0 + 121_000;
      await s.createTask(task("t_1", "a", "b"), NONE);
      await s.claimNext("b", null, later - 10, ACK);
      expect(await s.claimName(agent("c", "b"), later, rules(later, { takeOver: false }))).toMatchObject({ ok: false, refused: "name_taken", stale: true });
      const taken = await s.claimName(agent("c", "b"), later, rules(later));
      expect(taken).toMatchObject({ ok: true, created: true, replaced: { id: "b" } });
      if (!taken.ok) throw new Error();
      expect(taken.effects.tasks).toContain("t_1");
      s = await kind.again(s);
      expect(await s.getAgent("b")).toBeUndefined();
      expect((await s.getAgentByName("b"))!.id).toBe("c");
      expect((await s.getTask("t_1"))!.history.at(-1)).toMatchObject({ state: "failed", note: "assignee left: its name was taken over" });
      expect(types((await s.claimNext("a", null, later, ACK)).messages)).toEqual(["status:failed"]);
      await s.close();
    });

    test("a name claim outranks a holder with none or an older one, online or not, and the holder's tasks fail", async () => {
      let s = await two(kind);
      await s.createTask(task("t_1", "a", "b"), NONE);
      // b got its name without a claim; o proves it held "b" since T0 - 5000 (before this relay started).
      const back = await s.claimName(agent("o", "b"), T0 + 1000, rules(T0 + 1000, { reclaim: T0 - 5000 }));
      expect(back).toMatchObject({ ok: true, created: true, reclaimed: true, replaced: { id: "b" }, agent: { claimSince: T0 - 5000 } });
      if (!back.ok) throw new Error();
      expect(back.effects.tasks).toContain("t_1");
      // An older claim, or an equal one, does not take the name back; a newer one does.
      expect(await s.claimName(agent("p", "b"), T0 + 2000, rules(T0 + 2000, { reclaim: T0 - 9000 }))).toMatchObject({ ok: false, refused: "name_taken", holder: { id: "o" } });
      expect(await s.claimName(agent("p", "b"), T0 + 2000, rules(T0 + 2000, { reclaim: T0 - 5000 }))).toMatchObject({ ok: false, refused: "name_taken" });
      s = await kind.again(s);
      expect((await s.getAgentByName("b"))!.id).toBe("o");
      expect((await s.getTask("t_1"))!.history.at(-1)).toMatchObject({ state: "failed", note: "assignee left: its name was reclaimed" });
      expect(await s.claimName(agent("q", "b"), T0 + 3000, rules(T0 + 3000, { reclaim: T0 - 100 }))).toMatchObject({ ok: true, reclaimed: true, replaced: { id: "o" } });
      // A stale takeover keeps the standing of the holder it replaced, so the claim it beat does not win the name back.
      const later = T0 + 200_000;
      expect(await s.claimName(agent("r", "b"), later, rules(later))).toMatchObject({ ok: true, reclaimed: false, replaced: { id: "q" }, agent: { claimSince: T0 - 100 } });
      expect(await s.claimName(agent("q", "b"), later, rules(later, { reclaim: T0 - 100 }))).toMatchObject({ ok: false, refused: "name_taken", holder: { id: "r" } });
      await s.close();
    });

    test("past maxAgents a new id is refused, but replacing a stale holder at the limit is not", async () => {
      const s = await two(kind);
      expect(await s.claimName(agent("c"), T0, rules(T0, { maxAgents: 2 }))).toEqual({ ok: false, refused: "too_many_agents", count: 2 });
      const later = T0 + 200_000;
      expect(await s.claimName(agent("c", "a"), later, rules(later, { maxAgents: 2 }))).toMatchObject({ ok: true, replaced: { id: "a" } });
      expect(await s.claimName(agent("d"), later, rules(later, { maxAgents: 2 }))).toMatchObject({ ok: false, refused: "too_many_agents" });
      await s.close();
    });

    test("touching marks an agent seen, never backwards; a kept touch survives a restart", async () => {
      let s = await two(kind);
      expect((await s.touchAgent("a", T0 + 50, true))!.lastSeen).toBe(T0 + 50);
      expect((await s.touchAgent("a", T0 + 10))!.lastSeen).toBe(T0 + 50);
      expect(await s.touchAgent("nobody", T0)).toBeUndefined();
      s = await kind.again(s);
      expect((await s.getAgent("a"))!.lastSeen).toBe(T0 + 50);
      await s.close();
    });

    test("unregistering drops the queue and flight, fails the tasks held, and tells their senders", async () => {
      let s = await two(kind);
      await s.createTask(task("t_1", "a", "b"), NONE);
      await s.enqueueIfRoom(note("a", "b"), NONE);
      await s.claimNext("b", null, T0, { ...ACK, max: 1 });
      const gone = await s.unregisterAgent("b", T0 + 1, "its agent unregistered", NONE);
      expect(gone).toMatchObject({ agent: { id: "b" } });
      expect(await s.unregisterAgent("b", T0 + 1, "again", NONE)).toBeUndefined();
      s = await kind.again(s);
      expect(await s.countWaiting("b")).toBe(0);
      expect((await s.getTask("t_1"))!.state).toBe("failed");
      expect(await s.countHeld(["b"])).toEqual([0]);
      // Messages for an agent that is gone are not kept for nobody.
      expect(await s.enqueueIfRoom(note("a", "b"), NONE)).toEqual({ ok: false, refused: "unknown_agent" });
      await s.close();
    });

    test("forgetting claims only stale agents with no connection, nothing waiting and no unfinished task, up to a limit", async () => {
      const s = await two(kind);
      await s.claimName(agent("c"), T0, rules(T0));
      await s.claimName(agent("d"), T0, rules(T0));
      await s.claimName(agent("e"), T0, rules(T0));
      await s.enqueueIfRoom(note("a", "b"), NONE);
      await s.createTask(task("t_1", "b", "e"), NONE);
      await s.claimNext("e", null, T0, ACK);
      await s.ack("e", ["t_1"]);
      await s.attachConnection("c", "r1.1");
      await s.touchAgent("d", T0 + 1000);
      const r = await s.forgetAgents(T0 + 500, 10, T0 + 2000, "forgotten", NONE);
      expect(r.agents.map((x) => x.id)).toEqual(["a"]);
      expect((await s.listAgents()).map((x) => x.id).sort()).toEqual(["b", "c", "d", "e"]);
      await s.close();
    });
  });

  describe(`${kind.name} store: queues`, () => {
    test("a queue serves urgent, high, normal, low, then oldest first", async () => {
      let s = await two(kind);
      for (const p of ["normal", "low", "urgent", "high", "normal"] as const) await s.enqueueIfRoom(note("a", "b", p, p), NONE);
      s = await kind.again(s);
      expect(await s.countWaiting("b")).toBe(5);
      const { messages } = await s.claimNext("b", null, T0, ACK);
      expect(messages.map((m) => (m.type === "broadcast" ? m.content : ""))).toEqual(["urgent", "high", "normal", "normal", "low"]);
      await s.close();
    });

    test("the queue bound (counting what is in flight), the relay's byte budget and a sender's byte budget each refuse what does not fit", async () => {
      const s = await two(kind);
      await s.claimName(agent("c"), T0, rules(T0));
      const first = note("a", "b");
      // What it queued, as the relay tells its own sockets, is the message as sent.
      expect(await s.enqueueIfRoom(first, { maxQueue: 1 })).toMatchObject({ ok: true, effects: { messages: [first] } });
      await s.claimNext("b", null, T0, { ...ACK, max: 1 });
      expect(await s.enqueueIfRoom(note("a", "b"), { maxQueue: 1 })).toEqual({ ok: false, refused: "queue_full", waiting: 1, name: "b" });
      const big = "x".repeat(1000);
      const size = (await s.enqueueIfRoom(note("a", "c", big), { maxQueuedBytes: 2000 })).ok;
      expect(size).toBe(true);
      expect(await s.enqueueIfRoom(note("b", "c", big), { maxQueuedBytes: 2000 })).toMatchObject({ ok: false, refused: "relay_full" });
      expect(await s.enqueueIfRoom(note("a", "c", big), { maxSenderBytes: 2000 })).toMatchObject({ ok: false, refused: "sender_full" });
      expect(await s.enqueueIfRoom(note("b", "c", big), { maxSenderBytes: 2000 })).toMatchObject({ ok: true });
      // A task waiting for a capability holds its bytes too.
      expect(await s.createTask(task("t_w", "b", null, { cap: "later", task: big }), { maxSenderBytes: 2000 })).toMatchObject({ ok: false, refused: "sender_full" });
      // Read and acknowledged, a message stops counting.
      const { messages } = await s.claimNext("c", null, T0, ACK);
      await s.ack("c", ids(messages));
      expect(await s.enqueueIfRoom(note("a", "c", big), { maxSenderBytes: 2000, maxQueuedBytes: 2000 })).toMatchObject({ ok: true });
      await s.close();
    });

    test("enqueueMany queues each message in order as enqueueIfRoom would, refusing alone one that does not fit", async () => {
      let s = await two(kind);
      const big = "x".repeat(1000);
      const entries = [note("a", "b", "first"), note("a", "nobody"), note("a", "b", big), note("a", "b", "low", "low"), note("a", "b", "urgent", "urgent")];
      const { results, effects } = await s.enqueueMany(entries, { maxQueuedBytes: 900 });
      expect(results).toEqual([
        { ok: true, id: entries[0]!.msg.id },
        { ok: false, refused: "unknown_agent" },
        expect.objectContaining({ ok: false, refused: "relay_full" }),
        { ok: true, id: entries[3]!.msg.id },
        { ok: true, id: entries[4]!.msg.id },
      ]);
      expect(effects.messages.map((m) => m.msg.id)).toEqual([entries[0]!.msg.id, entries[3]!.msg.id, entries[4]!.msg.id]);
      expect((await s.enqueueMany([], NONE)).results).toEqual([]);
      s = await kind.again(s);
      const { messages } = await s.claimNext("b", null, T0, ACK);
      expect(messages.map((m) => (m.type === "broadcast" ? m.content : ""))).toEqual(["urgent", "first", "low"]);
      // The queue bound counts what the same call queued before.
      await s.ack("b", ids(messages));
      const r = await s.enqueueMany([note("a", "b"), note("a", "b"), note("a", "b")], { maxQueue: 2 });
      expect(r.results.map((x) => x.ok)).toEqual([true, true, false]);
      expect(r.results[2]).toEqual({ ok: false, refused: "queue_full", waiting: 2, name: "b" });
      await s.close();
    });

    test("every way a message leaves gives its bytes back: read, withdrawn, replaced, expired, its recipient gone", async () => {
      let s = await two(kind);
      await s.claimName(agent("c", "c", ["y"]), T0, rules(T0));
      /** Bytes held now, as a budget of nothing reports them. */
      const held = async (from = "z") => {
        const r = await s.enqueueIfRoom(note(from, "a"), { maxQueuedBytes: 0 });
        return r.ok ? -1 : "bytes" in r ? r.bytes : -1;
      };
      await s.createTask(task("t_1", "a", "b", { leaseS: 10 }), NONE);
      await s.createTask(task("t_2", "a", "b", { ttlS: 5, priority: "low" }), NONE);
      await s.enqueueIfRoom(note("c", "b"), NONE);
      expect(await held()).toBeGreaterThan(0);
      await s.claimNext("b", null, T0, { ...ACK, max: 1 });
      await s.requeueExpired(T0 + 11_000, 100, NONE);
      await s.expireTasks(T0 + 11_000, 100, NONE);
      await s.ack("b", ids((await s.claimNext("b", null, T0 + 11_000, ACK)).messages));
      for (const text of ["1", "2"]) {
        await s.transitionTask("t_1", ["delivered", "working"], { note: text, at: T0, holder: "b", room: NONE, withdraw: true, messages: [progress("b", "a", "t_1", text)] });
      }
      await s.createTask(task("t_3", "a", null, { cap: "y" }), NONE);
      await s.assignWaiting("c", T0);
      s = await kind.again(s);
      await s.transitionTask("t_1", ["delivered", "working"], { state: "completed", note: "", at: T0, holder: "b", room: NONE, withdraw: true, messages: [{ to: "a", priority: "normal", msg: { type: "response", id: "m_r", from: "b", to: "a", created_at: "t", in_reply_to: "t_1", status: "completed", result: "done" } }] });
      await s.unregisterAgent("c", T0, "gone", NONE);
      for (const id of ["b", "a"]) await s.ack(id, ids((await s.claimNext(id, null, T0 + 11_000, ACK)).messages));
      expect(await held()).toBe(0);
      expect(await s.enqueueIfRoom(note("a", "b", "x".repeat(100)), { maxSenderBytes: 400 })).toMatchObject({ ok: true });
      await s.close();
    });

    test("a reply that does not fit changes nothing; a status that does not fit is skipped, the record keeps the state", async () => {
      const s = await two(kind);
      await s.createTask(task("t_1", "a", "b"), NONE);
      await s.claimNext("b", null, T0, { ...ACK, room: { maxQueue: 0 } });
      expect(await s.countWaiting("a")).toBe(0);
      await s.enqueueIfRoom(note("b", "a"), NONE);
      const full = { maxQueue: 1 };
      const answer = await s.transitionTask("t_1", ["delivered"], { state: "completed", note: "", at: T0, holder: "b", withdraw: true, room: full, messages: [progress("b", "a", "t_1", "done")] });
      expect(answer).toMatchObject({ ok: false, refused: "no_room", room: { refused: "queue_full" } });
      expect((await s.getTask("t_1"))!.state).toBe("delivered");
      // A progress note replacing an unread one always fits.
      await s.ack("a", ids((await s.claimNext("a", null, T0, ACK)).messages));
      await s.transitionTask("t_1", ["delivered", "working"], { state: "working", note: "1", at: T0, holder: "b", room: NONE, messages: [progress("b", "a", "t_1", "1")] });
      expect(await s.transitionTask("t_1", ["working"], { note: "2", at: T0, holder: "b", room: { maxQueue: 2 }, messages: [progress("b", "a", "t_1", "2")] })).toMatchObject({ ok: true });
      await s.close();
    });

    test("a broadcast reaches every agent but its sender that has room", async () => {
      let s = await two(kind);
      await s.claimName(agent("c"), T0, rules(T0));
      await s.enqueueIfRoom(note("a", "c"), NONE);
      const sent = note("a", "").msg;
      const r = await s.broadcast(sent, "a", { maxQueue: 1 });
      expect(r.recipients).toBe(1);
      expect(r.effects.messages).toEqual([{ to: "b", priority: "normal", msg: sent }]);
      s = await kind.again(s);
      expect(await s.countWaiting("a")).toBe(0);
      expect(await s.countWaiting("b")).toBe(1);
      await s.close();
    });

    test("claiming puts messages in flight until acknowledged; unknown ids are ignored", async () => {
      let s = await two(kind);
      const sent = [note("a", "b"), note("a", "b"), note("a", "b")];
      for (const e of sent) await s.enqueueIfRoom(e, NONE);
      const first = await s.claimNext("b", null, T0, { ...ACK, max: 2 });
      expect(ids(first.messages)).toEqual([sent[0]!.msg.id, sent[1]!.msg.id]);
      expect(await s.countWaiting("b")).toBe(1);
      expect(await s.ack("b", [sent[0]!.msg.id, "m_unknown"])).toBe(1);
      expect(await s.ack("b", [sent[0]!.msg.id])).toBe(0);
      s = await kind.again(s);
      // The unacknowledged one comes back after the ack window.
      expect((await s.requeueExpired(T0 + 60_000, 100, NONE)).requeued).toBe(1);
      expect(ids((await s.claimNext("b", null, T0 + 60_000, ACK)).messages)).toEqual([sent[1]!.msg.id, sent[2]!.msg.id]);
      await s.close();
    });

    test("two concurrent claims for one agent hand a message out once", async () => {
      const s = await two(kind);
      await s.enqueueIfRoom(note("a", "b"), NONE);
      const [x, y] = await Promise.all([s.claimNext("b", null, T0, { ...ACK, max: 1 }), s.claimNext("b", null, T0, { ...ACK, max: 1 })]);
      expect(x.messages.length + y.messages.length).toBe(1);
      for (let i = 0; i < 50; i++) await s.enqueueIfRoom(note("a", "b"), NONE);
      const claims = await Promise.all(Array.from({ length: 20 }, () => s.claimNext("b", null, T0, { ...ACK, max: 3 })));
      const all = claims.flatMap((c) => ids(c.messages));
      expect(all.length).toBe(50);
      expect(new Set(all).size).toBe(50);
      await s.close();
    });

    test("a connection takes only what it wants; others' messages stay queued in order", async () => {
      const s = await two(kind);
      await s.attachConnection("b", "r1.1");
      const file = (key: string): NewEntry => ({ to: "b", priority: "normal", msg: { type: "file", id: `m_f${++n}`, from: "a", to: null, created_at: "t", key, version: 1, by: "a", action: "put" } });
      await s.enqueueIfRoom(note("a", "b"), NONE);
      await s.enqueueIfRoom(file("docs/a.md"), NONE);
      await s.enqueueIfRoom(file("src/b.ts"), NONE);
      const watch = await s.claimNext("b", "r1.1", T0, { ...ACK, want: { types: ["file"], filePrefix: "docs/" } });
      expect(watch.messages.map((m) => (m.type === "file" ? m.key : m.type))).toEqual(["docs/a.md"]);
      const typed = await s.claimNext("b", "r1.1", T0, { ...ACK, want: { types: ["file"], filePrefix: null } });
      expect(typed.messages.map((m) => (m.type === "file" ? m.key : m.type))).toEqual(["src/b.ts"]);
      expect(types((await s.claimNext("b", null, T0, ACK)).messages)).toEqual(["broadcast"]);
      await s.close();
    });

    test("a connection must be attached to claim; closing it queues again what went out on it", async () => {
      let s = await two(kind);
      for (let i = 0; i < 3; i++) await s.enqueueIfRoom(note("a", "b"), NONE);
      expect((await s.claimNext("b", "r1.9", T0, ACK)).messages).toEqual([]);
      expect((await s.attachConnection("b", "r1.1"))!.conns).toEqual(["r1.1"]);
      await s.attachConnection("b", "r1.2");
      const one = await s.claimNext("b", "r1.1", T0, { ...ACK, max: 1 });
      const two_ = await s.claimNext("b", "r1.2", T0, { ...ACK, max: 1 });
      await s.ack("b", ids(one.messages));
      expect([...(await s.detachConnection("b", "r1.2")).queued]).toEqual(["b"]);
      expect((await s.getAgent("b"))!.conns).toEqual(["r1.1"]);
      s = await kind.again(s);
      expect(ids((await s.claimNext("b", null, T0, ACK)).messages)[0]).toBe(two_.messages[0]!.id);
      await s.close();
    });

    test("acknowledging by task settles every queued or in-flight message about it", async () => {
      const s = await two(kind);
      await s.createTask(task("t_1", "a", "b"), NONE);
      await s.createTask(task("t_2", "a", "b"), NONE);
      await s.claimNext("b", null, T0, ACK);
      await s.transitionTask("t_1", ["delivered"], { room: NONE, note: "half", at: T0, holder: "b", messages: [progress("b", "a", "t_1", "half")] });
      await s.transitionTask("t_2", ["delivered"], { room: NONE, note: "x", at: T0, holder: "b", messages: [progress("b", "a", "t_2", "x")] });
      await s.claimNext("a", null, T0, { ...ACK, max: 1 });
      // a holds one message about each task in flight or queued: delivered statuses and progress notes.
      expect(await s.clearTaskMessages("a", ["t_1"])).toBeGreaterThanOrEqual(2);
      const rest = (await s.claimNext("a", null, T0, ACK)).messages;
      expect(rest.every((m) => (m.type === "status" ? m.task_id : m.type === "progress" ? m.in_reply_to : "") === "t_2")).toBe(true);
      expect(rest.length).toBeGreaterThan(0);
      await s.close();
    });

    test("an unread progress note or status replaces the previous unread one about the same task, never a read one", async () => {
      let s = await two(kind);
      await s.createTask(task("t_1", "a", "b"), NONE);
      await s.claimNext("b", null, T0, ACK);
      for (const text of ["one", "two", "three"]) {
        const state = text === "one" ? ("working" as const) : undefined;
        await s.transitionTask("t_1", ["delivered", "working"], { room: NONE, state, note: text, at: T0, holder: "b", messages: [progress("b", "a", "t_1", text)] });
      }
      s = await kind.again(s);
      // The status said delivered, then working; the notes said one, two, three.
      const first = (await s.claimNext("a", null, T0, ACK)).messages;
      expect(first.map((m) => (m.type === "progress" ? m.note : m.type === "status" ? m.state : ""))).toEqual(["working", "three"]);
      await s.transitionTask("t_1", ["delivered", "working"], { room: NONE, note: "four", at: T0, holder: "b", messages: [progress("b", "a", "t_1", "four")] });
      expect(await s.countWaiting("a")).toBe(1);
      // The read one comes back after its window, and the newer unread one makes it moot.
      await s.requeueExpired(T0 + 60_000, 100, NONE);
      expect(await s.countWaiting("a")).toBe(2);
      expect((await s.claimNext("a", null, T0 + 60_000, ACK)).messages.map((m) => (m.type === "progress" ? m.note : m.type))).toEqual(["status", "four"]);
      await s.close();
    });

    test("a message put back goes to its place in the queue", async () => {
      const s = await two(kind);
      const sent = [note("a", "b"), note("a", "b"), note("a", "b")];
      for (const e of sent) await s.enqueueIfRoom(e, NONE);
      const { messages } = await s.claimNext("b", null, T0, { ...ACK, max: 2 });
      await s.requeue("b", [messages[1]!.id, messages[0]!.id]);
      expect(ids((await s.claimNext("b", null, T0, ACK)).messages)).toEqual(sent.map((e) => e.msg.id));
      await s.close();
    });
  });

  describe(`${kind.name} store: tasks`, () => {
    test("a task is created queued with its message queued; claiming delivers it, attempt by attempt", async () => {
      let s = await two(kind);
      const r = await s.createTask(task("t_1", "a", "b", { priority: "high" }), NONE);
      expect(r).toMatchObject({ ok: true, duplicate: false, task: { state: "queued" } });
      expect(await s.countHeld(["a", "b"])).toEqual([0, 1]);
      s = await kind.again(s);
      const first = await s.claimNext("b", null, T0 + 1, ACK);
      expect(first.messages).toEqual([expect.objectContaining({ type: "task", id: "t_1", attempt: 1, lease_s: 30 })]);
      expect(first.effects.tasks).toEqual(["t_1"]);
      expect(first.effects.messages.map((m) => [m.to, m.msg.type])).toEqual([["a", "status"]]);
      const t = (await s.getTask("t_1"))!;
      expect(t).toMatchObject({ state: "delivered", attempts: 1 });
      expect(Object.isFrozen(t) && Object.isFrozen(t.history)).toBe(true);
      // Its lease runs out: queued again with a note, then delivered as attempt 2.
      expect((await s.requeueExpired(T0 + 30_000, 100, NONE)).requeued).toBe(0);
      expect((await s.requeueExpired(T0 + 30_001, 100, NONE)).requeued).toBe(1);
      s = await kind.again(s);
      expect((await s.getTask("t_1"))!.history.at(-1)).toMatchObject({ state: "queued", note: "lease of 30s ran out before an ack; queued again" });
      expect((await s.claimNext("b", null, T0 + 40_000, ACK)).messages).toEqual([expect.objectContaining({ id: "t_1", attempt: 2 })]);
      await s.close();
    });

    test("a repeated idempotency key returns the first task; a task that did not fit claims no key", async () => {
      let s = await two(kind);
      expect(await s.createTask(task("t_1", "a", "b", { idempotencyKey: "k" }), { maxQueue: 0 })).toEqual({ ok: false, refused: "queue_full", waiting: 0, name: "b" });
      expect(await s.getTask("t_1")).toBeUndefined();
      const created = await s.createTask(task("t_2", "a", "b", { idempotencyKey: "k", context: { pr: 2 } }), NONE);
      expect(created).toMatchObject({ ok: true, duplicate: false, task: { id: "t_2", context: { pr: 2 } } });
      // The record it answers with is the one kept.
      expect(created.ok && created.task).toEqual((await s.getTask("t_2"))!);
      expect(await s.createTask(task("t_3", "a", "b", { idempotencyKey: "k", context: { pr: 3 } }), NONE)).toMatchObject({ ok: true, duplicate: true, task: { id: "t_2", context: { pr: 2 } } });
      expect(await s.createTask(task("t_4", "b", "a", { idempotencyKey: "k" }), NONE)).toMatchObject({ ok: true, duplicate: false });
      s = await kind.again(s);
      expect((await s.getTaskByKey("a", "k"))!.id).toBe("t_2");
      expect(await s.countWaiting("b")).toBe(1);
      await s.close();
    });

    test("a task's context comes back as sent through every change, in its record and in the message that carries it", async () => {
      let s = await two(kind);
      const context = { repo: "api", pr: 1234, nested: { list: [1, "two", null], none: [], empty: {} }, text: "line\nbreak" };
      await s.createTask(task("t_1", "a", "b", { context }), NONE);
      s = await kind.again(s);
      expect((await s.claimNext("b", null, T0, ACK)).messages).toMatchObject([{ type: "task", id: "t_1", context }]);
      const working = await s.transitionTask("t_1", ["delivered"], { room: NONE, state: "working", note: "", at: T0 + 1, holder: "b" });
      expect(working.ok && working.task).toEqual((await s.getTask("t_1"))!);
      const done = await s.transitionTask("t_1", ["working"], { room: NONE, state: "completed", note: "", at: T0 + 2, holder: "b", result: "r" });
      expect(done.ok && done.task.context).toEqual(context);
      expect((await s.listTasks("a", {}))[0]!.context).toEqual(context);
      expect((await s.pruneTasks(T0 + 3, 0)).map((t) => t.context)).toEqual([context]);
      expect((await s.heldBytes()).finished).toBe(0);
      await s.close();
    });

    test("a task waiting for a capability goes to the first agent that registers with it", async () => {
      let s = await two(kind);
      const created = await s.createTask(task("t_1", "a", null, { cap: "gpu", context: { size: "xl" } }), NONE);
      expect(created.ok && created.task).toEqual((await s.getTask("t_1"))!);
      expect(created).toMatchObject({ task: { to: null, history: [{ state: "queued", note: "waiting for an agent with gpu" }] } });
      s = await kind.again(s);
      expect((await s.assignWaiting("b", T0)).tasks).toEqual([]);
      await s.claimName(agent("c", "c", ["gpu"]), T0, rules(T0));
      const r = await s.assignWaiting("c", T0);
      expect(r.tasks.map((t) => t.to)).toEqual(["c"]);
      expect(ids((await s.claimNext("c", null, T0, ACK)).messages)).toEqual(["t_1"]);
      expect((await s.assignWaiting("c", T0)).tasks).toEqual([]);
      await s.close();
    });

    test("a holder sent by name or by id is kept by its id and named in the first note; the message, addressed to the id, weighs what it is as sent", async () => {
      let s = kind.open();
      const [alice, bob] = ["a_000000000001", "a_000000000002"];
      await s.claimName(agent(alice, "alice"), T0, rules(T0));
      await s.claimName(agent(bob, "bob"), T0, rules(T0));
      // Text JSON escapes (or may: a slash) in the task and its context.
      const byName = await s.createTask(task("t_1", alice, "bob", { task: 'say "hi" / \\ \u00e9\n', context: { q: "a/b", n: [1.5, null] }, ttlS: 60, idempotencyKey: "k1" }), NONE);
      const byId = await s.createTask(task("t_2", alice, bob, { priority: "high", leaseS: 45 }), NONE);
      let weight = 0;
      for (const [r, id] of [[byName, "t_1"], [byId, "t_2"]] as const) {
        if (!r.ok) throw new Error(r.refused);
        expect(r).toMatchObject({ duplicate: false, task: { id, to: bob, state: "queued", attempts: 0, handedTo: null, updatedAt: T0, history: [{ state: "queued", at: T0, note: "for bob" }] } });
        expect(r.task).toEqual((await s.getTask(id))!);
        expect(r.effects.messages.map((m) => [m.to, m.msg])).toEqual([[bob, taskMessage(r.task)]]);
        weight += messageBytes(taskMessage(r.task));
      }
      expect((await s.heldBytes()).queued).toBe(weight);
      s = await kind.again(s);
      const kept = [(await s.getTask("t_2"))!, (await s.getTask("t_1"))!];
      expect((await s.claimNext(bob, null, T0 + 1, ACK)).messages).toEqual(kept.map((t) => ({ ...taskMessage(t), attempt: 1 })));
      const again = await s.createTask(task("t_3", alice, bob, { idempotencyKey: "k1" }), NONE);
      expect(again).toMatchObject({ ok: true, duplicate: true, task: { id: "t_1", to: bob, state: "delivered", ttlS: 60, context: { q: "a/b", n: [1.5, null] } } });
      expect(again.ok && again.task).toEqual((await s.getTask("t_1"))!);
      await s.close();
    });

    test("a transition is a compare-and-set on the state, and only the holder's pass", async () => {
      let s = await two(kind);
      await s.createTask(task("t_1", "a", "b"), NONE);
      expect(await s.transitionTask("t_1", ["delivered"], { room: NONE, state: "completed", note: "", at: T0 })).toMatchObject({ ok: false, refused: "state" });
      await s.claimNext("b", null, T0, ACK);
      expect(await s.transitionTask("t_1", ["delivered"], { room: NONE, state: "completed", note: "", at: T0, holder: "a" })).toMatchObject({ ok: false, refused: "not_holder" });
      expect(await s.transitionTask("t_9", ["delivered"], { room: NONE, state: "completed", note: "", at: T0 })).toEqual({ ok: false, refused: "unknown_task" });
      const done = await s.transitionTask("t_1", ["delivered", "working"], { room: NONE, state: "completed", note: "", at: T0 + 5, holder: "b", result: "r", responseId: "m_r", withdraw: true });
      expect(done).toMatchObject({ ok: true, task: { state: "completed", result: "r", responseId: "m_r", updatedAt: T0 + 5 } });
      // What is kept finished after the change, so its caller knows whether to prune.
      expect(done.ok && done.finished).toEqual({ count: 1, bytes: (await s.heldBytes()).finished });
      expect((await s.heldBytes()).finished).toBeGreaterThan(0);
      s = await kind.again(s);
      expect(await s.countHeld(["b"])).toEqual([0]);
      // Withdrawn: the copy in flight is settled, and its lease never brings it back.
      await s.requeueExpired(T0 + 31_000, 100, NONE);
      expect((await s.claimNext("b", null, T0 + 31_000, ACK)).messages).toEqual([]);
      await s.close();
    });

    test("an answer's reply goes to the task's sender at the task's priority, addressed by the store; a task never handed out cannot be answered", async () => {
      let s = await two(kind);
      await s.createTask(task("t_1", "a", "b", { priority: "high" }), NONE);
      const reply: Message = { type: "response", id: "m_r", from: "b", to: "", created_at: "t", in_reply_to: "t_1", status: "completed", result: "d/one \u00e9" };
      const answer = (room: Room) => s.transitionTask("t_1", ["queued", "delivered", "working"], { room, state: "completed", note: "", at: T0, holder: "b", handedOut: true, result: "done", responseId: "m_r", withdraw: true, reply });
      expect(await answer(NONE)).toMatchObject({ ok: false, refused: "state", task: { state: "queued", attempts: 0 } });
      await s.claimNext("b", null, T0, ACK);
      await s.ack("a", ids((await s.claimNext("a", null, T0, ACK)).messages));
      // The reply must fit as any message that goes with the change: a full queue changes nothing.
      await s.enqueueIfRoom(note("c", "a"), NONE);
      expect(await answer({ maxQueue: 1 })).toMatchObject({ ok: false, refused: "no_room", room: { refused: "queue_full", name: "a" } });
      expect((await s.getTask("t_1"))!.state).toBe("delivered");
      const done = await answer(NONE);
      expect(done).toMatchObject({ ok: true, task: { state: "completed", responseId: "m_r" } });
      expect(done.ok && done.effects.messages.map((m) => [m.to, m.priority, m.msg.type])).toContainEqual(["a", "high", "response"]);
      s = await kind.again(s);
      const got = (await s.claimNext("a", null, T0, ACK)).messages;
      expect(got.filter((m) => m.type !== "broadcast")).toEqual([{ ...reply, to: "a" }, expect.objectContaining({ type: "status", task_id: "t_1", state: "completed" })]);
      await s.close();
    });

    test("of two concurrent answers to one task, one wins", async () => {
      const s = await two(kind);
      await s.createTask(task("t_1", "a", "b"), NONE);
      await s.claimNext("b", null, T0, ACK);
      const answer = (result: string) => s.transitionTask("t_1", ["delivered", "working"], { room: NONE, state: "completed", note: "", at: T0, holder: "b", result, withdraw: true });
      const [x, y] = await Promise.all([answer("x"), answer("y")]);
      expect([x.ok, y.ok].filter(Boolean)).toHaveLength(1);
      await s.close();
    });

    test("canceling after delivery tells the holder too; a withdrawn queued copy is never handed out", async () => {
      const s = await two(kind);
      await s.createTask(task("t_1", "a", "b"), NONE);
      await s.claimNext("b", null, T0, ACK);
      await s.createTask(task("t_2", "a", "b"), NONE);
      await s.transitionTask("t_1", ["queued", "delivered", "working"], { room: NONE, state: "canceled", note: "no", at: T0, withdraw: true });
      await s.transitionTask("t_2", ["queued", "delivered", "working"], { room: NONE, state: "canceled", note: "no", at: T0, withdraw: true });
      const holder = (await s.claimNext("b", null, T0, ACK)).messages;
      expect(holder.map((m) => (m.type === "status" ? `${m.task_id}:${m.state}` : m.id))).toEqual(["t_1:canceled"]);
      await s.close();
    });

    test("a task queued past its ttl expires; one delivered does not, until its lease brings it back", async () => {
      let s = await two(kind);
      await s.createTask(task("t_1", "a", "b", { ttlS: 10 }), NONE);
      await s.createTask(task("t_2", "a", "b", { ttlS: 10, priority: "urgent" }), NONE);
      await s.claimNext("b", null, T0, { ...ACK, max: 1 });
      expect((await s.expireTasks(T0 + 9_999, 100, NONE)).tasks).toEqual([]);
      const r = await s.expireTasks(T0 + 10_000, 100, NONE);
      expect(r.tasks.map((t) => [t.id, t.state])).toEqual([["t_1", "expired"]]);
      s = await kind.again(s);
      expect((await s.getTask("t_1"))!.history.at(-1)!.note).toBe("not delivered within its ttl of 10s");
      await s.requeueExpired(T0 + 30_001, 100, NONE);
      expect((await s.expireTasks(T0 + 30_001, 100, NONE)).tasks.map((t) => t.id)).toEqual(["t_2"]);
      expect((await s.claimNext("b", null, T0 + 30_001, ACK)).messages.filter((m) => m.type === "task")).toEqual([]);
      await s.close();
    });

    test("finished tasks are dropped past their retention, and past a count, oldest first", async () => {
      let s = await two(kind);
      for (const [i, at] of [[1, 100], [2, 200], [3, 300]] as const) {
        await s.createTask(task(`t_${i}`, "a", "b", { idempotencyKey: `k${i}` }), NONE);
        await s.transitionTask(`t_${i}`, ["queued"], { room: NONE, state: "canceled", note: "", at: T0 + at, withdraw: true });
      }
      await s.createTask(task("t_4", "a", "b"), NONE);
      expect((await s.pruneTasks(T0 + 150, 10)).map((t) => t.id)).toEqual(["t_1"]);
      expect((await s.pruneTasks(0, 1)).map((t) => [t.id, t.state])).toEqual([["t_2", "canceled"]]);
      s = await kind.again(s);
      expect((await s.listTasks("a", {})).map((t) => t.id)).toEqual(["t_3", "t_4"]);
      expect(await s.getTaskByKey("a", "k1")).toBeUndefined();
      await s.close();
    });

    test("the operator's view: the latest changed tasks first, counts by state, the holder's latest note, messages in flight", async () => {
      let s = await two(kind);
      await s.createTask(task("t_1", "a", "b", { createdAt: T0 + 1, updatedAt: T0 + 1 }), NONE);
      await s.createTask(task("t_2", "a", "b", { createdAt: T0 + 2, updatedAt: T0 + 2 }), NONE);
      await s.claimNext("b", null, T0 + 3, ACK);
      expect(await s.countInFlight("b")).toBe(2);
      expect(await s.countInFlight("a")).toBe(0);
      await s.transitionTask("t_1", ["delivered"], { room: NONE, state: "working", note: "", at: T0 + 4, holder: "b", progress: "reading" });
      await s.transitionTask("t_1", ["working"], { room: NONE, note: "", at: T0 + 5, holder: "b", progress: "half way" });
      s = await kind.again(s);
      expect(await s.getTask("t_1")).toMatchObject({ state: "working", note: "half way", updatedAt: T0 + 5 });
      // A note changes no state: the history has it once, as working.
      expect((await s.getTask("t_1"))!.history.map((h) => h.state)).toEqual(["queued", "delivered", "working"]);
      expect((await s.recentTasks(10)).map((t) => t.id)).toEqual(["t_1", "t_2"]);
      expect((await s.recentTasks(1)).map((t) => t.id)).toEqual(["t_1"]);
      expect(await s.countTasks()).toMatchObject({ queued: 0, delivered: 1, working: 1, completed: 0 });
      await s.close();
    });

    test("an agent's tasks are listed oldest first, by state and role, a page at a time", async () => {
      const s = await two(kind);
      await s.createTask(task("t_1", "a", "b", { createdAt: T0 + 1 }), NONE);
      await s.createTask(task("t_2", "b", "a", { createdAt: T0 + 2 }), NONE);
      await s.createTask(task("t_3", "a", "b", { createdAt: T0 + 3 }), NONE);
      expect((await s.listTasks("a", {})).map((t) => t.id)).toEqual(["t_1", "t_2", "t_3"]);
      expect((await s.listTasks("a", { role: "sent" })).map((t) => t.id)).toEqual(["t_1", "t_3"]);
      expect((await s.listTasks("a", { role: "held" })).map((t) => t.id)).toEqual(["t_2"]);
      expect((await s.listTasks("a", { after: "t_1", limit: 1 })).map((t) => t.id)).toEqual(["t_2"]);
      expect(await s.listTasks("a", { state: "completed" })).toEqual([]);
      await s.close();
    });
  });

  describe(`${kind.name} store: holders that go offline`, () => {
    const LIVE = { graceMs: 15_000, reachableMs: 30_000, room: NONE };
    const moved = (r: { tasks: readonly { task: TaskRecord; holder: string }[] }) => r.tasks.map((x) => [x.task.id, x.holder, x.task.to, x.task.state]);

    test("a socket holder gone past the grace loses its tasks: one sent by capability goes to another capable agent, one sent to it waits for it; senders are told", async () => {
      let s = await two(kind);
      await s.claimName(agent("c", "c", ["x"]), T0, rules(T0));
      await s.attachConnection("b", "r1.1", T0);
      await s.createTask(task("t_1", "a", "b", { cap: "x" }), NONE);
      await s.createTask(task("t_2", "a", "b"), NONE);
      const got = await s.claimNext("b", "r1.1", T0, ACK);
      await s.ack("b", ["t_1"]);
      expect((await s.reclaimTasks(T0 + 100_000, 100, LIVE)).tasks).toEqual([]); // connected: alive however long
      await s.detachConnection("b", "r1.1", T0 + 1000);
      expect(await s.getAgent("b")).toMatchObject({ conns: [], disconnectedAt: T0 + 1000, connectedAt: null });
      expect((await s.reclaimTasks(T0 + 15_999, 100, LIVE)).tasks).toEqual([]);
      const r = await s.reclaimTasks(T0 + 16_000, 100, LIVE);
      expect(moved(r)).toEqual([["t_1", "b", "c", "queued"], ["t_2", "b", "b", "queued"]]);
      expect(got.messages.map((m) => m.id)).toEqual(["t_1", "t_2"]);
      // Queued again for its returning agent, or for one that can receive, a task is not taken back a second time.
      expect((await s.reclaimTasks(T0 + 17_000, 100, LIVE)).tasks).toEqual([]);
      s = await kind.again(s);
      expect((await s.getTask("t_1"))!.history.at(-1)!.note).toBe("holder b went offline; reassigned to c");
      expect((await s.getTask("t_2"))!.history.at(-1)!.note).toBe("holder b went offline; delivered again when b returns");
      expect(await s.countHeld(["b", "c"])).toEqual([1, 1]);
      const told = (await s.claimNext("a", null, T0 + 16_000, ACK)).messages;
      expect(told.map((m) => (m.type === "status" ? `${m.task_id}:${m.state}:${m.note}` : m.type)).slice(-2).sort()).toEqual([
        "t_1:queued:holder b went offline; reassigned to c",
        "t_2:queued:holder b went offline; delivered again when b returns",
      ]);
      const [again] = (await s.claimNext("c", null, T0 + 16_000, ACK)).messages;
      expect(again).toMatchObject({ id: "t_1", attempt: 2, redelivered: true });
      expect(ids((await s.claimNext("b", null, T0 + 16_000, ACK)).messages)).toEqual(["t_2"]);
      await s.close();
    });

    test("a task moved to another agent is answered by it only once handed to it; the agent it left is not its holder; one queued again for its own agent stays answerable by it", async () => {
      let s = await two(kind);
      await s.claimName(agent("c", "c", ["x"]), T0, rules(T0));
      await s.createTask(task("t_1", "a", "b", { cap: "x" }), NONE);
      await s.createTask(task("t_2", "a", "b"), NONE);
      await s.claimNext("b", null, T0, ACK);
      await s.ack("b", ["t_1", "t_2"]);
      await s.touchAgent("c", T0 + 30_000);
      expect(moved(await s.reclaimTasks(T0 + 30_000, 100, LIVE))).toEqual([["t_1", "b", "c", "queued"], ["t_2", "b", "b", "queued"]]);
      const answer = (id: string, holder: string) => s.transitionTask(id, ["queued", "delivered", "working"], { room: NONE, state: "completed", note: "", at: T0 + 30_000, holder, handedOut: true, withdraw: true });
      expect(await answer("t_1", "c")).toMatchObject({ ok: false, refused: "state", task: { to: "c", state: "queued", attempts: 1, handedTo: "b" } });
      expect(await answer("t_1", "b")).toMatchObject({ ok: false, refused: "not_holder" });
      s = await kind.again(s);
      expect(await s.getTask("t_2")).toMatchObject({ to: "b", state: "queued", handedTo: "b" });
      expect(await answer("t_2", "b")).toMatchObject({ ok: true, task: { state: "completed" } });
      expect(ids((await s.claimNext("c", null, T0 + 30_000, ACK)).messages)).toEqual(["t_1"]);
      expect(await answer("t_1", "c")).toMatchObject({ ok: true, task: { state: "completed", handedTo: "c", attempts: 2 } });
      await s.close();
    });

    test("a task moved to another agent and canceled before it was handed to it tells that agent nothing: it never had it", async () => {
      const s = await two(kind);
      await s.claimName(agent("c", "c", ["x"]), T0, rules(T0));
      await s.createTask(task("t_1", "a", "b", { cap: "x" }), NONE);
      await s.claimNext("b", null, T0, ACK);
      await s.ack("b", ["t_1"]);
      await s.touchAgent("c", T0 + 30_000);
      expect(moved(await s.reclaimTasks(T0 + 30_000, 100, LIVE))).toEqual([["t_1", "b", "c", "queued"]]);
      await s.transitionTask("t_1", ["queued", "delivered", "working"], { room: NONE, state: "canceled", note: "no", at: T0 + 30_000, withdraw: true });
      expect((await s.claimNext("c", null, T0 + 30_000, ACK)).messages).toEqual([]);
      await s.close();
    });

    test("a task out on a connection still attached keeps its lease; once the connection is gone, its lease runs out as before", async () => {
      const s = await two(kind);
      await s.attachConnection("b", "r1.1", T0);
      await s.createTask(task("t_1", "a", "b", { leaseS: 30 }), NONE);
      await s.claimNext("b", "r1.1", T0, ACK);
      expect((await s.requeueExpired(T0 + 31_000, 100, NONE)).requeued).toBe(0);
      expect((await s.getTask("t_1"))!.state).toBe("delivered");
      expect(await s.countInFlight("b")).toBe(1);
      await s.detachConnection("b", "r1.1", T0 + 32_000);
      expect(await s.countWaiting("b")).toBe(1);
      await s.close();
    });

    test("an HTTP holder keeps its task while it shows life within the task's lease, and loses it past it; with no one able to take it, it waits for a capable agent", async () => {
      const s = await two(kind);
      await s.createTask(task("t_1", "a", "b", { cap: "x", leaseS: 30 }), NONE);
      await s.claimNext("b", null, T0, ACK);
      await s.ack("b", ["t_1"]);
      await s.touchAgent("b", T0 + 20_000);
      expect((await s.reclaimTasks(T0 + 49_999, 100, LIVE)).tasks).toEqual([]);
      const r = await s.reclaimTasks(T0 + 50_000, 100, LIVE);
      expect(moved(r)).toEqual([["t_1", "b", null, "queued"]]);
      expect(r.tasks[0]!.task.history.at(-1)!.note).toBe("holder b went offline; waiting for an agent with x");
      expect(await s.countHeld(["b"])).toEqual([0]);
      await s.claimName(agent("c", "c", ["x"]), T0 + 50_000, rules(T0 + 50_000));
      expect((await s.assignWaiting("c", T0 + 50_000)).tasks.map((t) => t.to)).toEqual(["c"]);
      await s.close();
    });

    test("an HTTP holder's tasks each keep their own lease: the shortest runs out first, whatever order they came in", async () => {
      const s = await two(kind);
      await s.createTask(task("t_2", "a", "b", { cap: "x", leaseS: 40 }), NONE);
      await s.createTask(task("t_1", "a", "b", { leaseS: 600 }), NONE);
      await s.createTask(task("t_3", "a", "b", { leaseS: 20 }), NONE);
      await s.claimNext("b", null, T0, ACK);
      await s.ack("b", ["t_1", "t_2", "t_3"]);
      await s.touchAgent("b", T0 + 10_000);
      expect((await s.reclaimTasks(T0 + 29_999, 100, LIVE)).tasks).toEqual([]);
      expect(moved(await s.reclaimTasks(T0 + 30_000, 100, LIVE))).toEqual([["t_3", "b", "b", "queued"]]);
      expect((await s.reclaimTasks(T0 + 49_999, 100, LIVE)).tasks).toEqual([]);
      expect(moved(await s.reclaimTasks(T0 + 50_000, 100, LIVE))).toEqual([["t_2", "b", null, "queued"]]);
      await s.touchAgent("b", T0 + 50_000);
      expect((await s.reclaimTasks(T0 + 649_999, 100, LIVE)).tasks).toEqual([]);
      expect(moved(await s.reclaimTasks(T0 + 650_000, 100, LIVE))).toEqual([["t_1", "b", "b", "queued"]]);
      await s.close();
    });

    test("an HTTP holder gone quiet keeps what was sent to it by name and still queued, however many; the one it took is queued again for it past its lease, once", async () => {
      let s = await two(kind);
      for (let i = 1; i <= 5; i++) await s.createTask(task(`t_${i}`, "a", "b", { leaseS: 30 }), NONE);
      expect((await s.reclaimTasks(T0 + 100_000, 100, LIVE)).tasks).toEqual([]);
      await s.claimNext("b", null, T0, { ...ACK, max: 1 });
      await s.ack("b", ["t_1"]);
      s = await kind.again(s);
      expect((await s.reclaimTasks(T0 + 29_999, 100, LIVE)).tasks).toEqual([]);
      expect(moved(await s.reclaimTasks(T0 + 30_000, 100, LIVE))).toEqual([["t_1", "b", "b", "queued"]]);
      expect((await s.reclaimTasks(T0 + 100_000, 100, LIVE)).tasks).toEqual([]);
      expect(await s.countHeld(["b"])).toEqual([5]);
      await s.close();
    });

    test("a queued capability task moves off a holder that cannot receive only when another agent can, its sender last", async () => {
      const s = await two(kind);
      await s.claimName(agent("c", "c", ["x"]), T0, rules(T0));
      await s.attachConnection("b", "r1.1", T0);
      await s.detachConnection("b", "r1.1", T0);
      await s.createTask(task("t_1", "c", "b", { cap: "x" }), NONE);
      await s.createTask(task("t_2", "a", "b", { cap: "x" }), NONE);
      // c sent t_1: it takes its own task back only because no one else can; t_2 goes to c too.
      const r = await s.reclaimTasks(T0 + 15_000, 100, LIVE);
      expect(moved(r)).toEqual([["t_1", "b", "c", "queued"], ["t_2", "b", "c", "queued"]]);
      expect(r.tasks[0]!.task.attempts).toBe(0);
      // Nobody else with x can receive at T0 + 31 s (c was seen at T0): the next one stays where it is.
      await s.createTask(task("t_3", "a", "c", { cap: "x" }), NONE);
      expect((await s.reclaimTasks(T0 + 31_000, 100, LIVE)).tasks).toEqual([]);
      await s.claimName(agent("d", "d", ["x"]), T0 + 31_000, rules(T0 + 31_000));
      expect(moved(await s.reclaimTasks(T0 + 31_000, 1, LIVE))).toEqual([["t_1", "c", "d", "queued"]]);
      await s.close();
    });
  });

  describe(`${kind.name} store: files`, () => {
    const FILES = { maxVersions: 3, maxTotalBytes: 1000 };
    const put = (s: Store, key: string, text: string, expected: number, at = T0, author = "a") =>
      s.putFileVersionIf(key, expected, { bytes: new TextEncoder().encode(text), sha256: `sha-${text}`, author, authorId: author, createdAt: at }, FILES);

    test("versions count up on their expected head; a stale head is refused with the latest", async () => {
      let s = await two(kind);
      expect(await put(s, "k", "one", 0)).toMatchObject({ ok: true, version: { version: 1, size: 3 } });
      expect(await put(s, "k", "two", 0)).toMatchObject({ ok: false, refused: "version", latest: { version: 1 } });
      expect(await put(s, "k", "two", 1)).toMatchObject({ ok: true, version: { version: 2 } });
      s = await kind.again(s);
      expect(await s.getFileHead("k")).toEqual({ key: "k", version: 2, deletedBy: null, deletedAt: null });
      expect(new TextDecoder().decode((await s.getFileVersion("k", 1))!.bytes)).toBe("one");
      expect((await s.listFileVersions("k")).map((f) => f.version)).toEqual([1, 2]);
      await s.close();
    });

    test("of two writes on the same head, one wins", async () => {
      const s = await two(kind);
      await put(s, "k", "base", 0);
      const [x, y] = await Promise.all([put(s, "k", "mine", 1), put(s, "k", "yours", 1)]);
      expect([x.ok, y.ok].sort()).toEqual([false, true]);
      expect((await s.getFileHead("k"))!.version).toBe(2);
      await s.close();
    });

    test("only the last versions are kept, older ones give way to the byte limit, and the latest never does", async () => {
      let s = await two(kind);
      for (let v = 1; v <= 4; v++) await put(s, "k", `v${v}`, v - 1);
      expect((await s.listFileVersions("k")).map((f) => f.version)).toEqual([2, 3, 4]);
      await put(s, "big", "x".repeat(600), 0, T0 + 1);
      expect(await s.pinnedBytes("k")).toBe(600);
      expect(await put(s, "other", "y".repeat(500), 0)).toMatchObject({ ok: false, refused: "storage_full", pinned: 602 });
      // 600 + 398 pinned: with v3 and v4 of k (2 bytes each) that is 1002, so the older, v3, gives way.
      await put(s, "k", "z".repeat(398), 4, T0 + 2);
      s = await kind.again(s);
      expect((await s.listFileVersions("k")).map((f) => f.version)).toEqual([4, 5]);
      await s.close();
    });

    test("a delete drops every version, numbering goes on after it, and a lease of another agent blocks it", async () => {
      let s = await two(kind);
      await put(s, "k", "one", 0);
      await s.takeLease("k", "b", "b", T0, T0 + 1000);
      expect(await s.deleteFileIf("k", "a", "a", T0)).toMatchObject({ ok: false, refused: "locked", lock: { holderId: "b" } });
      expect(await put(s, "k", "two", 1)).toMatchObject({ ok: false, refused: "locked" });
      expect(await s.deleteFileIf("k", "a", "a", T0 + 1000)).toMatchObject({ ok: true, head: { version: 1, deletedBy: "a", deletedAt: T0 + 1000 } });
      expect(await s.deleteFileIf("k", "a", "a", T0 + 1000)).toMatchObject({ ok: false, refused: "unknown_file", head: { version: 1 } });
      s = await kind.again(s);
      expect(await s.listFileVersions("k")).toEqual([]);
      expect(await put(s, "k", "again", 0, T0 + 1000)).toMatchObject({ ok: true, version: { version: 2 } });
      await s.close();
    });

    test("a lease is taken, renewed by its holder, refused to others, released by its holder only, and claimed when it runs out", async () => {
      let s = await two(kind);
      expect(await s.takeLease("k", "a", "a", T0, T0 + 10)).toMatchObject({ ok: true, lock: { since: T0, until: T0 + 10 } });
      expect(await s.takeLease("k", "a", "a", T0 + 5, T0 + 20)).toMatchObject({ ok: true, lock: { since: T0, until: T0 + 20 } });
      expect(await s.takeLease("k", "b", "b", T0 + 5, T0 + 20)).toMatchObject({ ok: false, refused: "locked" });
      expect(await s.releaseLease("k", "b", T0 + 5)).toMatchObject({ ok: false, refused: "not_holder" });
      expect(await s.releaseLease("nothing", "a", T0)).toEqual({ ok: false, refused: "not_locked" });
      s = await kind.again(s);
      expect((await s.getLease("k", T0 + 19))!.holderId).toBe("a");
      expect(await s.getLease("k", T0 + 20)).toBeUndefined();
      expect((await s.expireLeases(T0 + 19)).length).toBe(0);
      expect((await s.expireLeases(T0 + 20)).map((l) => l.key)).toEqual(["k"]);
      expect(await s.expireLeases(T0 + 20)).toEqual([]);
      await s.takeLease("j", "a", "a", T0, T0 + 10);
      expect(await s.releaseLease("j", "a", T0 + 1)).toMatchObject({ ok: true });
      s = await kind.again(s);
      expect(await s.getLease("j", T0 + 2)).toBeUndefined();
      // The relay's operator ends a lease whoever holds it.
      await s.takeLease("j", "b", "b", T0, T0 + 10);
      expect(await s.releaseLease("j", null, T0 + 1)).toMatchObject({ ok: true });
      s = await kind.again(s);
      expect(await s.getLease("j", T0 + 2)).toBeUndefined();
      await s.close();
    });

    test("a lease whose holder unregistered binds no one and is claimed by the sweep", async () => {
      const s = await two(kind);
      await s.takeLease("k", "b", "b", T0, T0 + 100_000);
      await s.unregisterAgent("b", T0, "gone", NONE);
      expect(await s.getLease("k", T0)).toBeUndefined();
      expect((await s.expireLeases(T0)).map((l) => l.holderId)).toEqual(["b"]);
      await s.close();
    });

    test("files are listed by key under a prefix, with their running lease", async () => {
      const s = await two(kind);
      await put(s, "docs/b.md", "b", 0);
      await put(s, "docs/a.md", "a", 0);
      await put(s, "src/c.ts", "c", 0);
      await s.takeLease("docs/b.md", "a", "a", T0, T0 + 10);
      const list = await s.listFiles("docs/", T0);
      expect(list.map((f) => [f.latest.key, f.lock?.holderId ?? null])).toEqual([["docs/a.md", null], ["docs/b.md", "a"]]);
      await s.close();
    });
  });

  describe(`${kind.name} store: budgets`, () => {
    const at = (ms: number) => new Date(ms).toISOString();
    const dated = (from: string, to: string, ms: number, content = "x"): NewEntry => ({
      to,
      priority: "normal",
      msg: { type: "broadcast", id: `m_${String(++n).padStart(6, "0")}`, from, to: null, created_at: at(ms), content, topic: "", tags: [] },
    });

    test("one recipient's bytes are bounded; new tasks and broadcasts stop at 7/8 of a budget, replies may use the rest", async () => {
      const s = await two(kind);
      await s.claimName(agent("c"), T0, rules(T0));
      const big = "x".repeat(1000);
      const room = { maxRecipientBytes: 4000 };
      let fit = 0;
      while ((await s.enqueueIfRoom(note(fit % 2 ? "a" : "c", "b", big), room)).ok) fit++;
      expect(fit).toBe(3);
      expect(await s.enqueueIfRoom(note("a", "b", big), room)).toMatchObject({ ok: false, refused: "recipient_full", name: "b" });
      // Another recipient is not held back; a progress note to b fits in the share kept for replies.
      expect(await s.enqueueIfRoom(note("a", "c", big), room)).toMatchObject({ ok: true });
      expect(await s.enqueueIfRoom(progress("a", "b", "t_x", "y".repeat(200)), room)).toMatchObject({ ok: true });
      // The same holds relay-wide.
      expect(await s.enqueueIfRoom(note("a", "c", "z".repeat(500)), { maxQueuedBytes: 5800 })).toMatchObject({ ok: false, refused: "relay_full" });
      expect(await s.enqueueIfRoom(progress("c", "a", "t_y", "z".repeat(500)), { maxQueuedBytes: 5800 })).toMatchObject({ ok: true });
      await s.close();
    });

    test("a task's bytes count toward its sender until it finishes, taken and acknowledged or not; finished ones count toward what is kept", async () => {
      let s = await two(kind);
      const big = "x".repeat(1000);
      const room = { maxSenderBytes: 2500 };
      expect(await s.createTask(task("t_1", "a", "b", { task: big }), room)).toMatchObject({ ok: true });
      expect(await s.createTask(task("t_2", "a", "b", { task: big }), room)).toMatchObject({ ok: true });
      await s.ack("b", ids((await s.claimNext("b", null, T0, ACK)).messages));
      s = await kind.again(s);
      expect(await s.createTask(task("t_3", "a", "b", { task: big }), room)).toMatchObject({ ok: false, refused: "sender_full" });
      expect((await s.heldBytes()).finished).toBe(0);
      await s.transitionTask("t_1", ["delivered", "working"], { state: "completed", note: "", at: T0 + 1, holder: "b", result: "r".repeat(500), room: NONE });
      expect(await s.createTask(task("t_3", "a", "b", { task: big }), room)).toMatchObject({ ok: true });
      s = await kind.again(s);
      expect((await s.heldBytes()).finished).toBeGreaterThan(1500);
      // Kept finished tasks give way, oldest finished first, past a byte bound.
      await s.transitionTask("t_2", ["delivered", "working"], { state: "completed", note: "", at: T0 + 2, holder: "b", result: "ok", room: NONE });
      expect((await s.pruneTasks(-Infinity, 100, 2000)).map((t) => t.id)).toEqual(["t_1"]);
      expect((await s.pruneTasks(-Infinity, 100, 0)).map((t) => t.id)).toEqual(["t_2"]);
      expect((await s.heldBytes()).finished).toBe(0);
      await s.close();
    });

    test("what waits unread past a time is claimed: messages dropped, tasks expired with their sender told, waiting tasks too", async () => {
      let s = await two(kind);
      // Queued in the order they were sent, as they are.
      await s.enqueueIfRoom(dated("a", "b", T0), NONE);
      await s.createTask(task("t_1", "a", "b"), NONE);
      await s.enqueueIfRoom(dated("a", "b", T0 + 5000), NONE);
      await s.createTask(task("t_w", "a", null, { cap: "none" }), NONE);
      await s.createTask(task("t_new", "a", "b", { createdAt: T0 + 5000 }), NONE);
      s = await kind.again(s);
      const r = await s.expireUnread(T0 + 1000, 100, T0 + 9000, "unread too long", NONE);
      expect(r.dropped).toBe(3);
      expect(r.tasks.map((t) => [t.id, t.state])).toEqual([["t_1", "expired"], ["t_w", "expired"]]);
      expect(r.effects.messages.map((m) => [m.to, m.msg.type])).toEqual([["a", "status"], ["a", "status"]]);
      s = await kind.again(s);
      expect((await s.getTask("t_1"))!.history.at(-1)).toMatchObject({ state: "expired", note: "unread too long", at: T0 + 9000 });
      expect(types((await s.claimNext("b", null, T0 + 9000, ACK)).messages)).toEqual(["broadcast", "task"]);
      await s.close();
    });

    test("a stale agent is kept while a message other than a broadcast waits or flies, and forgotten once it is acknowledged", async () => {
      let s = await two(kind);
      await s.enqueueIfRoom(progress("a", "b", "t_x", "p"), NONE);
      await s.enqueueIfRoom(note("a", "b"), NONE);
      const forget = async () => (await s.forgetAgents(T0 + 1, 10, T0 + 2, "forgotten", NONE)).agents.map((x) => x.id);
      expect(await forget()).toEqual(["a"]);
      const { messages } = await s.claimNext("b", null, T0, ACK);
      expect(await forget()).toEqual([]);
      await s.requeue("b", messages.map((m) => m.id));
      s = await kind.again(s);
      expect(await forget()).toEqual([]);
      const again = await s.claimNext("b", null, T0, ACK);
      expect(again.messages.map((m) => m.type).sort()).toEqual(["broadcast", "progress"]);
      await s.ack("b", again.messages.map((m) => m.id));
      expect(await forget()).toEqual(["b"]);
      await s.close();
    });

    test("a connected agent is never forgotten, and many stale ones are forgotten up to the limit, past those kept", async () => {
      let s = await two(kind);
      // b holds a task: kept, and stalest, so every pass looks past it.
      await s.createTask(task("t_1", "a", "b"), NONE);
      for (let i = 0; i < 70; i++) await s.claimName(agent(`z${i}`), T0 + 10 + i, rules(T0));
      s = await kind.again(s);
      await s.attachConnection("a", "r1.1");
      const forget = async (limit: number) => (await s.forgetAgents(T0 + 1000, limit, T0 + 2000, "forgotten", NONE)).agents.map((x) => x.id);
      expect((await forget(66)).length).toBe(66);
      expect(await forget(66)).toHaveLength(4);
      expect(await forget(66)).toEqual([]);
      expect((await s.listAgents()).map((x) => x.id).sort()).toEqual(["a", "b"]);
      await s.detachConnection("a", "r1.1");
      expect(await forget(66)).toEqual(["a"]);
      await s.close();
    });

    test("a stale agent with only broadcasts waiting is forgotten with them", async () => {
      const s = await two(kind);
      await s.enqueueIfRoom(note("a", "b"), NONE);
      await s.enqueueIfRoom(progress("b", "a", "t_x", "p"), NONE);
      const { agents } = await s.forgetAgents(T0 + 1, 10, T0 + 2, "forgotten", NONE);
      expect(agents.map((x) => x.id)).toEqual(["b"]);
      await s.close();
    });

    test("a task's history keeps its first entries and its latest, and counts those it dropped", async () => {
      let s = await two(kind);
      await s.createTask(task("t_1", "a", "b", { leaseS: 1 }), NONE);
      for (let i = 1; i <= 20; i++) {
        await s.claimNext("b", null, T0 + i * 2000, ACK);
        await s.requeueExpired(T0 + i * 2000 + 1500, 100, NONE);
      }
      s = await kind.again(s);
      const t = (await s.getTask("t_1"))!;
      expect(t.history.length).toBe(32);
      expect(t.historyDropped).toBe(41 - 32);
      expect(t.history[1]!.note).toBe("attempt 1");
      expect(t.history.at(-2)!.note).toBe("attempt 20");
      await s.close();
    });

    test("tasks are listed in id order from a cursor, a task assigned later in its place", async () => {
      const s = await two(kind);
      await s.claimName(agent("c", "c", ["y"]), T0, rules(T0));
      await s.createTask(task("t_1", "a", null, { cap: "y" }), NONE);
      await s.createTask(task("t_2", "c", "a"), NONE);
      await s.createTask(task("t_3", "c", "a"), NONE);
      await s.assignWaiting("c", T0);
      expect((await s.listTasks("c", {})).map((t) => t.id)).toEqual(["t_1", "t_2", "t_3"]);
      expect((await s.listTasks("c", { after: "t_1", limit: 1 })).map((t) => t.id)).toEqual(["t_2"]);
      expect((await s.listTasks("c", { after: "t_15" })).map((t) => t.id)).toEqual(["t_2", "t_3"]);
      expect((await s.listTasks("c", { after: "t_3" })).map((t) => t.id)).toEqual([]);
      await s.close();
    });

    test("pages of many tasks, made out of id order, follow the memory store's one order across pages, filtered or not", async () => {
      let s = await two(kind);
      const ref = await two({ name: "reference", open: () => new MemoryStore(), again: async (x) => x });
      const N = 240;
      // Made in a scrambled order, so a store that sorted only within a page would show it.
      const made = Array.from({ length: N }, (_, i) => `t_${String((i * 97) % N).padStart(4, "0")}`);
      const unassigned = (i: number) => i % 3 === 1 && i % 7 === 0;
      for (const store of [s, ref]) {
        await store.claimName(agent("c", "c", ["y"]), T0, rules(T0));
        for (const [i, id] of made.entries()) {
          const [from, to] = i % 3 === 0 ? ["c", "b"] : i % 3 === 1 ? ["a", unassigned(i) ? null : "c"] : ["a", "b"];
          await store.createTask(task(id, from!, to!, unassigned(i) ? { cap: "y" } : {}), NONE);
          if (i % 5 === 0) await store.transitionTask(id, ["queued"], { state: "canceled", note: "", at: T0, room: NONE, withdraw: true });
        }
        await store.assignWaiting("c", T0);
      }
      s = await kind.again(s);
      const ids = (tasks: readonly TaskRecord[]) => tasks.map((t) => t.id);
      const pages = async (store: Store, query: { state?: "canceled"; role?: "sent" | "held" }, limit: number) => {
        const seen: string[] = [];
        for (let after: string | undefined, i = 0; i < N; i++) {
          const page = ids(await store.listTasks("c", { ...query, after, limit }));
          expect(page.length).toBeLessThanOrEqual(limit);
          if (page.length === 0) break;
          seen.push(...page);
          after = page.at(-1);
        }
        return seen;
      };
      // Held: sent to c, or waiting for its capability and assigned to it (a canceled one never was).
      const held = made.filter((_, i) => i % 3 === 1 && !(unassigned(i) && i % 5 === 0)).sort();
      const all = [...made.filter((_, i) => i % 3 === 0), ...held].sort();
      expect(ids(await ref.listTasks("c", {}))).toEqual(all);
      for (const [query, limit] of [[{}, 17], [{ role: "held" }, 10], [{ role: "sent" }, 25], [{ state: "canceled" }, 9]] as const) {
        const whole = ids(await ref.listTasks("c", query));
        expect(await pages(s, query, limit)).toEqual(whole);
        expect(await pages(ref, query, limit)).toEqual(whole);
      }
      expect(ids(await s.listTasks("c", { role: "held" }))).toEqual(held);
      expect(ids(await s.listTasks("c", { state: "canceled" }))).toEqual(all.filter((id) => made.indexOf(id) % 5 === 0));
      await s.close();
    });
  });

  describe(`${kind.name} store: limits of every relay on the store together`, () => {
    // Windows run on the store's clock (Redis expires them itself): real time, in short windows.
    test("a window counts up to its max, then refuses without counting; max 0 only reads; a window that ended starts again", async () => {
      const s = kind.open();
      let now = Date.now();
      expect(await s.hit("k", 1000, 0, now)).toEqual({ ok: false, count: 0, resetAt: now });
      expect(await s.hit("k", 1000, 2, now)).toEqual({ ok: true, count: 1, resetAt: now + 1000 });
      const second = await s.hit("k", 1000, 2, now + 10);
      expect(second).toMatchObject({ ok: true, count: 2 });
      expect(second.resetAt).toBeGreaterThan(now + 10);
      expect(second.resetAt).toBeLessThanOrEqual(now + 1010);
      expect(await s.hit("k", 1000, 2, now + 20)).toMatchObject({ ok: false, count: 2 });
      expect(await s.hit("k", 1000, 0, now + 20)).toMatchObject({ ok: false, count: 2 });
      expect(await s.hit("k", 1000, 5, now + 20)).toMatchObject({ ok: true, count: 3 });
      expect(await s.hit("other", 1000, 2, now + 20)).toMatchObject({ ok: true, count: 1 });
      await Bun.sleep(1050);
      now = Date.now();
      expect(await s.hit("k", 1000, 2, now)).toEqual({ ok: true, count: 1, resetAt: now + 1000 });
      await s.close();
    });

    test("concurrent hits past the max count exactly the max", async () => {
      const s = kind.open();
      const now = Date.now();
      const hits = await Promise.all(Array.from({ length: 20 }, () => s.hit("burst", 60_000, 7, now)));
      expect(hits.filter((h) => h.ok).length).toBe(7);
      expect(hits.filter((h) => !h.ok).every((h) => h.count === 7)).toBe(true);
      await s.close();
    });

    test("an identity holds connections up to its max, each counted once, wherever they are held; a release gives its place back once", async () => {
      const s = kind.open();
      expect(await s.holdConnection("a", "r_one.h1", 2)).toEqual({ ok: true, count: 1 });
      expect(await s.holdConnection("a", "r_one.h1", 2)).toEqual({ ok: true, count: 1 });
      expect(await s.holdConnection("a", "r_two.h1", 2)).toEqual({ ok: true, count: 2 });
      expect(await s.holdConnection("a", "r_two.h2", 2)).toEqual({ ok: false, count: 2 });
      expect(await s.holdConnection("b", "r_two.h3", 2)).toEqual({ ok: true, count: 1 });
      await s.releaseConnection("a", "r_one.h1");
      await s.releaseConnection("a", "r_one.h1");
      await s.releaseConnection("a", "r_one.h9");
      await s.releaseConnection("b", "r_two.h1");
      expect(await s.holdConnection("a", "r_two.h2", 2)).toEqual({ ok: true, count: 2 });
      expect(await s.holdConnection("a", "r_two.h4", 2)).toEqual({ ok: false, count: 2 });
      const racing = await Promise.all(Array.from({ length: 10 }, (_, i) => s.holdConnection("c", `r_three.h${i}`, 4)));
      expect(racing.filter((h) => h.ok).length).toBe(4);
      await s.close();
    });
  });
}
