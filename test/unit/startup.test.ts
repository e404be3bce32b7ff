/** What a one-shot command loads when it starts: its own code, never the relay's, the MCP SDK, A2A, the dashboard or citty's runtime. */
import { describe, expect, test } from "bun:test";
import { commandLoads, heavyIn } from "../../scripts/_modules";

describe("start-up", async () => {
  const loads = await commandLoads();
  const byName = new Map(loads.map((l) => [l.command, l]));

  test("every command is in the split build, and the relay's start reaches its own code", () => {
    for (const name of ["--version", "discover", "delegate", "listen", "relay", "mcp"]) expect(byName.has(name)).toBe(true);
    expect(heavyIn(byName.get("relay")!).length).toBeGreaterThan(0);
  });

  test("no one-shot command loads relay, MCP, A2A or dashboard code", () => {
    for (const load of loads) {
      if (load.command === "relay" || load.command === "mcp" || load.command === "a2a-bridge") continue;
      expect({ command: load.command, heavy: heavyIn(load) }).toEqual({ command: load.command, heavy: [] });
    }
  });

  test("citty's runtime (its parser loads node:util) stays out of every command but --help and completion", () => {
    for (const load of loads) {
      if (load.command === "completion") continue;
      expect({ command: load.command, citty: load.modules.filter((m) => m.includes("citty")) }).toEqual({ command: load.command, citty: [] });
    }
  });

  test("--version loads neither valibot nor the client", () => {
    expect(byName.get("--version")!.modules.filter((m) => m.includes("valibot") || m.startsWith("src/client/"))).toEqual([]);
  });
});
