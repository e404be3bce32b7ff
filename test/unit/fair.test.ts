/** Each turn of the event loop is shared among agents: one agent's flood waits for later turns, in order, and others go first. */
import { expect, test } from "bun:test";
import { FairShare } from "../../src/relay/fair";

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test("an agent within its share runs at once; past it, its work waits for later turns, in order, one share per turn", async () => {
  const fair = new FairShare(100);
  const ran: string[] = [];
  for (let i = 0; i < 5; i++) fair.submit("flood", 60, () => ran.push(`flood${i}`));
  // The first always runs; the second would pass the share of 100.
  expect(ran).toEqual(["flood0"]);
  expect(fair.waitingFor("flood")).toBe(240);
  fair.submit("quiet", 10, () => ran.push("quiet"));
  expect(ran).toEqual(["flood0", "quiet"]);
  await turn();
  expect(ran).toEqual(["flood0", "quiet", "flood1"]);
  await turn();
  await turn();
  await turn();
  expect(ran).toEqual(["flood0", "quiet", "flood1", "flood2", "flood3", "flood4"]);
  expect(fair.waitingFor("flood")).toBe(0);
});

test("what waits keeps its order behind new work of the same agent, and one item larger than the share still runs", async () => {
  const fair = new FairShare(100);
  const ran: number[] = [];
  fair.submit("a", 500, () => ran.push(1));
  fair.submit("a", 1, () => ran.push(2));
  expect(ran).toEqual([1]);
  await turn();
  fair.submit("a", 1, () => ran.push(3));
  await turn();
  await turn();
  expect(ran).toEqual([1, 2, 3]);
});

test("turn() resolves at once within the share and later past it", async () => {
  const fair = new FairShare(100);
  const order: string[] = [];
  const first = fair.turn("a", 100).then(() => order.push("a1"));
  const second = fair.turn("a", 100).then(() => order.push("a2"));
  const other = fair.turn("b", 100).then(() => order.push("b1"));
  await Promise.all([first, second, other]);
  expect(order).toEqual(["a1", "b1", "a2"]);
});

test("admit() takes the share now when there is room, and refuses (taking nothing) past it or behind waiting work", async () => {
  const fair = new FairShare(100);
  expect(fair.admit("a", 60)).toBe(true);
  expect(fair.admit("a", 60)).toBe(false);
  expect(fair.admit("a", 40)).toBe(true);
  expect(fair.admit("b", 100)).toBe(true);
  const ran: string[] = [];
  fair.submit("b", 10, () => ran.push("b"));
  // b's work waits for the next turn, so b is not admitted ahead of it, even once the turn has room.
  expect(fair.admit("b", 1)).toBe(false);
  await new Promise((r) => setImmediate(r));
  expect(ran).toEqual(["b"]);
  expect(fair.admit("b", 1)).toBe(true);
});
