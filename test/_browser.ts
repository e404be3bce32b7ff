/**
 * A real browser for the dashboard: Debian's chromium, driven by playwright-core. Without chromium the
 * browser tests are skipped with a loud message, except in CI (CI=true), where they fail.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

// Functions passed to page.evaluate run in the browser; the test program has no DOM library, so its globals are declared loosely.
declare const window: any, document: any, location: any, sessionStorage: any, PerformanceObserver: any;
declare function requestAnimationFrame(fn: (t: number) => void): number;

export const CHROMIUM = process.env.CLAWLINK_CHROMIUM ?? "/usr/bin/chromium";
export const ARTIFACTS = join(import.meta.dir, "artifacts");
const AXE = join(import.meta.dir, "..", "node_modules", "axe-core", "axe.min.js");

/**
 * Whether the browser tests can run here. Without chromium they are skipped with a loud message, and in CI
 * a test that fails says what is missing.
 */
export function browserAvailable(test: (name: string, fn: () => void) => void): boolean {
  if (existsSync(CHROMIUM)) return true;
  const message = `no chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or point CLAWLINK_CHROMIUM at one)`;
  if (process.env.CI === "true") {
    test("the dashboard's browser tests have a browser", () => {
      throw new Error(`the dashboard's browser tests must run in CI, but there is ${message}`);
    });
  } else {
    console.warn(`\n${"!".repeat(100)}\n!!! SKIPPING the dashboard's browser tests: ${message}\n${"!".repeat(100)}\n`);
  }
  return false;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export async function screenshot(page: Page, name: string) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}

export interface Violation {
  id: string;
  impact: string;
  help: string;
  targets: string[];
}

/** axe-core's serious and critical findings on the page as it is now. */
export async function seriousViolations(page: Page): Promise<Violation[]> {
  // Evaluated through the debugging protocol, not added as a <script>: the page's CSP allows no inline script.
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(readFileSync(AXE, "utf8"));
  return page.evaluate(async () => {
    const axe = (window as any).axe;
    const result = await axe.run(document, { resultTypes: ["violations"] });
    return result.violations
      .filter((v: any) => v.impact === "serious" || v.impact === "critical")
      .map((v: any) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n: any) => n.target.join(" ")) }));
  });
}

export interface FrameStats {
  frames: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Frames that took longer than 50 ms. */
  slow: number;
  longTasks: number;
  longTaskMs: number;
}

/** Frame-to-frame times over `ms`, from requestAnimationFrame, and the long tasks seen meanwhile. */
export async function measureFrames(page: Page, ms: number): Promise<FrameStats> {
  const { deltas, longTasks } = await page.evaluate(async (ms: number) => {
    const deltas: number[] = [];
    const longTasks: number[] = [];
    const observer = new PerformanceObserver((list: any) => {
      for (const e of list.getEntries()) longTasks.push(e.duration);
    });
    observer.observe({ type: "longtask" });
    await new Promise<void>((resolve) => {
      let last = performance.now();
      const end = last + ms;
      const step = (t: number) => {
        deltas.push(t - last);
        last = t;
        if (t < end) requestAnimationFrame(step);
        else resolve();
      };
      requestAnimationFrame(step);
    });
    observer.disconnect();
    return { deltas: deltas.slice(1), longTasks };
  }, ms);
  const sorted = [...deltas].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return {
    frames: deltas.length,
    meanMs: deltas.reduce((a, b) => a + b, 0) / Math.max(1, deltas.length),
    p50Ms: at(0.5),
    p95Ms: at(0.95),
    p99Ms: at(0.99),
    maxMs: sorted.at(-1) ?? NaN,
    slow: deltas.filter((d) => d > 50).length,
    longTasks: longTasks.length,
    longTaskMs: longTasks.reduce((a, b) => a + b, 0),
  };
}

export const frameLine = (label: string, s: FrameStats) =>
  `${label}: ${s.frames} frames, mean ${s.meanMs.toFixed(1)} ms (${(1000 / s.meanMs).toFixed(0)} fps), p50 ${s.p50Ms.toFixed(1)}, p95 ${s.p95Ms.toFixed(1)}, p99 ${s.p99Ms.toFixed(1)}, max ${s.maxMs.toFixed(1)} ms; ${s.slow} frames over 50 ms; ${s.longTasks} long tasks (${s.longTaskMs.toFixed(0)} ms)`;

/** The sum of layout shifts the page recorded since it loaded (Cumulative Layout Shift, without user input). */
export function layoutShift(page: Page): Promise<number> {
  return page.evaluate(
    () =>
      new Promise<number>((resolve) => {
        let total = 0;
        new PerformanceObserver((list: any) => {
          for (const e of list.getEntries() as any[]) if (!e.hadRecentInput) total += e.value;
        }).observe({ type: "layout-shift", buffered: true });
        setTimeout(() => resolve(total), 100);
      }),
  );
}

export interface Crowd {
  name: string;
  id: string;
  secret: string;
}

/** Registers `n` agents over HTTP, a few at a time (the relay must allow that many registrations a minute). */
export async function registerCrowd(url: string, n: number): Promise<Crowd[]> {
  const out: Crowd[] = [];
  for (let i = 0; i < n; i += 25) {
    const batch = Array.from({ length: Math.min(25, n - i) }, (_, j) => `agent-${String(i + j).padStart(4, "0")}`);
    const made = await Promise.all(
      batch.map(async (name) => {
        const res = await fetch(`${url}/v1/agents`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name, caps: ["load"], machine: `host-${name.slice(-1)}` }) });
        if (res.status !== 201) throw new Error(`register ${name}: ${res.status} ${await res.text()}`);
        const body = (await res.json()) as { id: string; secret: string };
        return { name, id: body.id, secret: body.secret };
      }),
    );
    out.push(...made);
  }
  return out;
}

/** Sends `perSecond` tasks a second between agents of the crowd, in ticks of 100 ms, for `ms`. */
export async function sendTraffic(url: string, crowd: Crowd[], perSecond: number, ms: number): Promise<{ sent: number; refused: number }> {
  let sent = 0;
  let refused = 0;
  const perTick = perSecond / 10;
  const end = Date.now() + ms;
  let n = 0;
  for (let tick = Date.now(); tick < end; tick += 100) {
    const batch = Array.from({ length: perTick }, () => {
      const from = crowd[n % crowd.length]!;
      const to = crowd[(n * 7 + 3) % crowd.length]!;
      n++;
      return fetch(`${url}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${from.secret}` },
        body: JSON.stringify({ type: "task", to: to.name, task: `load task ${n}: summarise section ${n % 40}` }),
      }).then((r) => (r.status === 201 ? sent++ : refused++));
    });
    await Promise.all(batch);
    await Bun.sleep(Math.max(0, tick + 100 - Date.now()));
  }
  return { sent, refused };
}
