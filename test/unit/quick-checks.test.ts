/**
 * The checks a command runs by hand before its request (no schema, no regular expression) answer as the
 * schemas and regular expressions they stand for: the same output, or none and the schema then explains.
 */
import { expect, test } from "bun:test";
import * as v from "valibot";
import { Identity } from "../../src/config";
import { identityOf, isAgentName, normalizeRelayList, normalizeRelayUrl } from "../../src/quick-checks";
import { ackedOf, agentListOf, agentOf, healthOf, heartbeatOf, inboxOf, messageOf, sentOf } from "../../src/client/answers";
import { AGENT_NAME_RE, Agent, AgentList, Health, Heartbeat, Inbox, Message, Sent } from "../../src/protocol/schemas";
import { CONFIG_FIELDS, ConfigFile, configOf } from "../../src/settings";

/** The schema's output when the quick check gives one (same fields in the same order), and never a quick answer the schema refuses. */
function agrees<T>(quick: (raw: never) => T | undefined, schema: v.GenericSchema, raw: unknown) {
  const q = quick(raw as never);
  const s = v.safeParse(schema, raw);
  if (q === undefined) return { raw, quick: "refused" };
  expect({ raw, schema: s.success }).toEqual({ raw, schema: true });
  // JSON text compares the order of the fields too (a saved identity is written back as it was read).
  expect({ raw, quick: JSON.stringify(q) }).toEqual({ raw, quick: JSON.stringify(s.output) });
  return { raw, quick: "taken" };
}

const full = { id: "a_1", name: "alice", secret: "a_1.s", claim: "c", relay: "http://r:1", caps: ["x", "y"], description: "d", ca: "/ca.pem", token: "t" };

test("a well-formed identity is taken as the Identity schema outputs it; anything else goes to the schema", () => {
  const { claim, caps, description, ca, token, ...least } = full;
  const taken = [
    full,
    least,
    { ...least, extra: 1, caps: [] },
    // Fields out of order come back in the schema's order.
    { relay: "http://r:1", token: "t", secret: "s", name: "b.o_b-1", id: "x", description: "", caps: ["z"] },
    { ...full, name: "a".repeat(64) },
  ];
  for (const raw of taken) expect(agrees(identityOf, Identity, raw)).toEqual({ raw, quick: "taken" });
  const refused = [
    null,
    "alice",
    [],
    { ...full, id: 1 },
    { ...full, name: "" },
    { ...full, name: "-alice" },
    { ...full, name: "al ice" },
    { ...full, name: "a".repeat(65) },
    { ...full, secret: null },
    { ...full, claim: 1 },
    { ...least, relay: undefined },
    { ...full, caps: "x" },
    { ...full, caps: ["x", 2] },
    { ...full, description: null },
    { ...full, ca: 1 },
    { ...full, token: false },
  ];
  for (const raw of refused) {
    expect(agrees(identityOf, Identity, raw)).toEqual({ raw, quick: "refused" });
    // Every one of these is one the schema refuses too, so its message is what the reader gets.
    expect({ raw, schema: v.safeParse(Identity, raw).success }).toEqual({ raw, schema: false });
  }
});

test("the name check by hand is AGENT_NAME_RE's", () => {
  const names = ["a", "A", "0", "alice", "b.o_b-1", "a".repeat(64), "a".repeat(65), "", ".a", "_a", "-a", "a b", "a/b", "é", "a\n", "a.", "Z9", "a~", "a\u0000", "ab:c"];
  for (const name of names) expect({ name, quick: isAgentName(name) }).toEqual({ name, quick: AGENT_NAME_RE.test(name) });
});

test("config.json's quick check takes what the ConfigFile schema takes, in its order, and its fields are the schema's", () => {
  expect([...CONFIG_FIELDS] as string[]).toEqual(Object.keys(ConfigFile.entries));
  const taken = [{}, { relay: "http://r:1" }, { ca: "ca.pem", token_file: "t", relay: "r" }];
  for (const raw of taken) expect(agrees(configOf, ConfigFile, raw)).toEqual({ raw, quick: "taken" });
  const refused = [{ relay: "" }, { relay: 9077 }, { token_file: null }, { ca: ["x"] }];
  for (const raw of refused) expect(agrees(configOf, ConfigFile, raw)).toEqual({ raw, quick: "refused" });
});

test("relay lists: the separators found by hand are those /[;\\s]/ finds, and a scheme is kept as /^[a-z]+:\\/\\//i sees it", () => {
  const said = (raw: string) => {
    try {
      return normalizeRelayList(raw);
    } catch (err) {
      return (err as Error).message;
    }
  };
  expect(said("http://a:1;http://b:2")).toContain("not semicolons");
  for (const space of [" ", "\t", "\u00a0", "\u2009", "\u3000", "\ufeff", "\u2028"]) expect({ space, said: said(`http://a:1${space}http://b:2`) }).toEqual({ space, said: expect.stringContaining("not spaces") });
  expect(said(" http://a:1 , HTTPS://b:2/ ")).toBe("http://a:1,https://b:2");
  expect(normalizeRelayUrl("a:1")).toBe("http://a:1");
  expect(normalizeRelayUrl("HtTp://a:1/")).toBe("http://a:1");
  expect(() => normalizeRelayUrl("ftp://a:1")).toThrow("is not an http(s) URL");
  // No scheme before "://" (a digit first): taken as a host, as the regular expression did.
  expect(normalizeRelayUrl("1http://a")).toBe("http://1http");
});

const agent = { id: "a_0123456789ab", name: "alice", caps: ["x", "y"], description: "d", machine: "m", status: "online", connected: false, registered_at: "2026-12-02T00:00:00.000Z", last_seen: "2026-12-02T00:00:01.000Z" };
/** Each field of `base` in turn given each wrong value, and each left out: what the schema must refuse unless the field is optional. */
function variants(base: Record<string, unknown>, wrong: unknown[]) {
  const out: Record<string, unknown>[] = [];
  for (const key of Object.keys(base)) {
    const { [key]: _, ...without } = base;
    out.push(without);
    for (const w of wrong) out.push({ ...base, [key]: w });
  }
  return out;
}
const WRONG = [null, 1, "", "x", true, [], {}, ["x"], "a".repeat(65), 0, Number.MAX_VALUE];

/** `taken` are all taken with the schema's output, and of `others` the quick check refuses exactly what the schema refuses (which then says why). */
function holds(quick: (raw: never) => unknown, schema: v.GenericSchema, taken: unknown[], others: unknown[]) {
  for (const raw of taken) expect(agrees(quick, schema, raw)).toEqual({ raw, quick: "taken" });
  for (const raw of others) expect(agrees(quick, schema, raw)).toEqual({ raw, quick: v.safeParse(schema, raw).success ? "taken" : "refused" });
}

test("an agent's record (discover, delegate's worker) is taken as the Agent schema outputs it; anything else goes to the schema", () => {
  const taken = [
    agent,
    { ...agent, caps: [], description: "", machine: "", connected: true, status: "stale" },
    { ...agent, status: "listening" },
    { ...agent, status: "idle", extra: 1, secret: "s" },
    // Fields out of order come back in the schema's order; ids are any 1-64 characters.
    { last_seen: "l", registered_at: "r", connected: true, status: "online", machine: "", description: "", caps: ["a b"], name: "b.o_b-1", id: "x" },
    { ...agent, id: "a".repeat(64), name: "a".repeat(64) },
  ];
  const others = [null, "alice", [], [agent], 1, ...variants(agent, WRONG), { ...agent, status: "Online" }, { ...agent, name: "-a" }, { ...agent, caps: ["x", null] }];
  holds(agentOf, Agent, taken, others);
  // The record is a copy: changing it leaves the answer as it was.
  const out = agentOf(agent)!;
  expect(out.caps).not.toBe(agent.caps);
});

test("the agent list (discover) is taken as AgentList outputs it", () => {
  const taken = [{ agents: [] }, { agents: [agent] }, { agents: Array.from({ length: 20 }, (_, i) => ({ ...agent, name: `agent-${i}`, extra: i })) }, { agents: [agent], more: true }];
  const others = [null, {}, [], { agents: null }, { agents: {} }, { agents: [agent, null] }, { agents: [agent, { ...agent, connected: "yes" }] }, ...variants(agent, WRONG).map((a) => ({ agents: [agent, a] }))];
  holds(agentListOf, AgentList, taken, others);
});

test("a heartbeat's answer (whoami, listen) is taken as Heartbeat outputs it", () => {
  const beat = { ...agent, pending: 3, in_flight: 1 };
  const { in_flight, ...least } = beat;
  const taken = [beat, least, { ...least, pending: 0, extra: "e" }, { in_flight: 0, pending: 2.5, ...agent }];
  const others = [null, agent, ...variants(beat, WRONG), { ...beat, in_flight: null }];
  holds(heartbeatOf, Heartbeat, taken, others);
});

test("the relay's health (whoami, doctor) is taken as Health outputs it", () => {
  const health = { ok: true, version: "0.1.0", agents: 20, store: "redis", relays: 2 };
  const { store, relays, ...least } = health;
  const taken = [health, least, { ...least, store: "memory", extra: [] }, { ...least, store: "sqlite" }, { relays: 1, agents: 0, version: "", ok: false }];
  const others = [null, [], ...variants(health, WRONG), { ...health, store: "Redis" }, { ...health, store: null }, { ...health, relays: null }];
  holds(healthOf, Health, taken, others);
});

test("a message sent's answer (delegate, respond, broadcast, progress) is taken as Sent outputs it", () => {
  const sent = { id: "m_1", recipients: 2, to: "a_0123456789ab", duplicate: true };
  const taken = [sent, { id: "m_1" }, { id: "m_1", to: null }, { duplicate: false, to: "x", id: "a".repeat(64), extra: 1 }, { id: "m", recipients: 0 }];
  const others = [null, [], "m_1", ...variants(sent, WRONG), { ...sent, to: "" }, { ...sent, duplicate: null }, { ...sent, recipients: null }];
  holds(sentOf, Sent, taken, others);
});

test("an inbox (poll) is taken as Inbox outputs it, each message as its type's schema does", () => {
  const env = { id: "m_1", from: "a_0123456789ab", to: "a_0123456789ac", created_at: "2026-12-02T00:00:00.000Z" };
  const messages: Record<string, unknown>[] = [
    { type: "task", ...env, task: "t", context: { a: 1, b: { c: [1, { d: null }] } }, priority: "high", attempt: 1, redelivered: true, lease_s: 600 },
    { type: "response", ...env, in_reply_to: "m_0", status: "failed", result: "r" },
    { type: "progress", ...env, in_reply_to: "m_0", note: "n" },
    { type: "broadcast", ...env, to: null, content: "c", topic: "", tags: ["x", "y"] },
    { type: "status", ...env, task_id: "m_0", state: "expired", note: "" },
    { type: "file", ...env, to: null, key: "k/x", version: 2, by: "relay", action: "put", size: 3, sha256: "ab", merged: false, until: "u", expired: true },
  ];
  const taken = [
    ...messages,
    // Optional fields left out, extra ones dropped, fields out of order.
    { lease_s: 1, attempt: 2, priority: "low", context: {}, task: "", created_at: "c", to: null, from: "f", id: "i", type: "task", extra: 1 },
    { type: "file", ...env, key: "", version: 0, by: "b", action: "unlock" },
    // The context is copied one level, without the keys valibot's record drops.
    { ...messages[0], context: JSON.parse('{"__proto__": {"x": 1}, "constructor": 1, "prototype": 2, "kept": 3}') },
  ];
  const deep = (n: number): unknown => (n === 0 ? 1 : { d: deep(n - 1) });
  const others = [
    null,
    { ...messages[0], type: "unknown" },
    { ...messages[0], type: undefined },
    { ...messages[0], context: [] },
    { ...messages[0], context: null },
    { ...messages[0], context: deep(31) },
    { ...messages[0], context: deep(32) },
    { ...messages[0], context: { a: deep(32) } },
    { ...messages[0], priority: "Normal" },
    { ...messages[1], status: "canceled" },
    { ...messages[4], state: "done" },
    { ...messages[5], action: "move" },
    { ...messages[3], tags: ["x", 1] },
    { ...messages[3], tags: "x" },
    ...messages.flatMap((m) => variants(m, WRONG)),
  ];
  for (const raw of taken) expect(agrees(messageOf, Message, raw)).toEqual({ raw, quick: "taken" });
  for (const raw of others) expect(agrees(messageOf, Message, raw)).toEqual({ raw, quick: v.safeParse(Message, raw).success ? "taken" : "refused" });
  holds(inboxOf, Inbox, [{ messages: [] }, { messages }, { messages: taken, extra: 1 }], [null, {}, { messages: null }, { messages: [...messages, null] }, ...others.map((m) => ({ messages: [...messages, m] }))]);
});

test("an ack's answer is taken as { acked: number }", () => {
  holds(ackedOf, v.object({ acked: v.number() }), [{ acked: 0 }, { acked: 3, extra: 1 }], [null, {}, { acked: "1" }, { acked: null }, []]);
});
