/** What a newcomer working from SKILL.md alone read back, and had to guess at, in a trial run. */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, runCli } from "../_helpers";
import { openClients, team } from "../_mcp";

afterAll(async () => {
  await Promise.all(openClients.map((c) => c.close()));
  await cleanup();
});

describe("a newcomer", () => {
  test("respond with a mistyped task id is told to check the id, not only how to reply to a broadcast (exit 5)", async () => {
    const { worker } = await team();
    const r = await runCli(["respond", "--msg-id", "t_mistyped", "--result", "done", "--json"], worker);
    expect(r.code).toBe(5);
    expect(r.json.error).toEqual({
      code: "unknown_task",
      message: "no task has the id t_mistyped",
      hint: "answer a task id from your own `clawlink poll` or `listen` (`clawlink tasks --held` lists the tasks you hold); to reply to a broadcast or another message, also pass --to AGENT",
    });
  });
});
