/** A team of several relays given as a list: what a client does when some of them are down, and how an identity moves between them. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, freePort, runCli, startTestRelay, tempHome } from "../_helpers";

afterAll(cleanup);

const savedRelay = (home: string, name: string): string => JSON.parse(readFileSync(join(home, "identities", `${name}.json`), "utf8")).relay;

describe("a relay list whose first relay is down", () => {
  const live = startTestRelay().url;
  const dead = `http://127.0.0.1:${freePort()}`;
  const bob = tempHome();
  const as = { home: bob, relay: `${dead},${live}` };

  test("bob registers through the list", async () => {
    expect((await runCli(["register", "--name", "bob"], as)).code).toBe(0);
  });

  test("file-put from stdin moves on to the next relay", async () => {
    const r = await runCli(["file-put", "--key", "reports/a.md", "--json"], { ...as, stdin: "hi\n" });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ key: "reports/a.md", version: 1, size: 3, author: "bob" });
  });

  test("file-put --file moves on to the next relay", async () => {
    const f = join(bob, "f.txt");
    writeFileSync(f, "from a file\n");
    const r = await runCli(["file-put", "--key", "reports/b.md", "--file", f], as);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("stored reports/b.md as version 1");
    expect((await runCli(["file-get", "--key", "reports/b.md"], as)).stdout).toBe("from a file\n");
  });
});
