/** The MCP hint table's fallbacks: a hint written for a shell is never passed on to a model as it is. */
import { describe, expect, test } from "bun:test";
import { ClawlinkError } from "../../src/errors";
import { toolHint } from "../../src/mcp/hints";

const call = { tool: "file_put", args: {} };

describe("toolHint", () => {
  test("an error without a rule keeps a hint a model can follow", () => {
    expect(toolHint(new ClawlinkError("task_finished", "task t_1 is already completed", "nothing more can be sent about it"), call)).toBe("nothing more can be sent about it");
  });

  test("a hint that names a command or a flag is replaced: by the tool's arguments for bad input, else by whoami", () => {
    expect(toolHint(new ClawlinkError("bad_request", "invalid message: x", "see `clawlink send --help`"), call)).toBe("fix the arguments; tools/list shows what file_put takes");
    expect(toolHint(ClawlinkError.received("something_new", 400, "odd", "pass --frobnicate"), call)).toBe("whoami shows your identity and whether the relay answers");
  });

  test("a file_put if_version past the latest: re-read, and no merge offered", () => {
    const ahead = new ClawlinkError("version_conflict", '"a.md" is at version 2 (written by bob at 2026-12-02T09:00:00.000Z), not version 9; nothing was written', "version 9 was never written, so it cannot be the version you read: re-read it");
    expect(toolHint(ahead, { tool: "file_put", args: { if_version: 9 } })).toBe("version 9 was never written: call file_get, redo your edit on version 2, then file_put with if_version: 2");
    const behind = new ClawlinkError("version_conflict", '"a.md" is at version 2 (written by bob at 2026-12-02T09:00:00.000Z), not version 1; nothing was written', "re-read it");
    expect(toolHint(behind, { tool: "file_put", args: { if_version: 1 } })).toContain("merge: true (if_version stays 1)");
  });

  test("every error carries a hint, one without any included", () => {
    expect(toolHint(new ClawlinkError("usage", "file_put: no", ""), call)).toBe("fix the arguments; tools/list shows what file_put takes");
    expect(toolHint(ClawlinkError.received("weird", 500, "no", ""), call)).toBe("whoami shows your identity and whether the relay answers");
  });

  test("the relay's disk, its token and its reachability are the user's to fix, in the server's env", () => {
    expect(toolHint(new ClawlinkError("insufficient_storage", "the relay's disk is full: nothing of this request was kept", "free space on its --data disk"), call)).toBe(
      "nothing was kept: retry later, and tell the user the relay's disk is full",
    );
    expect(toolHint(new ClawlinkError("unauthorized", "this relay needs a token", ""), call)).toContain("CLAWLINK_TOKEN in this MCP server's env");
    expect(toolHint(new ClawlinkError("unreachable", "the relay is not reachable at http://x", ""), call)).toContain("CLAWLINK_RELAY in this MCP server's env");
  });
});
