/**
 * Progress for a person at a terminal: a bar for big transfers, a spinner while a task runs.
 * Only on a TTY stderr and never with --json, so what a program reads is never touched.
 */
import { printable } from "./render";

/** Transfers smaller than this finish before a bar would be worth drawing. */
export const PROGRESS_MIN_BYTES = 1024 * 1024;
const REDRAW_MS = 100;
const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export function progressWanted(json: boolean): boolean {
  // isatty(2) rather than process.stderr.isTTY: asking the stream would set it up, which costs start-up time.
  return !json && process.env.TERM !== "dumb" && (require("node:tty") as typeof import("node:tty")).isatty(2);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  s = Math.round(s);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function draw(line: string) {
  const width = process.stderr.columns || 80;
  process.stderr.write(`\r${line.length >= width ? line.slice(0, width - 1) : line}\x1b[K`);
}

const clear = () => process.stderr.write("\r\x1b[K");

/** The longest numbers a bar shows beside it (under a TiB, under 100 h). */
const WIDEST_TAIL = "100%  1023 MiB / 1023 MiB  1023 MiB/s  ETA 99h59m";

/** `label [#####-----]  42%  84.0 MiB / 200 MiB  96.3 MiB/s  ETA 1s` */
export class ProgressBar {
  private started = performance.now();
  private drawn = 0;

  private label: string;
  /** Chosen once: a bar that grew and shrank with the numbers beside it would jitter. */
  private width: number;

  constructor(
    label: string,
    private total: number,
  ) {
    this.label = printable(label, true);
    const room = (process.stderr.columns || 80) - this.label.length - WIDEST_TAIL.length - 6;
    this.width = Math.max(10, Math.min(30, room));
  }

  update(done: number) {
    const now = performance.now();
    if (now - this.drawn < REDRAW_MS && done < this.total) return;
    this.drawn = now;
    const seconds = Math.max((now - this.started) / 1000, 0.001);
    const rate = done / seconds;
    const share = this.total > 0 ? Math.min(done / this.total, 1) : 1;
    const tail = `${String(Math.floor(share * 100)).padStart(3)}%  ${formatBytes(done)} / ${formatBytes(this.total)}  ${formatBytes(Math.round(rate))}/s  ETA ${formatSeconds(rate > 0 ? (this.total - done) / rate : Infinity)}`;
    const width = this.width;
    const filled = Math.round(share * width);
    draw(`${this.label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${tail}`);
  }

  finish() {
    clear();
  }
}

/** Counts the bytes of `body` as they are read (by fetch, while it sends them). */
export function countingStream(body: Blob, onBytes: (done: number) => void): ReadableStream<Uint8Array> {
  const reader = body.stream().getReader();
  let done = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = await reader.read();
      if (chunk.done) return controller.close();
      done += chunk.value.byteLength;
      onBytes(done);
      controller.enqueue(chunk.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/** `⠙ task t_abc: working (bob): running tests  12s` */
export class Spinner {
  private frame = 0;
  private started = performance.now();
  private timer: ReturnType<typeof setInterval>;

  constructor(private text: string) {
    this.timer = setInterval(() => this.render(), REDRAW_MS);
    this.render();
  }

  set(text: string) {
    this.text = text;
    this.render();
  }

  private render() {
    const elapsed = formatSeconds((performance.now() - this.started) / 1000);
    draw(`${FRAMES[this.frame++ % FRAMES.length]} ${this.text}  ${elapsed}`);
  }

  stop() {
    clearInterval(this.timer);
    clear();
  }
}
