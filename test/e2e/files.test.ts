/** Co-editing shared files through the compiled binary: versions, compare-and-swap, merge, key rules. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, cleanup, eventually, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

const sha256 = (s: string | Uint8Array) => new Bun.CryptoHasher("sha256").update(s).digest("hex");
const lines = (...xs: string[]) => xs.map((x) => x + "\n").join("");

describe("co-editing shared files", async () => {
  const { url } = await spawnRelay(["--max-file-versions", "3"]);
  const alice = tempHome();
  const bob = tempHome();
  const as = (home: string) => ({ home, relay: url });
  const put = (home: string, key: string, content: string, ...flags: string[]) => runCli(["file-put", "--key", key, ...flags, "--json"], { ...as(home), stdin: content });
  const get = (home: string, key: string, ...flags: string[]) => runCli(["file-get", "--key", key, ...flags], as(home));

  test("two agents register", async () => {
    expect((await runCli(["register", "--name", "alice"], as(alice))).code).toBe(0);
    expect((await runCli(["register", "--name", "bob"], as(bob))).code).toBe(0);
  });

  describe("versions", () => {
    test("every put makes the next version, and --json prints key, version, size and sha256", async () => {
      const one = await put(alice, "notes/plan.md", "v1\n");
      expect(one.code).toBe(0);
      expect(one.json).toMatchObject({ key: "notes/plan.md", version: 1, size: 3, sha256: sha256("v1\n"), author: "alice", created: true, merged: false });
      const two = await put(bob, "notes/plan.md", "v2 by bob\n");
      expect(two.json).toMatchObject({ version: 2, author: "bob", created: true });
      const human = await runCli(["file-put", "--key", "notes/plan.md"], { ...as(alice), stdin: "v3\n" });
      expect(human.stdout).toMatch(/^stored notes\/plan\.md as version 3 \(3 bytes, sha256 [0-9a-f]{12}…\)/);
    });

    test("putting the latest content again makes no new version", async () => {
      const same = await put(bob, "notes/plan.md", "v3\n");
      expect(same.code).toBe(0);
      expect(same.json).toMatchObject({ version: 3, author: "alice", created: false });
      const human = await runCli(["file-put", "--key", "notes/plan.md"], { ...as(bob), stdin: "v3\n" });
      expect(human.stdout).toMatch(/^notes\/plan\.md already holds this content as version 3 \(3 bytes, sha256 [0-9a-f]{12}…\); no new version/);
    });

    test("file-get fetches the latest or an older version, with its metadata under --json", async () => {
      expect((await get(bob, "notes/plan.md")).stdout).toBe("v3\n");
      expect((await get(bob, "notes/plan.md", "--version", "2")).stdout).toBe("v2 by bob\n");
      const j = await get(bob, "notes/plan.md", "--version", "1", "--json");
      expect(j.json).toMatchObject({ key: "notes/plan.md", version: 1, size: 3, sha256: sha256("v1\n"), author: "alice", content: "v1\n" });
      const out = join(bob, "plan-v2.md");
      const saved = await get(bob, "notes/plan.md", "--version", "2", "--output", out, "--json");
      expect(saved.json).toMatchObject({ version: 2, author: "bob", size: 10, output: out });
      expect(readFileSync(out, "utf8")).toBe("v2 by bob\n");
    });

    test("file-history lists versions newest first with author, time, size and sha256", async () => {
      const h = await runCli(["file-history", "--key", "notes/plan.md", "--json"], as(bob));
      expect(h.code).toBe(0);
      expect(h.json.map((v: any) => [v.version, v.author, v.size, v.sha256])).toEqual([
        [3, "alice", 3, sha256("v3\n")],
        [2, "bob", 10, sha256("v2 by bob\n")],
        [1, "alice", 3, sha256("v1\n")],
      ]);
      expect(Date.parse(h.json[0].created_at)).toBeGreaterThanOrEqual(Date.parse(h.json[2].created_at));
      const table = await runCli(["file-history", "--key", "notes/plan.md"], as(bob));
      expect(table.stdout).toMatch(/^VERSION\s+AUTHOR\s+CREATED\s+SIZE\s+SHA256\n3\s+alice\s+/);
    });

    test("the relay keeps the last N versions (--max-file-versions); older ones are gone with a clear error", async () => {
      await put(bob, "notes/plan.md", "v4\n");
      const h = await runCli(["file-history", "--key", "notes/plan.md", "--json"], as(bob));
      expect(h.json.map((v: any) => v.version)).toEqual([4, 3, 2]);
      const gone = await get(bob, "notes/plan.md", "--version", "1");
      expect(gone.code).toBe(5);
      expect(gone.stderr).toContain('version 1 of "notes/plan.md" is no longer kept: the relay keeps the last 3 versions (now 2-4)');
      expect(gone.stderr).toContain("clawlink file-history --key notes/plan.md");
      const future = await get(bob, "notes/plan.md", "--version", "9");
      expect(future.code).toBe(5);
      expect(future.stderr).toContain('"notes/plan.md" has no version 9; its latest is version 4');
    });

    test("file-list shows each file's latest version", async () => {
      const l = await runCli(["file-list", "--prefix", "notes/", "--json"], as(alice));
      expect(l.json).toEqual([expect.objectContaining({ key: "notes/plan.md", version: 4, updated_by: "bob", size: 3 })]);
      expect((await runCli(["file-list", "--prefix", "notes/"], as(alice))).stdout).toMatch(/^KEY\s+VERSION\s+SIZE\s+UPDATED BY\s+UPDATED\s+LOCKED BY\nnotes\/plan\.md\s+4\s+3\s+bob\s+\d+s ago\s+-\n/);
    });

    test("file-rm deletes every version; putting the key again continues the numbering", async () => {
      await put(alice, "tmp/scratch.txt", "a\n");
      await put(alice, "tmp/scratch.txt", "b\n");
      const rm = await runCli(["file-rm", "--key", "tmp/scratch.txt", "--json"], as(bob));
      expect(rm.code).toBe(0);
      expect(rm.json).toEqual({ key: "tmp/scratch.txt", version: 2, deleted: true });
      const missing = await get(alice, "tmp/scratch.txt");
      expect(missing.code).toBe(5);
      expect(missing.stderr).toMatch(/"tmp\/scratch\.txt" was deleted by bob at \S+Z/);
      expect((await runCli(["file-history", "--key", "tmp/scratch.txt"], as(alice))).code).toBe(5);
      const stale = await put(alice, "tmp/scratch.txt", "c\n", "--if-version", "2");
      expect(stale.code).toBe(6);
      expect(stale.json.error.message).toMatch(/^"tmp\/scratch\.txt" does not exist; it was deleted by bob at \S+Z, so it is not at version 2$/);
      expect((await put(alice, "tmp/scratch.txt", "c\n")).json).toMatchObject({ version: 3 });
    });

    test("unknown keys and bad version flags fail with the exit code for each", async () => {
      const none = await get(alice, "no/such.md");
      expect(none.code).toBe(5);
      expect(none.stderr).toContain('no shared file has the key "no/such.md"');
      expect(none.stderr).toContain("clawlink file-list");
      expect((await runCli(["file-rm", "--key", "no/such.md"], as(alice))).code).toBe(5);
      for (const bad of ["0", "-1", "two", "1.5"]) {
        const r = await get(alice, "notes/plan.md", "--version", bad);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain("--version:");
      }
      const r = await put(alice, "notes/plan.md", "x", "--if-version", "soon");
      expect(r.code).toBe(2);
      expect(r.json.error.message).toBe("--if-version: must be a number");
      const binary = await runCli(["file-put", "--key", "bytes.bin"], { ...as(alice), stdin: new Uint8Array([0xff, 0xfe, 0x00]) });
      expect(binary.code).toBe(0);
      const asJson = await get(alice, "bytes.bin", "--json");
      expect(asJson.code).toBe(2);
      expect(asJson.json.error).toMatchObject({ message: '"bytes.bin" is binary, so --json cannot carry its content', hint: "pass --output PATH to save it (the summary is still printed as JSON)" });
      const nowhere = await get(alice, "notes/plan.md", "--output", join(alice, "no", "such", "dir", "x.md"));
      expect(nowhere.code).toBe(2);
      expect(nowhere.stderr).toContain(`error: cannot write ${join(alice, "no", "such", "dir", "x.md")}:`);
    });
  });

  describe("compare-and-swap", () => {
    test("--if-version N writes when the latest version is N", async () => {
      const ok = await put(alice, "doc.md", "one\n", "--if-version", "0");
      expect(ok.json).toMatchObject({ version: 1, created: true });
      const next = await put(bob, "doc.md", "two\n", "--if-version", "1");
      expect(next.code).toBe(0);
      expect(next.json).toMatchObject({ version: 2, author: "bob" });
    });

    test("a stale --if-version fails with exit 6, names the current version and its writer, and writes nothing", async () => {
      const stale = await put(alice, "doc.md", "alice's edit\n", "--if-version", "1");
      expect(stale.code).toBe(6);
      expect(stale.json.error.code).toBe("version_conflict");
      expect(stale.json.error.message).toMatch(/^"doc\.md" is at version 2 \(written by bob at \S+Z\), not version 1; nothing was written$/);
      expect(stale.json.error.hint).toContain("--if-version 2");
      const human = await runCli(["file-put", "--key", "doc.md", "--if-version", "1"], { ...as(alice), stdin: "x\n" });
      expect(human.code).toBe(6);
      expect(human.stderr).toContain('error: "doc.md" is at version 2 (written by bob');
      expect((await get(alice, "doc.md")).stdout).toBe("two\n");
    });

    test("an --if-version past the latest was never written: the hint re-reads, and offers no merge", async () => {
      const ahead = await put(alice, "doc.md", "alice's edit\n", "--if-version", "9");
      expect(ahead.code).toBe(6);
      expect(ahead.json.error.message).toMatch(/^"doc\.md" is at version 2 \(written by bob at \S+Z\), not version 9; nothing was written$/);
      expect(ahead.json.error.hint).toBe("version 9 was never written, so it cannot be the version you read: re-read it (`clawlink file-get --key doc.md`), redo your edit on version 2 and put with --if-version 2");
      const merging = await put(alice, "doc.md", "alice's edit\n", "--if-version", "9", "--merge");
      expect(merging.code).toBe(6);
      expect(merging.json.error.message).toBe('"doc.md" has no version 9; its latest is version 2');
      expect(merging.json.error.hint).not.toContain("--merge");
      expect((await get(alice, "doc.md")).stdout).toBe("two\n");
    });

    test("--if-version 0 creates only; on an existing key it is a conflict", async () => {
      const exists = await put(alice, "doc.md", "new\n", "--if-version", "0");
      expect(exists.code).toBe(6);
      expect(exists.json.error.message).toMatch(/^"doc\.md" already exists: version 2, written by bob at /);
      const absent = await put(alice, "never.md", "x\n", "--if-version", "4");
      expect(absent.code).toBe(6);
      expect(absent.json.error.message).toBe('"never.md" does not exist, so it is not at version 4');
    });

    test("a retry of a put that already landed succeeds without a new version", async () => {
      const again = await put(bob, "doc.md", "two\n", "--if-version", "1");
      expect(again.code).toBe(0);
      expect(again.json).toMatchObject({ version: 2, created: false });
    });

    test("over HTTP: ETag on GET and PUT, If-Match → 412 with the current ETag, If-None-Match: * to create", async () => {
      const secret = JSON.parse(readFileSync(join(alice, "identities", "alice.json"), "utf8")).secret;
      const auth = { authorization: `Bearer ${secret}` };
      const got = await fetch(`${url}/v1/files/doc.md`);
      expect(got.headers.get("etag")).toBe('"2"');
      expect(got.headers.get("x-clawlink-author")).toBe("bob");
      await got.arrayBuffer();
      const stale = await fetch(`${url}/v1/files/doc.md`, { method: "PUT", headers: { ...auth, "if-match": '"1"' }, body: "x" });
      expect(stale.status).toBe(412);
      expect(stale.headers.get("etag")).toBe('"2"');
      expect(((await stale.json()) as any).error.code).toBe("version_conflict");
      const fresh = await fetch(`${url}/v1/files/doc.md`, { method: "PUT", headers: { ...auth, "if-match": '"2"' }, body: "three\n" });
      expect(fresh.status).toBe(201);
      expect(fresh.headers.get("etag")).toBe('"3"');
      expect(await fresh.json()).toMatchObject({ version: 3, author: "alice" });
      const created = await fetch(`${url}/v1/files/http-new.md`, { method: "PUT", headers: { ...auth, "if-none-match": "*" }, body: "x" });
      expect(created.status).toBe(201);
      const again = await fetch(`${url}/v1/files/http-new.md`, { method: "PUT", headers: { ...auth, "if-none-match": "*" }, body: "y" });
      expect(again.status).toBe(412);
      const same = await fetch(`${url}/v1/files/http-new.md`, { method: "PUT", headers: auth, body: "x" });
      expect(same.status).toBe(200);
      // Each refusal says what to send instead.
      for (const [headers, message, hint] of [
        [{ "if-match": "3" }, 'If-Match must be the ETag of one version, such as "3", not 3', "ETag header"],
        [{ "if-none-match": '"3"' }, "If-None-Match takes only *", 'If-Match: "N"'],
        [{ "if-match": '"3"', "if-none-match": "*" }, "send If-Match or If-None-Match, not both", "If-None-Match: * writes only a new key"],
        [{ "x-clawlink-merge": "true" }, "X-Clawlink-Merge needs If-Match", "--if-version N --merge"],
        [{ "if-match": '"3"', "x-clawlink-merge": "yes" }, "X-Clawlink-Merge must be true or false", "X-Clawlink-Merge: true"],
      ] as const) {
        const bad = await fetch(`${url}/v1/files/doc.md`, { method: "PUT", headers: { ...auth, ...headers }, body: "z" });
        expect(bad.status).toBe(400);
        const { error } = (await bad.json()) as any;
        expect(error.message).toContain(message);
        expect(error.hint).toContain(hint);
      }
      // A put with If-Match on a key that holds no file: 412, and no ETag, as there is no version to name.
      const missing = await fetch(`${url}/v1/files/never-written.md`, { method: "PUT", headers: { ...auth, "if-match": '"1"' }, body: "z" });
      expect(missing.status).toBe(412);
      expect(missing.headers.get("etag")).toBeNull();
      const badVersion = await fetch(`${url}/v1/files/doc.md?version=0`);
      expect(badVersion.status).toBe(400);
      expect(((await badVersion.json()) as any).error.message).toBe("invalid query: version: versions start at 1");
      const badTtl = await fetch(`${url}/v1/file-locks/doc.md`, { method: "PUT", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ ttl_s: 0 }) });
      expect(badTtl.status).toBe(400);
      expect(((await badTtl.json()) as any).error.message).toBe("invalid lock request: ttl_s: ttl_s must be at least 1 second");
      expect((await runCli(["file-history", "--key", "doc.md", "--json"], as(alice))).json[0].version).toBe(3);
    });
  });

  describe("three-way merge", () => {
    const base = lines("# Plan", "", "goal: ship files", "", "owner: alice", "", "due: friday");

    test("disjoint edits made on the same version merge into a new version with both", async () => {
      const v1 = (await put(alice, "plan.md", base)).json.version;
      await put(alice, "plan.md", base.replace("goal: ship files", "goal: ship versioned files"), "--if-version", String(v1));
      const merged = await put(bob, "plan.md", base.replace("due: friday", "due: monday"), "--if-version", String(v1), "--merge");
      expect(merged.code).toBe(0);
      expect(merged.json).toMatchObject({ version: v1 + 2, created: true, merged: true, author: "bob" });
      expect((await get(alice, "plan.md")).stdout).toBe(lines("# Plan", "", "goal: ship versioned files", "", "owner: alice", "", "due: monday"));
      const human = await runCli(["file-put", "--key", "plan.md", "--if-version", String(v1), "--merge"], { ...as(alice), stdin: base.replace("owner: alice", "owner: alice, bob") });
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/^merged your edit \(made on version 1\) with the changes since: stored plan\.md as version 4/);
    });

    test("overlapping edits are refused with exit 6, the conflicting hunks shown with who wrote them, and nothing written", async () => {
      const before = (await runCli(["file-history", "--key", "plan.md", "--json"], as(alice))).json;
      const r = await runCli(["file-put", "--key", "plan.md", "--if-version", "2", "--merge"], { ...as(alice), stdin: base.replace("due: friday", "due: sunday").replace("goal: ship files", "goal: ship versioned files") });
      expect(r.code).toBe(6);
      expect(r.stderr).toContain('error: your edit of "plan.md" (made on version 2) overlaps changes in version 4 by bob in version 3: 1 conflicting hunk; nothing was written');
      expect(r.stderr).toContain(["<<<<<<< version 4 (bob in version 3)", "due: monday", "||||||| version 2", "due: friday", "=======", "due: sunday", ">>>>>>> yours"].join("\n"));
      expect(r.stderr).toContain("hint: fetch version 4");
      const j = await put(alice, "plan.md", base.replace("due: friday", "due: tuesday"), "--if-version", "2", "--merge");
      expect(j.code).toBe(6);
      expect(j.json.error.code).toBe("merge_conflict");
      expect((await runCli(["file-history", "--key", "plan.md", "--json"], as(alice))).json).toEqual(before);
    });

    test("a conflict with the latest version names its author once", async () => {
      await put(alice, "solo.md", lines("a", "b"));
      await put(bob, "solo.md", lines("a", "b by bob"), "--if-version", "1");
      const r = await runCli(["file-put", "--key", "solo.md", "--if-version", "1", "--merge"], { ...as(alice), stdin: lines("a", "b by alice") });
      expect(r.code).toBe(6);
      expect(r.stderr).toContain('error: your edit of "solo.md" (made on version 1) overlaps changes in version 2 by bob: 1 conflicting hunk; nothing was written');
      expect(r.stderr).toContain(["<<<<<<< version 2 (bob)", "b by bob", "||||||| version 1", "b", "=======", "b by alice", ">>>>>>> yours"].join("\n"));
    });

    test("binary files are never merged", async () => {
      const bin = "\x00\x01binary";
      await put(alice, "blob.bin", bin);
      await put(alice, "blob.bin", bin + "\x02");
      const r = await put(bob, "blob.bin", bin + "\x03", "--if-version", "1", "--merge");
      expect(r.code).toBe(6);
      expect(r.json.error).toMatchObject({ code: "not_mergeable", message: '"blob.bin" is binary, and binary files are never merged' });
    });

    test("a base the relay no longer keeps cannot be merged", async () => {
      for (const n of [1, 2, 3, 4]) await put(alice, "busy.md", `line ${n}\n`);
      const r = await put(bob, "busy.md", "mine\n", "--if-version", "1", "--merge");
      expect(r.code).toBe(6);
      expect(r.json.error.message).toBe('version 1 of "busy.md" is no longer kept (the relay keeps the last 3), so it cannot be the base of a merge');
    });

    test("--merge without --if-version is a usage error", async () => {
      const r = await put(bob, "plan.md", "x\n", "--merge");
      expect(r.code).toBe(2);
      expect(r.json.error.message).toBe("--merge needs --if-version N: the version your edit started from");
    });
  });

  describe("leases", () => {
    test("a lease lets only its holder write; others fail with exit 6 naming the holder and the end", async () => {
      await put(alice, "lease.md", "draft\n");
      const lock = await runCli(["file-lock", "--key", "lease.md", "--ttl", "60", "--json"], as(alice));
      expect(lock.code).toBe(0);
      expect(lock.json).toMatchObject({ key: "lease.md", holder: "alice" });
      const left = (Date.parse(lock.json.until) - Date.now()) / 1000;
      expect(left).toBeGreaterThan(55);
      expect(left).toBeLessThanOrEqual(60);

      const blocked = await put(bob, "lease.md", "bob's\n");
      expect(blocked.code).toBe(6);
      expect(blocked.json.error.code).toBe("file_locked");
      expect(blocked.json.error.message).toMatch(new RegExp(`^"lease\\.md" is locked by alice until ${lock.json.until.replace(/\./g, "\\.")} \\(\\d+s from now\\); nothing was written$`));
      expect(blocked.json.error.hint).toContain("ask alice to run `clawlink file-unlock --key lease.md`");
      const human = await runCli(["file-put", "--key", "lease.md"], { ...as(bob), stdin: "x" });
      expect(human.code).toBe(6);
      expect(human.stderr).toContain('error: "lease.md" is locked by alice until');
      const rm = await runCli(["file-rm", "--key", "lease.md", "--json"], as(bob));
      expect(rm.code).toBe(6);
      expect(rm.json.error.message).toEndWith("nothing was deleted");
      const steal = await runCli(["file-lock", "--key", "lease.md", "--json"], as(bob));
      expect(steal.code).toBe(6);
      expect(steal.json.error.message).toEndWith("you cannot lock it until then");
      const unlock = await runCli(["file-unlock", "--key", "lease.md", "--json"], as(bob));
      expect(unlock.code).toBe(6);
      expect(unlock.json.error.message).toStartWith('"lease.md" is locked by alice, not by you; only the holder can unlock it');

      expect((await put(alice, "lease.md", "final\n")).json).toMatchObject({ version: 2, author: "alice" });
      expect((await get(bob, "lease.md")).stdout).toBe("final\n");
    });

    test("file-list shows who holds a lease and until when", async () => {
      const l = await runCli(["file-list", "--prefix", "lease", "--json"], as(bob));
      expect(l.json[0].lock).toMatchObject({ key: "lease.md", holder: "alice" });
      const table = await runCli(["file-list", "--prefix", "lease"], as(bob));
      expect(table.stdout).toMatch(/LOCKED BY\nlease\.md\s+2\s+6\s+alice\s+\S+\s+ago\s+alice until \S+Z\n/);
    });

    test("locking again renews the lease; unlocking frees the key for others", async () => {
      const first = (await runCli(["file-list", "--prefix", "lease", "--json"], as(bob))).json[0].lock;
      const renewed = await runCli(["file-lock", "--key", "lease.md", "--ttl", "120", "--json"], as(alice));
      expect(renewed.json.since).toBe(first.since);
      expect(Date.parse(renewed.json.until)).toBeGreaterThan(Date.parse(first.until));
      const unlock = await runCli(["file-unlock", "--key", "lease.md", "--json"], as(alice));
      expect(unlock.code).toBe(0);
      expect(unlock.json).toMatchObject({ key: "lease.md", holder: "alice", unlocked: true });
      expect((await runCli(["file-list", "--prefix", "lease", "--json"], as(bob))).json[0].lock).toBeNull();
      expect((await put(bob, "lease.md", "bob's turn\n")).code).toBe(0);
      // Unlocking a key nobody holds reaches what a cleanup step wants: exit 0, and the JSON says nothing was unlocked.
      const again = await runCli(["file-unlock", "--key", "lease.md", "--json"], as(alice));
      expect(again.code).toBe(0);
      expect(again.json).toEqual({ key: "lease.md", unlocked: false, reason: "not_locked", message: '"lease.md" is not locked (a lease also ends by itself when its ttl runs out)' });
      const human = await runCli(["file-unlock", "--key", "lease.md"], as(alice));
      expect(human.code).toBe(0);
      expect(human.stdout).toBe("lease.md was not locked: nothing to unlock (a lease also ends by itself when its ttl runs out)\n");
    });

    test("a key can be locked before it exists, so its creator writes it first", async () => {
      expect((await runCli(["file-lock", "--key", "reserved/new.md"], as(alice))).code).toBe(0);
      expect((await put(bob, "reserved/new.md", "bob\n", "--if-version", "0")).json.error.code).toBe("file_locked");
      expect((await put(alice, "reserved/new.md", "alice\n", "--if-version", "0")).json).toMatchObject({ version: 1 });
      await runCli(["file-unlock", "--key", "reserved/new.md"], as(alice));
    });

    test("a lease ends by itself when its ttl runs out", async () => {
      const lock = await runCli(["file-lock", "--key", "lease.md", "--ttl", "3", "--json"], as(alice));
      expect(lock.code).toBe(0);
      expect((await put(bob, "lease.md", "too soon\n")).code).toBe(6);
      await Bun.sleep(Date.parse(lock.json.until) - Date.now() + 50);
      expect((await put(bob, "lease.md", "after the lease\n")).code).toBe(0);
      expect((await runCli(["file-list", "--prefix", "lease", "--json"], as(bob))).json[0].lock).toBeNull();
    });

    test("a bad --ttl is a usage error", async () => {
      for (const [ttl, message] of [["0", "must be at least 1"], ["90000", "must be at most 86400 (a day)"], ["soon", "must be a number of seconds"], ["1.5", "must be whole seconds"]]) {
        const r = await runCli(["file-lock", "--key", "lease.md", "--ttl", ttl!, "--json"], as(alice));
        expect(r.code).toBe(2);
        expect(r.json.error.message).toBe(`--ttl: ${message}`);
      }
    });
  });

  describe("events", () => {
    const drain = (home: string) => runCli(["poll", "--max", "10000"], as(home));
    const changes = (p: CliProcess, key: string) => p.jsonLines().filter((m) => m.type === "file" && m.key === key);

    test("listen shows every new version, lock, unlock and delete of a co-editor as a `file` message", async () => {
      await drain(bob);
      const listener = new CliProcess(["listen", "--json"], as(bob));
      await listener.waitFor(/listening as bob/);
      await put(alice, "events/log.md", "one\n");
      await runCli(["file-lock", "--key", "events/log.md", "--ttl", "30"], as(alice));
      await runCli(["file-unlock", "--key", "events/log.md"], as(alice));
      await runCli(["file-rm", "--key", "events/log.md"], as(alice));
      await eventually(() => changes(listener, "events/log.md").length === 4);
      const seen = changes(listener, "events/log.md");
      expect(seen.map((m) => [m.action, m.version, m.by])).toEqual([
        ["put", 1, "alice"],
        ["lock", 1, "alice"],
        ["unlock", 1, "alice"],
        ["delete", 1, "alice"],
      ]);
      expect(seen[0]).toMatchObject({ size: 4, sha256: sha256("one\n"), merged: false, to: null });
      expect(Date.parse(seen[1].until)).toBeGreaterThan(Date.now());
      await listener.stop();
    });

    test("an agent's own changes are not sent back to it", async () => {
      expect((await runCli(["poll", "--json"], as(alice))).json.filter((m: any) => m.key === "events/log.md")).toEqual([]);
    });

    test("changes wait in the inbox of an agent that is not connected, and listen prints them in words", async () => {
      await put(alice, "events/log.md", "back\n");
      const polled = await runCli(["poll"], as(bob));
      expect(polled.stdout).toContain("alice wrote events/log.md version 2 (5 bytes)\n  fetch: clawlink file-get --key events/log.md");
    });

    test("file-watch prints only file changes under its prefix and leaves other messages in the inbox", async () => {
      await drain(bob);
      const watch = new CliProcess(["file-watch", "--key", "events/", "--json"], as(bob));
      await watch.waitFor(/watching files under events\/ as bob/);
      await put(alice, "other/b.md", "not watched\n");
      await runCli(["delegate", "--to", "bob", "--task", "review events"], as(alice));
      await put(alice, "events/a.md", "watched\n");
      await runCli(["file-lock", "--key", "events/a.md", "--ttl", "1"], as(alice));
      // The lease runs out by itself: the relay says so to everyone, its holder included.
      await eventually(() => watch.jsonLines().length === 3, 5000);
      expect(watch.jsonLines().map((m) => [m.type, m.key, m.action, m.by, m.expired ?? false])).toEqual([
        ["file", "events/a.md", "put", "alice", false],
        ["file", "events/a.md", "lock", "alice", false],
        ["file", "events/a.md", "unlock", "alice", true],
      ]);
      expect((await runCli(["poll", "--json"], as(alice))).json.filter((m: any) => m.key === "events/a.md").map((m: any) => [m.action, m.from])).toEqual([["unlock", "relay"]]);
      await watch.stop();
      const rest = (await runCli(["poll", "--json"], as(bob))).json;
      expect(rest.map((m: any) => m.type === "task" ? ["task", m.task] : [m.type, m.key])).toEqual([
        ["file", "other/b.md"],
        ["task", "review events"],
      ]);
    });

    test("file-watch in words", async () => {
      const watch = new CliProcess(["file-watch", "--key", "events/"], as(bob));
      await watch.waitFor(/watching files under events\//);
      await put(alice, "events/a.md", "again\n");
      await watch.waitFor(/alice wrote events\/a\.md version 2 \(6 bytes\)/);
      await watch.stop();
    });
  });

  describe("keys", () => {
    const INVISIBLE_RULE = "a file key must not contain invisible or direction-changing characters (zero-width spaces and joiners, soft hyphens, variation selectors, bidi overrides, blank symbols)";
    const refused: [string, string][] = [
      ["../etc/passwd", "a file key must not have empty, '.' or '..' segments"],
      ["a/../../b", "a file key must not have empty, '.' or '..' segments"],
      ["/abs/path", "a file key is a relative path; drop the leading /"],
      ["win\\path", "a file key uses / between folders, never a backslash"],
      ["bell\x07.txt", "a file key must not contain control characters"],
      ["a//b", "a file key must not have empty, '.' or '..' segments"],
      ["trailing/", "a file key must not have empty, '.' or '..' segments"],
      ["x".repeat(513), "a file key is at most 512 characters"],
    ];
    // Parsed by the same schema as above: one command shows it.
    const refusedByPut: [string, string][] = [
      ["zero\u200bwidth.md", `${INVISIBLE_RULE}; it has U+200B`],
      ["a/".repeat(32) + "b", "a file key has at most 32 segments"],
    ];

    const lookAlike: [string, string][] = [
      ...[
        ["zero\u200bwidth.md", "U+200B"],
        ["soft\u00adhyphen.md", "U+00AD"],
        ["report\u202egnp.exe", "U+202E"],
        // Look-alikes: variation selectors, a Hangul filler, blank symbols (Braille blank, object replacement), a word joiner.
        ["heart\ufe0f.md", "U+FE0F"],
        ["ideo\u{e0100}graph.md", "U+E0100"],
        ["han\u3164gul.md", "U+3164"],
        ["blank\u2800.md", "U+2800"],
        ["object\ufffc.md", "U+FFFC"],
        ["word\u2060joiner.md", "U+2060"],
      ].map(([key, cp]): [string, string] => [key!, `${INVISIBLE_RULE}; it has ${cp}`]),
      ["no\u00a0break.md", "a file key must not contain spaces other than the plain one (U+0020), which look alike; it has U+00A0"],
      ["ideographic\u3000space.md", "a file key must not contain spaces other than the plain one (U+0020), which look alike; it has U+3000"],
      ["thin\u2009space.md", "a file key must not contain spaces other than the plain one (U+0020), which look alike; it has U+2009"],
      ["trailing.md ", "a file key's folder and file names must not start or end with a space"],
      [" leading.md", "a file key's folder and file names must not start or end with a space"],
      ["folder /file.md", "a file key's folder and file names must not start or end with a space"],
    ];

    test("look-alike keys are refused with exit 2, naming the character", async () => {
      await Promise.all(
        lookAlike.map(async ([key, message]) => {
          const r = await runCli(["file-put", "--key", key, "--json"], { ...as(alice), stdin: "x" });
          expect(r.code).toBe(2);
          expect(r.json.error.message).toBe(`--key: ${message}`);
        }),
      );
      const secret = JSON.parse(readFileSync(join(alice, "identities", "alice.json"), "utf8")).secret;
      const r = await fetch(`${url}/v1/files/${encodeURIComponent("no\u00a0break.md")}`, { method: "PUT", headers: { authorization: `Bearer ${secret}` }, body: "x" });
      expect(r.status).toBe(400);
      expect(((await r.json()) as any).error.message).toContain("it has U+00A0");
      expect((await put(alice, "plain name/with spaces.md", "fine\n")).code).toBe(0);
    });

    test("bad keys are refused by every file command with exit 2 and the rule they broke", async () => {
      for (const [key, message] of refused) {
        for (const cmd of ["file-put", "file-get", "file-history", "file-rm", "file-lock", "file-unlock"]) {
          const args = [cmd, "--key", key];
          const r = await runCli([...args, "--json"], { ...as(alice), stdin: "x" });
          expect(r.code).toBe(2);
          expect(r.json.error.message).toBe(`--key: ${message}`);
        }
      }
      for (const [key, message] of refusedByPut) {
        const r = await runCli(["file-put", "--key", key, "--json"], { ...as(alice), stdin: "x" });
        expect(r.code).toBe(2);
        expect(r.json.error.message).toBe(`--key: ${message}`);
      }
      expect((await put(alice, "x".repeat(512), "long\n")).code).toBe(0);
      expect((await put(alice, "ünïcode/file name.md", "fine\n")).json).toMatchObject({ key: "ünïcode/file name.md", version: 1 });
      expect((await get(alice, "ünïcode/file name.md")).stdout).toBe("fine\n");
    });

    test("the relay refuses them too, however they are encoded", async () => {
      const secret = JSON.parse(readFileSync(join(alice, "identities", "alice.json"), "utf8")).secret;
      for (const path of ["..%2Fescape", "a/%2E%2E%2Fb", "%2Fabs", "a%5Cb", "bad%00key", "a%2F%2Fb", "%E0%A4%A"]) {
        const r = await fetch(`${url}/v1/files/${path}`, { method: "PUT", headers: { authorization: `Bearer ${secret}` }, body: "x" });
        expect(r.status).toBe(400);
        expect(((await r.json()) as any).error.message).toMatch(/file key/);
      }
      const list = await runCli(["file-list", "--json"], as(alice));
      expect(list.json.some((f: any) => f.key.includes("escape") || f.key.includes("abs"))).toBe(false);
    });

    test("dot segments in the path as sent are refused in any spelling, though URL parsing would resolve them", async () => {
      const secret = JSON.parse(readFileSync(join(alice, "identities", "alice.json"), "utf8")).secret;
      const port = new URL(url).port;
      // fetch() resolves dot segments before sending: a raw socket sends the path as written.
      const rawPut = (path: string) =>
        new Promise<string>((resolve) => {
          let answer = "";
          Bun.connect({
            hostname: "127.0.0.1",
            port: Number(port),
            socket: {
              open: (s) => void s.write(`PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${secret}\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`),
              data: (_s, d) => void (answer += d.toString()),
              close: () => resolve(answer),
            },
          });
        });
      for (const path of ["/v1/files/dots/%2e%2e/b1", "/v1/files/dots/../b2", "/v1/files/dots/.%2E/b3", "/v1/files/dots/%2e/b4", "/v1/file-locks/dots/%2E%2E/b5", "/v1/files/dots/%2e%2e/%2e%2e/files/b6"]) {
        const answer = await rawPut(path);
        expect(answer).toStartWith("HTTP/1.1 400");
        expect(answer).toContain("a file key must not have empty, '.' or '..' segments");
      }
      const keys = (await runCli(["file-list", "--json"], as(alice))).json.map((f: any) => f.key);
      for (const k of ["b1", "b2", "b3", "b4", "b5", "b6", "dots/b4"]) expect(keys).not.toContain(k);
      expect(await rawPut("/v1/files/dots/fine")).toStartWith("HTTP/1.1 201");
    });

    test("keys are compared in Unicode NFC: é typed as one or two code points names one file", async () => {
      const composed = "caf\u00e9/menu.md";
      const decomposed = "cafe\u0301/menu.md";
      expect((await put(alice, decomposed, "one\n")).json).toMatchObject({ key: composed, version: 1 });
      expect((await put(alice, composed, "two\n")).json).toMatchObject({ key: composed, version: 2 });
      expect((await get(alice, decomposed)).stdout).toBe("two\n");
      const secret = JSON.parse(readFileSync(join(alice, "identities", "alice.json"), "utf8")).secret;
      const r = await fetch(`${url}/v1/files/${encodeURIComponent("cafe\u0301")}/menu.md`, { headers: { authorization: `Bearer ${secret}` } });
      expect(await r.text()).toBe("two\n");
      const invisible = await fetch(`${url}/v1/files/${encodeURIComponent("zero\u200bwidth")}`, { method: "PUT", headers: { authorization: `Bearer ${secret}` }, body: "x" });
      expect(invisible.status).toBe(400);
      expect(((await invisible.json()) as any).error.message).toContain("invisible or direction-changing characters");
    });
  });
});
