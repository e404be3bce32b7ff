/** The progress bar as a terminal shows it: drawn on stderr, its width fixed while the numbers beside it change. */
import { afterEach, expect, test } from "bun:test";
import { ProgressBar } from "../../src/client/progress";

const write = process.stderr.write;
const columns = Object.getOwnPropertyDescriptor(process.stderr, "columns");
afterEach(() => {
  process.stderr.write = write;
  if (columns) Object.defineProperty(process.stderr, "columns", columns);
  else delete (process.stderr as { columns?: number }).columns;
});

test("the bar keeps one width from 0 % to 100 %, whatever the numbers beside it", () => {
  Object.defineProperty(process.stderr, "columns", { value: 80, configurable: true });
  const frames: string[] = [];
  process.stderr.write = ((chunk: string) => (frames.push(String(chunk)), true)) as typeof process.stderr.write;
  const total = 3 * 1024 * 1024;
  const bar = new ProgressBar("put big.bin", total);
  for (const done of [0, 900, 150_000, 1_234_567, total - 1, total]) {
    // Each step drawn, as if a redraw interval had passed.
    (bar as unknown as { drawn: number }).drawn = -1e9;
    bar.update(done);
  }
  const widths = frames.map((f) => f.match(/\[([#-]+)\]/)?.[1]?.length).filter((w) => w !== undefined);
  expect(widths.length).toBe(6);
  expect(new Set(widths).size).toBe(1);
});
