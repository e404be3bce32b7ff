/**
 * `poll --wait` holds one request open for as long as it was asked to, past the relay's 10 s idle timeout:
 * a message that comes late is still delivered, and a wait that ends empty ends cleanly.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

describe("long polls", async () => {
  const { relay, url } = await spawnRelay();
  const boss = { home: tempHome(), relay: url };
  const quick = { home: tempHome(), relay: url };
  const patient = { home: tempHome(), relay: url };
  for (const [name, who] of [["boss", boss], ["quick", quick], ["patient", patient]] as const) await runCli(["register", "--name", name], who);

  // Both polls start together, so the two waits take the time of the longer one.
  const started = Date.now();
  const thirty = runCli(["poll", "--wait", "30", "--json"], { ...quick, timeoutMs: 60_000 });
  const twoMinutes = runCli(["poll", "--wait", "120", "--json"], { ...patient, timeoutMs: 150_000 });

  test(
    "poll --wait 30 gets a task sent 25 s into its wait",
    async () => {
      await Bun.sleep(Math.max(0, 25_000 - (Date.now() - started)));
      expect((await runCli(["delegate", "--to", "quick", "--task", "late but welcome"], boss)).code).toBe(0);
      const r = await thirty;
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.json.map((m: any) => m.task)).toEqual(["late but welcome"]);
    },
    60_000,
  );

  test(
    "poll --wait 120 with nothing to deliver returns an empty list after the whole wait (exit 0)",
    async () => {
      const r = await twoMinutes;
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.json).toEqual([]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(119_000);
      expect(relay.stderr).not.toContain("timed out");
    },
    150_000,
  );
});
