/** The dashboard's pieces on their own: who gets in, the feed and its throughput, diffs, and live frames over a real core. */
import { describe, expect, test } from "bun:test";
import { THROUGHPUT_SECONDS, type AdminServerFrame } from "../../src/protocol/admin";
import type { Message } from "../../src/protocol/schemas";
import { AdminAccess } from "../../src/relay/admin/access";
import { diffLines, fileDiff } from "../../src/relay/admin/diff";
import { BODIES_KEPT, Feed } from "../../src/relay/admin/feed";
import { AdminLive } from "../../src/relay/admin/live";
import { Relay } from "../../src/relay/core/relay";

const broadcast = (id: string, content = "hello"): Message => ({ type: "broadcast", id, from: "a_1", to: null, created_at: "2026-01-01T00:00:00.000Z", content, topic: "", tags: [] });

describe("who may use the admin API", () => {
  test("a loopback relay without a token is open", () => {
    const access = new AdminAccess({ loopback: true });
    expect(access.mode).toBe("none");
    expect(() => access.check(undefined)).not.toThrow();
  });

  test("a relay open to the network without a token keeps its dashboard closed, and says how to open it", () => {
    const access = new AdminAccess({ loopback: false });
    expect(access.mode).toBe("closed");
    expect(() => access.check("anything")).toThrow("this relay is open to the network without a token, so its dashboard is closed");
  });

  test("the admin token, when set, is the only one that opens it", () => {
    const access = new AdminAccess({ loopback: true, token: "join", adminToken: "admin" });
    expect(() => access.check("admin")).not.toThrow();
    expect(() => access.check("join")).toThrow("the admin token is not valid for this relay");
    expect(() => access.check(undefined)).toThrow("the dashboard needs the admin token");
  });

  test("a malformed Authorization header is refused, not read as no token", () => {
    const access = new AdminAccess({ loopback: true, token: "t" });
    const req = new Request("http://127.0.0.1:1/v1/admin/state", { headers: { authorization: "Basic dDp0" } });
    expect(() => access.request(req)).toThrow("the Authorization header must be `Bearer TOKEN`");
  });
});

describe("the feed", () => {
  test("a message queued for many agents is recorded once", () => {
    const feed = new Feed(0);
    expect(feed.add(broadcast("m_1"), "normal", 1000)).toBe(true);
    expect(feed.add(broadcast("m_1"), "normal", 1000)).toBe(false);
    expect(feed.take()).toHaveLength(1);
    expect(feed.take()).toHaveLength(0);
  });

  test("throughput counts messages per whole second over the last five minutes", () => {
    const start = 1_000_000;
    const feed = new Feed(start);
    for (let i = 0; i < 3; i++) feed.add(broadcast(`m_a${i}`), "normal", start + 100);
    for (let i = 0; i < 5; i++) feed.add(broadcast(`m_b${i}`), "normal", start + 1100);
    const t = feed.throughput(start + 2500);
    expect(t.counts).toHaveLength(THROUGHPUT_SECONDS);
    expect(t.counts.slice(-2)).toEqual([3, 5]);
    expect(t.end).toBe(new Date(start + 2000).toISOString());
    expect(t.since).toBe(new Date(start).toISOString());
    // Five minutes later, those seconds have left the window.
    expect(feed.throughput(start + 400_000).counts.every((c) => c === 0)).toBe(true);
  });

  test("bodies are kept for the latest messages only", () => {
    const feed = new Feed(0);
    for (let i = 0; i < BODIES_KEPT + 10; i++) feed.add(broadcast(`m_${i}`), "low", 1);
    expect(feed.body("m_0")).toBeUndefined();
    expect(feed.body(`m_${BODIES_KEPT + 9}`)).toMatchObject({ content: "hello" });
    expect(feed.latest()[0]!.id).toBe(`m_${BODIES_KEPT + 9}`);
  });
});

describe("diffs", () => {
  test("changes far apart are separate hunks with three lines of context", () => {
    const a = Array.from({ length: 20 }, (_, i) => `line ${i + 1}\n`).join("");
    const b = a.replace("line 2\n", "line two\n").replace("line 18\n", "");
    const hunks = diffLines(a, b);
    expect(hunks).toHaveLength(2);
    expect(hunks[0]).toEqual({
      from_start: 1,
      to_start: 1,
      lines: [{ op: " ", text: "line 1" }, { op: "-", text: "line 2" }, { op: "+", text: "line two" }, { op: " ", text: "line 3" }, { op: " ", text: "line 4" }, { op: " ", text: "line 5" }],
    });
    expect(hunks[1]!.from_start).toBe(15);
    expect(hunks[1]!.lines.filter((l) => l.op !== " ")).toEqual([{ op: "-", text: "line 18" }]);
  });

  test("equal texts have no hunks; binary and oversized versions are said to be so", () => {
    expect(diffLines("same\n", "same\n")).toEqual([]);
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(fileDiff("k", 1, 2, new Uint8Array([0, 1]), enc("x"))).toMatchObject({ binary: true, hunks: [] });
    expect(fileDiff("k", 1, 2, new Uint8Array(2 * 1024 * 1024), enc("x"))).toMatchObject({ too_large: true, hunks: [] });
  });
});

describe("live frames over the core", () => {
  test("a dashboard gets a snapshot, then the changes the core announces", async () => {
    const relay = new Relay();
    const live = new AdminLive(relay.operator(), () => ({ websockets: 0, requests: 0 }));
    const frames: AdminServerFrame[] = [];
    const arrived = (pick: (f: AdminServerFrame) => boolean) =>
      new Promise<AdminServerFrame>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no such frame; got ${frames.map((f) => f.op).join(", ")}`)), 3000);
        const check = () => {
          const f = frames.find(pick);
          if (f) (clearTimeout(t), resolve(f));
          else setTimeout(check, 10);
        };
        check();
      });
    const alice = await relay.register({ name: "alice", caps: [], description: "", machine: "" });
    live.attach({ send: (text) => frames.push(JSON.parse(text)), buffered: () => 0, close: () => {} });
    const snap = await arrived((f) => f.op === "snapshot");
    expect(snap.op === "snapshot" && snap.state.agents.map((a) => a.name)).toEqual(["alice"]);

    const bob = await relay.register({ name: "bob", caps: [], description: "", machine: "" });
    const sender = await relay.resolveAgent(alice.id);
    const sent = await relay.send(sender, { type: "task", to: "bob", task: "t", context: {}, priority: "urgent", lease_s: 60, queue: false });
    const row = await arrived((f) => f.op === "agents" && f.upsert.some((a) => a.id === bob.id && a.queued === 1 && a.tasks_held === 1));
    expect(row.op).toBe("agents");
    await arrived((f) => f.op === "feed" && f.items.some((m) => m.id === sent.id && m.priority === "urgent"));
    await relay.operator().cancelTask(sent.id, "not needed");
    await arrived((f) => f.op === "tasks" && f.upsert.some((t) => t.id === sent.id && t.state === "canceled"));
    await relay.operator().unregisterAgent(bob.id);
    await arrived((f) => f.op === "agents" && f.remove.includes(bob.id));
    live.close();
    await relay.close();
  });
});
