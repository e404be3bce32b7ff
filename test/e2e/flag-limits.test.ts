/** A flag past the wire's limit is refused by the CLI in the flag's own words, before anything is sent. */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, member, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

describe("flag limits", async () => {
  const { url } = await spawnRelay();
  const boss = await member(url, "boss");
  await member(url, "worker");
  const sentTasks = async () => (await runCli(["tasks", "--sent", "--json"], boss)).json.tasks.map((t: any) => t.task);

  test("delegate's --lease, --ttl, --timeout and --idempotency-key name their limit (exit 2) and send nothing", async () => {
    const long = "k".repeat(201);
    for (const [flags, message] of [
      [["--lease", "604801"], "--lease: must be at most 604800 (7 days)"],
      [["--ttl", "2592001"], "--ttl: must be at most 2592000 (30 days)"],
      [["--wait", "--timeout", "99999999999"], "--timeout: must be at most 86400 (a day)"],
      [["--idempotency-key", long], "--idempotency-key: must be at most 200 characters, not 201"],
    ] as const) {
      const r = await runCli(["delegate", "--to", "worker", "--task", "never sent", ...flags, "--json"], boss);
      expect(r.code).toBe(2);
      expect(r.json.error).toEqual({ code: "usage", message, hint: `fix ${message.split(":")[0]}; the command's --help lists what each option takes` });
      expect(r.stderr).toBe("");
    }
    expect(await sentTasks()).not.toContain("never sent");
  });

  test("broadcast's --topic and --tags, and progress's --note, name their limit (exit 2)", async () => {
    for (const [args, message] of [
      [["broadcast", "--content", "x", "--topic", "t".repeat(201)], "--topic: must be at most 200 characters, not 201"],
      [["broadcast", "--content", "x", "--tags", Array(33).fill("t").join(",")], "--tags: must be at most 32 tags, not 33"],
      [["broadcast", "--content", "x", "--tags", `ok,${"t".repeat(65)}`], "--tags: a tag must be at most 64 characters, not 65"],
      [["progress", "--msg-id", "t_x", "--note", "n".repeat(10_001)], "--note: must be at most 10000 characters, not 10001"],
    ] as const) {
      const r = await runCli([...args, "--json"], boss);
      expect(r.code).toBe(2);
      expect(r.json.error).toMatchObject({ code: "usage", message });
    }
  });
});
