/** Sortable ids (relay/ids.ts): their shape, their order, and the time they carry, whatever the prefix's length. */
import { expect, test } from "bun:test";
import { idTime, newSortableId, safeEqual } from "../../src/relay/ids";

test("sortable ids have the prefix, 14 base32 characters, sort by creation and carry the time they were made", () => {
  for (const prefix of ["t", "m", "ab"]) {
    const before = Date.now();
    const ids = Array.from({ length: 2000 }, () => newSortableId(prefix));
    const after = Date.now();
    for (const id of ids) expect(id).toMatch(new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{14}$`));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(idTime(ids[0]!)).toBeGreaterThanOrEqual(before);
    expect(idTime(ids[ids.length - 1]!)).toBeLessThanOrEqual(after + 1);
  }
});

test("safeEqual tells equal strings from different ones, of the same length or not", () => {
  expect(safeEqual("a_1.secret", "a_1.secret")).toBe(true);
  expect(safeEqual("a_1.secret", "a_1.secreu")).toBe(false);
  expect(safeEqual("b_1.secret", "a_1.secret")).toBe(false);
  expect(safeEqual("a_1.secret", "a_1.secre")).toBe(false);
  expect(safeEqual("", "")).toBe(true);
  expect(safeEqual("", "x")).toBe(false);
  expect(safeEqual("abab", "ab")).toBe(false);
});
