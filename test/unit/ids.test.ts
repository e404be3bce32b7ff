/** Sortable ids (relay/ids.ts): their shape, their order, and the time they carry, whatever the prefix's length. */
import { expect, test } from "bun:test";
import { idTime, newSortableId } from "../../src/relay/ids";

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
