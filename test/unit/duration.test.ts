/** Durations as relay flags take them, and as messages say them. */
import { expect, test } from "bun:test";
import { formatDuration, parseDuration } from "../../src/duration";

test("parseDuration takes a number and a unit, or bare seconds; nothing else", () => {
  expect(parseDuration("24h")).toBe(86_400_000);
  expect(parseDuration("30m")).toBe(1_800_000);
  expect(parseDuration("90s")).toBe(90_000);
  expect(parseDuration("7d")).toBe(604_800_000);
  expect(parseDuration("1.5h")).toBe(5_400_000);
  expect(parseDuration("3600")).toBe(3_600_000);
  for (const bad of ["", "soon", "-1h", "1w", "h", "1 hour"]) expect(parseDuration(bad)).toBeUndefined();
});

test("formatDuration picks the largest unit that says it exactly", () => {
  expect(formatDuration(86_400_000)).toBe("24h");
  expect(formatDuration(604_800_000)).toBe("7d");
  expect(formatDuration(5_400_000)).toBe("90m");
  expect(formatDuration(2000)).toBe("2s");
  expect(formatDuration(1500)).toBe("1500ms");
});
