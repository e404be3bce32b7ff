/**
 * The dashboard under load, in Debian's chromium: frame times per view with 1,000 agents and a stream of
 * messages, against the same page idle (the baseline), and what the page weighs.
 *   bun scripts/bench-dashboard.ts [--agents 1000] [--rate 100] [--seconds 5]
 * Runs the compiled relay (bun scripts/build.ts --host); needs /usr/bin/chromium (or CLAWLINK_CHROMIUM).
 */
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { CHROMIUM, frameLine, launchBrowser, measureFrames, registerCrowd, sendTraffic } from "../test/_browser";
import { cleanup, spawnRelay } from "../test/_helpers";
import { cpuMeter, describeMachine, machineLine } from "./_machine";

// Functions passed to page.evaluate run in the browser, where this global lives.
declare const document: any;

const { values } = parseArgs({
  options: { agents: { type: "string", default: "1000" }, rate: { type: "string", default: "100" }, seconds: { type: "string", default: "5" } },
});
const agents = Number(values.agents);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
if (!existsSync(CHROMIUM)) {
  console.error(`no chromium at ${CHROMIUM}: apt-get install -y chromium`);
  process.exit(2);
}

console.log(machineLine(describeMachine()));
const version = Bun.spawnSync([CHROMIUM, "--version"]).stdout.toString().trim();
console.log(`browser: ${version}; baseline: the same page with the same ${agents} agents and no traffic`);

const { relay, url } = await spawnRelay(["--max-registrations", String(agents + 100)]);
// What the page weighs: the document and what it loads from the relay.
const html = await (await fetch(`${url}/`)).text();
let bytes = html.length;
for (const [, path] of html.matchAll(/(?:src|href)="(\/[^"]+)"/g)) bytes += (await (await fetch(url + path)).arrayBuffer()).byteLength;
console.log(`page: ${(bytes / 1024).toFixed(1)} KiB (HTML, script and styles, uncompressed)`);

const crowd = await registerCrowd(url, agents);
const browser = await launchBrowser();
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
await page.goto(`${url}/#messages`);
await page.waitForSelector("#status[data-state=live]");
await page.waitForFunction((n) => document.querySelector("#tab-agents .tab-badge")?.textContent === String(n), agents);

const views = ["messages", "agents", "tasks", "files"];
const measure = async (label: string) => {
  for (const view of views) {
    await page.click(`#tab-${view}`);
    console.log(frameLine(`${label}, ${view} view`.padEnd(24), await measureFrames(page, seconds * 1000)));
  }
};
await measure("idle");
const relayCpu = cpuMeter(relay.proc.pid);
const traffic = sendTraffic(url, crowd, rate, (views.length * seconds + 2) * 1000);
await Bun.sleep(1000);
await measure(`${rate} msg/s`);
const { sent, refused } = await traffic;
console.log(`traffic: ${sent} tasks sent to ${agents} agents, ${refused} refused; relay CPU ${(relayCpu() * 100).toFixed(0)}% of a core meanwhile`);
await browser.close();
await cleanup();
