/** Files and leases over the memory store with a hand-turned clock: no sockets, no sleeping. */
import { describe, expect, test } from "bun:test";
import type { Message } from "../../src/protocol/schemas";
import { newSinkId, type Sink } from "../../src/relay/delivery";
import { Files } from "../../src/relay/files";
import { Hub } from "../../src/relay/hub";

function setup(maxVersions = 20) {
  let now = Date.parse("2030-01-01T00:00:00Z");
  const clock = () => now;
  const hub = new Hub({ clock });
  const files = new Files(hub.store, clock, { maxVersions, notify: (m, except) => hub.notify(m, except) });
  const alice = hub.store.getAgent(hub.register({ name: "alice", caps: [], description: "", machine: "" }).id)!;
  const bob = hub.store.getAgent(hub.register({ name: "bob", caps: [], description: "", machine: "" }).id)!;
  const text = (s: string) => new TextEncoder().encode(s);
  return { hub, files, alice, bob, text, advance: (ms: number) => (now += ms) };
}

function sink(agentId: string, accepts?: (m: Message) => boolean) {
  const got: Message[] = [];
  const s: Sink = { id: newSinkId(), agentId, push: (m) => (got.push(m), 1), close: () => {}, ...(accepts ? { accepts } : {}) };
  return { s, got };
}

describe("Files", () => {
  test("a lease runs out with the clock, and everyone, its holder too, hears of it", () => {
    const { hub, files, alice, bob, text, advance } = setup();
    files.lock(alice, "a.md", 10);
    expect(() => files.put(bob, "a.md", text("x"))).toThrow('"a.md" is locked by alice until 2030-01-01T00:00:10.000Z (10s from now); nothing was written');
    advance(9_999);
    files.tick();
    expect(() => files.put(bob, "a.md", text("x"))).toThrow("(1s from now)");
    advance(1);
    files.tick();
    expect(files.put(bob, "a.md", text("x")).version).toBe(1);
    const unlocks = (id: string) => hub.take(hub.store.getAgent(id)!, 100).filter((m) => m.type === "file" && m.action === "unlock");
    expect(unlocks(alice.id)).toEqual([expect.objectContaining({ key: "a.md", by: "alice", from: "relay", expired: true })]);
    expect(unlocks(bob.id)).toHaveLength(1);
  });

  test("a lease whose holder unregistered no longer binds", () => {
    const { hub, files, alice, bob, text } = setup();
    files.lock(alice, "a.md", 600);
    hub.unregister(alice.id);
    expect(files.put(bob, "a.md", text("x")).version).toBe(1);
    expect(files.list()[0]!.lock).toBeNull();
  });

  test("only the last N versions are kept, and numbering survives a delete", () => {
    const { files, alice, text } = setup(2);
    for (const s of ["1", "2", "3"]) files.put(alice, "k", text(s));
    expect(files.history("k").versions.map((v) => v.version)).toEqual([3, 2]);
    expect(() => files.get("k", 1)).toThrow("is no longer kept");
    files.delete(alice, "k");
    expect(files.put(alice, "k", text("4")).version).toBe(4);
  });

  test("texts over 16 MiB are not merged", () => {
    const { files, alice, bob, text } = setup();
    const big = "line\n".repeat(4 * 1024 * 1024);
    files.put(alice, "big.txt", text(big));
    files.put(alice, "big.txt", text(big + "more\n"));
    expect(() => files.put(bob, "big.txt", text("other\n" + big), { ifVersion: 1, merge: true })).toThrow('"big.txt" is too large to merge (over 16777216 bytes)');
  });

  test("a failed put changes nothing and tells no one", () => {
    const { hub, files, alice, bob, text } = setup();
    files.put(alice, "k", text("a\n"));
    hub.take(bob, 100);
    expect(() => files.put(bob, "k", text("b\n"), { ifVersion: 0 })).toThrow("already exists");
    expect(() => files.put(bob, "k", text("\0"), { ifVersion: 7, merge: true })).toThrow("has no version 7");
    expect(files.history("k").versions).toHaveLength(1);
    expect(hub.take(alice, 100)).toEqual([]);
  });
});

describe("file-watch connections", () => {
  test("take the file changes they match before any other connection, and nothing else", () => {
    const { hub, files, alice, bob, text } = setup();
    const listen = sink(bob.id);
    const watch = sink(bob.id, (m) => m.type === "file" && m.key.startsWith("docs/"));
    hub.delivery.connect(listen.s);
    hub.delivery.connect(watch.s);
    files.put(alice, "docs/a.md", text("a"));
    files.put(alice, "src/b.ts", text("b"));
    hub.send(alice, { type: "broadcast", content: "hi", topic: "", tags: [] });
    expect(watch.got.map((m) => (m.type === "file" ? m.key : m.type))).toEqual(["docs/a.md"]);
    expect(listen.got.map((m) => (m.type === "file" ? m.key : m.type))).toEqual(["src/b.ts", "broadcast"]);
  });

  test("pick up the changes that waited while they were away, and leave the rest queued", () => {
    const { hub, files, alice, bob, text } = setup();
    files.put(alice, "docs/a.md", text("a"));
    hub.send(alice, { type: "broadcast", content: "hi", topic: "", tags: [] });
    const watch = sink(bob.id, (m) => m.type === "file");
    hub.delivery.connect(watch.s);
    expect(watch.got.map((m) => m.type)).toEqual(["file"]);
    expect(hub.take(bob, 100).map((m) => m.type)).toEqual(["broadcast"]);
  });
});
