/** Shared files through the relay's façade over the memory store, with a hand-turned clock: no sockets, no sleeping. */
import { describe, expect, test } from "bun:test";
import type { Message } from "../../src/protocol/schemas";
import { settle, setup, sink } from "./_core";

const text = (s: string) => new TextEncoder().encode(s);
const keys = (ms: Message[]) => ms.map((m) => (m.type === "file" ? m.key : m.type));

async function two(maxFileVersions = 20) {
  const env = setup({ maxFileVersions });
  return { ...env, alice: await env.register("alice"), bob: await env.register("bob") };
}

describe("files", () => {
  test("a lease runs out with the clock, and everyone, its holder too, hears of it", async () => {
    const { relay, alice, bob, advance, now } = await two();
    await relay.lockFile(alice, "a.md", 10);
    const until = new Date(now() + 10_000).toISOString();
    expect(relay.putFile(bob, "a.md", text("x"))).rejects.toThrow(`"a.md" is locked by alice until ${until} (10s from now); nothing was written`);
    await advance(9_999);
    expect(relay.putFile(bob, "a.md", text("x"))).rejects.toThrow("(1s from now)");
    await advance(1);
    expect((await relay.putFile(bob, "a.md", text("x"))).version).toBe(1);
    const unlocks = async (agent: typeof alice) => (await relay.take(agent, { max: 100 })).filter((m) => m.type === "file" && m.action === "unlock");
    expect(await unlocks(alice)).toEqual([expect.objectContaining({ key: "a.md", by: "alice", from: "relay", expired: true })]);
    expect(await unlocks(bob)).toHaveLength(1);
  });

  test("a lease whose holder unregistered no longer binds", async () => {
    const { relay, alice, bob } = await two();
    await relay.lockFile(alice, "a.md", 600);
    await relay.unregister(alice);
    expect((await relay.putFile(bob, "a.md", text("x"))).version).toBe(1);
    expect((await relay.listFiles())[0]!.lock).toBeNull();
  });

  test("only the last N versions are kept, and numbering survives a delete", async () => {
    const { relay, alice } = await two(2);
    for (const s of ["1", "2", "3"]) await relay.putFile(alice, "k", text(s));
    expect((await relay.fileHistory("k")).versions.map((v) => v.version)).toEqual([3, 2]);
    expect(relay.getFile("k", 1)).rejects.toThrow("is no longer kept");
    await relay.deleteFile(alice, "k");
    expect((await relay.putFile(alice, "k", text("4"))).version).toBe(4);
  });

  test("texts over 16 MiB are not merged", async () => {
    const { relay, alice, bob } = await two();
    const big = "line\n".repeat(4 * 1024 * 1024);
    await relay.putFile(alice, "big.txt", text(big));
    await relay.putFile(alice, "big.txt", text(big + "more\n"));
    expect(relay.putFile(bob, "big.txt", text("other\n" + big), { ifVersion: 1, merge: true })).rejects.toThrow('"big.txt" is too large to merge (over 16777216 bytes)');
  });

  test("a failed put changes nothing and tells no one", async () => {
    const { relay, alice, bob } = await two();
    await relay.putFile(alice, "k", text("a\n"));
    await relay.take(bob, { max: 100 });
    expect(relay.putFile(bob, "k", text("b\n"), { ifVersion: 0 })).rejects.toThrow("already exists");
    expect(relay.putFile(bob, "k", text("\0"), { ifVersion: 7, merge: true })).rejects.toThrow("has no version 7");
    expect((await relay.fileHistory("k")).versions).toHaveLength(1);
    expect(await relay.take(alice, { max: 100 })).toEqual([]);
  });

  test("of two writes on the same version, one lands and the other is refused or merged", async () => {
    const { relay, alice, bob } = await two();
    await relay.putFile(alice, "k", text("a\nb\nc\nd\ne\n"));
    const [x, y] = await Promise.allSettled([relay.putFile(alice, "k", text("A\nb\nc\nd\ne\n"), { ifVersion: 1 }), relay.putFile(bob, "k", text("a\nb\nc\nd\nE\n"), { ifVersion: 1 })]);
    expect([x.status, y.status].sort()).toEqual(["fulfilled", "rejected"]);
    expect((await relay.fileHistory("k")).versions[0]!.version).toBe(2);
    const merged = await relay.putFile(bob, "k", text("a\nb\nC\nd\ne\n"), { ifVersion: 1, merge: true });
    expect(merged).toMatchObject({ version: 3, merged: true });
  });
});

describe("file-watch connections", () => {
  test("take the file changes they match before any other connection, and nothing else", async () => {
    const { relay, alice, bob, send } = await two();
    const listen = sink();
    const watch = sink();
    relay.connect(bob, listen);
    relay.connect(bob, watch, { types: ["file"], filePrefix: "docs/" });
    await settle();
    await relay.putFile(alice, "docs/a.md", text("a"));
    await relay.putFile(alice, "src/b.ts", text("b"));
    await send(alice, { type: "broadcast", content: "hi" });
    await settle();
    expect(keys(watch.got)).toEqual(["docs/a.md"]);
    expect(keys(listen.got)).toEqual(["src/b.ts", "broadcast"]);
  });

  test("pick up the changes that waited while they were away, and leave the rest queued", async () => {
    const { relay, alice, bob, send } = await two();
    await relay.putFile(alice, "docs/a.md", text("a"));
    await send(alice, { type: "broadcast", content: "hi" });
    const watch = sink();
    relay.connect(bob, watch, { types: ["file"], filePrefix: null });
    await settle();
    expect(keys(watch.got)).toEqual(["docs/a.md"]);
    expect(keys([...(await relay.take(bob, { max: 100 }))])).toEqual(["broadcast"]);
  });
});
