/**
 * The dashboard in a real browser (Debian's chromium through playwright-core), against the compiled
 * relay while agents work through the CLI: what a person sees, live, without reloading.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { CliProcess, cleanup, freePort, runCli, spawnRelay, tempHome } from "../_helpers";
import { api } from "../_http";
import { browserAvailable, frameLine, launchBrowser, layoutShift, measureFrames, registerCrowd, screenshot, sendTraffic, seriousViolations } from "../_browser";

afterAll(cleanup);

// Functions passed to page.evaluate run in the browser; the test program has no DOM library, so its globals are declared loosely.
declare const window: any, document: any, location: any, sessionStorage: any;
declare function requestAnimationFrame(fn: (t: number) => void): number;

const run = browserAvailable(test);
const suite = run ? describe : describe.skip;

let browser: Browser;
if (run) {
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(() => browser?.close());
}

/** The text of every row a list has drawn, one string per row. */
const rowTexts = (page: Page, list: string) => page.$$eval(`#${list} [role=option]:not([hidden])`, (rows) => rows.map((r) => r.textContent ?? ""));
const rowWith = (page: Page, list: string, text: string) => page.locator(`#${list} [role=option]:not([hidden])`, { hasText: text });

async function expectAccessible(page: Page, where: string) {
  // Checked at rest: a toast caught halfway through fading has a contrast it never shows for long.
  await page.waitForFunction(() => !document.querySelector("#toast.shown") && document.querySelector("#toast")!.getAnimations().length === 0, undefined, { timeout: 10_000 });
  const found = await seriousViolations(page);
  if (found.length) console.error(`axe on ${where}:`, JSON.stringify(found, null, 2));
  expect(found).toEqual([]);
}

suite("the dashboard of a relay at work", () => {
  let url = "";
  let page: Page;
  const alice = { home: "", relay: "" };
  const bob = { home: "", relay: "" };
  const carol = { home: "", relay: "" };

  beforeAll(async () => {
    ({ url } = await spawnRelay());
    for (const who of [alice, bob, carol]) Object.assign(who, { home: tempHome(), relay: url });
    expect((await runCli(["register", "--name", "alice", "--caps", "planning", "--description", "Plans the work"], alice)).code).toBe(0);
    expect((await runCli(["register", "--name", "bob", "--caps", "code-review,python"], bob)).code).toBe(0);
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${url}/`);
    await page.waitForSelector("#status[data-state=live]");
    // Set once: still there at the end means the page was never reloaded.
    await page.evaluate(() => ((window as any).sameDocument = true));
  }, 30_000);

  test("both agents are listed with their status", async () => {
    await rowWith(page, "agents", "alice").waitFor();
    await rowWith(page, "agents", "bob").waitFor();
    const rows = await rowTexts(page, "agents");
    expect(rows.find((r) => r.startsWith("alice"))).toContain("online");
    expect(rows.find((r) => r.startsWith("bob"))).toContain("online");
    expect(await page.textContent("#tab-agents .tab-badge")).toBe("2");
    await screenshot(page, "agents");
    await expectAccessible(page, "the agents view");
  }, 30_000);

  test("a task moves from queued to completed without a reload", async () => {
    const id = (await runCli(["delegate", "--to", "bob", "--task", "Summarise the design doc", "--json"], alice)).json.id;
    await page.click("#tab-tasks");
    const row = rowWith(page, "tasks", "Summarise the design doc");
    await row.filter({ hasText: "queued" }).waitFor();
    const listener = new CliProcess(["listen", "--exec", "echo summary ready", "--respond", "--type", "task"], bob);
    await row.filter({ hasText: "completed" }).waitFor({ timeout: 15_000 });
    expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
    await row.click();
    await page.waitForSelector(`#details[open] .timeline`);
    const timeline = await page.textContent("#details .timeline");
    for (const state of ["queued", "delivered", "completed"]) expect(timeline).toContain(state);
    expect(await page.textContent("#details-body")).toContain("summary ready");
    expect(await page.textContent("#details-title")).toBe(`Task ${id}`);
    await screenshot(page, "task-details");
    await expectAccessible(page, "a task's details");
    await page.keyboard.press("Escape");
    await page.click("#tab-agents");
    await rowWith(page, "agents", "bob").filter({ hasText: "listening" }).waitFor();
    await listener.stop();
    await screenshot(page, "tasks");
  }, 30_000);

  test("a file's versions, and a lease with its holder counting down", async () => {
    const dir = mkdtempSync(join(tmpdir(), "clawlink-dash-"));
    writeFileSync(join(dir, "v1.md"), "# Plan\n- parse\n- review\n");
    writeFileSync(join(dir, "v2.md"), "# Plan\n- parse\n- review twice\n- ship\n");
    expect((await runCli(["file-put", "--key", "notes/plan.md", "--file", join(dir, "v1.md")], alice)).code).toBe(0);
    expect((await runCli(["file-put", "--key", "notes/plan.md", "--file", join(dir, "v2.md")], bob)).code).toBe(0);
    expect((await runCli(["file-lock", "--key", "notes/plan.md", "--ttl", "600"], bob)).code).toBe(0);
    await page.click("#tab-files");
    const row = rowWith(page, "files", "notes/plan.md");
    await row.filter({ hasText: "bob ·" }).waitFor();
    const text = (await row.textContent())!;
    expect(text).toContain("v2");
    expect(text).toMatch(/bob · (9m 5\d|10m 00)s left/);
    await screenshot(page, "files");
    await row.click();
    await page.waitForSelector("#details .history tbody tr");
    expect(await page.$$eval("#details .history tbody tr", (rows) => rows.map((r) => r.textContent))).toEqual([expect.stringContaining("bob"), expect.stringContaining("alice")]);
    await page.click("#details button:text('Show diff')");
    await page.waitForSelector("#details pre.diff .add");
    expect(await page.textContent("#details pre.diff")).toContain("+ - ship");
    await screenshot(page, "file-diff");
    await expectAccessible(page, "a file's details");

    // Releasing the lease is confirmed first; then the row shows no holder.
    await page.click("#details button:text('Release lease…')");
    await page.waitForSelector("#confirm[open]");
    await expectAccessible(page, "the confirmation");
    await page.click("#confirm button:text('Release lease')");
    await page.waitForSelector("#confirm", { state: "hidden" });
    await page.keyboard.press("Escape");
    await row.filter({ hasNotText: "bob ·" }).waitFor();
    expect(await page.textContent("#toast")).toBe("The lease on notes/plan.md was released.");
  }, 30_000);

  test("the feed grows as messages flow, and nothing shifts as it does", async () => {
    await page.click("#tab-messages");
    const count = () => page.$eval("#feed", (el) => Number(el.querySelector("[role=option]:not([hidden])")?.getAttribute("aria-setsize") ?? 0));
    const before = await count();
    for (const n of [1, 2, 3]) expect((await runCli(["broadcast", "--content", `finding ${n}`, "--topic", "review"], alice)).code).toBe(0);
    await page.waitForFunction((n) => Number(document.querySelector("#feed [role=option]:not([hidden])")?.getAttribute("aria-setsize")) >= n, before + 3);
    expect(await count()).toBeGreaterThanOrEqual(before + 3);
    expect((await rowTexts(page, "feed"))[0]).toContain("broadcast");
    await rowWith(page, "feed", "broadcast").first().click();
    await page.waitForFunction(() => document.querySelector("#details-body pre")?.textContent?.startsWith("finding 3"));
    await page.keyboard.press("Escape");
    await page.waitForSelector("#details", { state: "hidden" });
    await page.waitForSelector(".chart-stats:has-text('in 5 min')");
    await screenshot(page, "messages");
    await expectAccessible(page, "the messages view");
    expect(await layoutShift(page)).toBeLessThan(0.01);
  }, 30_000);

  test("from the page: a task is canceled and an agent unregistered, each confirmed first", async () => {
    expect((await runCli(["register", "--name", "carol"], carol)).code).toBe(0);
    await runCli(["delegate", "--to", "carol", "--task", "Translate the notes", "--json"], alice);
    await page.click("#tab-tasks");
    const row = rowWith(page, "tasks", "Translate the notes");
    await row.click();
    await page.click("#details button:text('Cancel task…')");
    await page.click("#confirm button:text('Keep it')");
    expect(await page.textContent("#details-body")).toContain("queued");
    await page.click("#details button:text('Cancel task…')");
    await page.click("#confirm button:text('Cancel task')");
    await page.waitForSelector("#confirm", { state: "hidden" });
    await page.keyboard.press("Escape");
    await row.filter({ hasText: "canceled" }).waitFor();

    await page.click("#tab-agents");
    await rowWith(page, "agents", "carol").click();
    await page.click("#details button:text('Unregister…')");
    await page.click("#confirm button:text('Unregister')");
    await page.waitForSelector("#confirm", { state: "hidden" });
    await page.keyboard.press("Escape");
    await rowWith(page, "agents", "carol").waitFor({ state: "detached" });
    // The relay no longer knows carol: whoami answers so (exit 0), with heartbeat as the next step.
    expect((await runCli(["whoami", "--json"], carol)).json).toMatchObject({ registered: false, problem: { code: "not_registered" } });
  }, 30_000);

  test("the keyboard reaches every view and opens a row", async () => {
    await page.click("#tab-agents");
    await page.focus("#tab-agents");
    await page.keyboard.press("ArrowRight");
    expect(await page.evaluate(() => location.hash)).toBe("#tasks");
    await page.keyboard.press("End");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("tab-relay");
    await page.keyboard.press("Home");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("agents");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#details[open]");
    expect(await page.textContent("#details-title")).toMatch(/^Agent (alice|bob)$/);
    await page.keyboard.press("Escape");
  }, 30_000);

  test("the relay's health, in light and dark", async () => {
    await page.click("#tab-relay");
    await page.waitForSelector("#card-store:has-text('Memory')");
    // Health arrives with the relay's once-a-second tick: the count follows carol's unregistering within one.
    await page.waitForSelector("#card-agents:text-is('2')", { timeout: 5_000 });
    await screenshot(page, "relay");
    await expectAccessible(page, "the relay view");
    await page.emulateMedia({ colorScheme: "dark" });
    for (const view of ["agents", "tasks", "messages", "files", "relay"]) {
      await page.click(`#tab-${view}`);
      await page.waitForTimeout(100);
      await expectAccessible(page, `the ${view} view in dark mode`);
    }
    await page.click("#tab-tasks");
    await screenshot(page, "tasks-dark");
    await page.emulateMedia({ colorScheme: "light" });
  }, 30_000);

  test("on a phone: rows keep their height, nothing overflows sideways", async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await phone.goto(`${url}/#agents`);
    await phone.waitForSelector("#status[data-state=live]");
    await rowWith(phone, "agents", "alice").waitFor();
    expect(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    expect((await rowWith(phone, "agents", "alice").textContent())!).toMatch(/\d+ queued/);
    await screenshot(phone, "phone-agents");
    await phone.click("#tab-tasks");
    await screenshot(phone, "phone-tasks");
    await expectAccessible(phone, "the tasks view on a phone");
    await phone.close();
  }, 30_000);
});

suite("a relay with a token", () => {
  const TOKEN = "dash-secret-7f3a";

  test("the page asks for the token; a wrong one is an error, the right one shows the data", async () => {
    const { url } = await spawnRelay(["--token", TOKEN]);
    await runCli(["register", "--name", "alice"], { home: tempHome(), relay: url, env: { CLAWLINK_TOKEN: TOKEN } });
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on("request", (r) => requested.push(r.url()));
    await page.goto(`${url}/`);
    await page.waitForSelector("#prompt[open]");
    expect(await page.textContent("#status")).toBe("Needs the token");
    await expectAccessible(page, "the token prompt");
    await screenshot(page, "token-prompt");
    await page.fill("#prompt-token", "not-the-token");
    await page.click("#prompt-submit");
    await page.waitForSelector("#prompt-error:has-text('That token is not valid for this relay.')");
    expect(await page.isVisible("#prompt")).toBe(true);
    await page.fill("#prompt-token", TOKEN);
    await page.click("#prompt-submit");
    await page.waitForSelector("#status[data-state=live]");
    await rowWith(page, "agents", "alice").waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem("clawlink.admin-token"))).toBe(TOKEN);
    // Kept for the tab: a reload asks no more.
    await page.reload();
    await page.waitForSelector("#status[data-state=live]");
    expect(await page.isVisible("#prompt")).toBe(false);
    expect(requested.some((u) => u.includes(TOKEN))).toBe(false);
    expect(page.url()).not.toContain(TOKEN);
    await page.close();
  }, 30_000);
});

suite("a relay that restarts", () => {
  test("the page reconnects by itself and shows the relay as it came back", async () => {
    const port = freePort();
    const data = join(mkdtempSync(join(tmpdir(), "clawlink-dash-")), "relay.db");
    const first = await spawnRelay(["--data", data], undefined, port);
    await runCli(["register", "--name", "alice"], { home: tempHome(), relay: first.url });
    const page = await browser.newPage();
    await page.goto(`${first.url}/`);
    await page.waitForSelector("#status[data-state=live]");
    await rowWith(page, "agents", "alice").waitFor();
    await first.relay.stop();
    await page.waitForSelector("#status[data-state=reconnecting]");
    const second = await spawnRelay(["--data", data], undefined, port);
    await runCli(["register", "--name", "bob"], { home: tempHome(), relay: second.url });
    await page.waitForSelector("#status[data-state=live]", { timeout: 15_000 });
    await rowWith(page, "agents", "bob").waitFor();
    await rowWith(page, "agents", "alice").waitFor();
    await page.close();
  }, 30_000);
});

suite("a thousand agents and a hundred messages a second", () => {
  test("the page stays responsive: the feed is capped and only the rows in view are drawn", async () => {
    const { url } = await spawnRelay(["--max-registrations", "5000"]);
    const crowd = await registerCrowd(url, 1000);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${url}/#messages`);
    await page.waitForSelector("#status[data-state=live]");
    await page.waitForFunction(() => document.querySelector("#tab-agents .tab-badge")?.textContent === "1000");
    // Frame times are printed, not asserted: they say how this machine fared, not whether the page works.
    const idle = await measureFrames(page, 2000);
    // Eleven seconds at 100/s: more messages than the feed keeps.
    const load = sendTraffic(url, crowd, 100, 11_000);
    await Bun.sleep(1000);
    const feed = await measureFrames(page, 3000);
    await page.click("#tab-agents");
    const agents = await measureFrames(page, 2000);
    await page.click("#tab-tasks");
    const tasks = await measureFrames(page, 2000);
    await page.click("#tab-messages");
    const feedAgain = await measureFrames(page, 2000);
    const { sent, refused } = await load;
    console.log(`dashboard under load (${sent} tasks sent at 100/s to 1000 agents, ${refused} refused):`);
    for (const [label, stats] of [["  idle, messages view", idle], ["  messages view", feed], ["  agents view", agents], ["  tasks view", tasks], ["  messages view again", feedAgain]] as const) console.log(frameLine(label, stats));
    expect(refused).toBe(0);
    await page.waitForFunction(() => Number(document.querySelector("#feed [role=option]:not([hidden])")?.getAttribute("aria-setsize")) === 1000);
    expect(await page.$$eval("#feed [role=option]", (rows) => rows.length)).toBeLessThan(80);
    await page.click("#tab-agents");
    expect(await page.$$eval("#agents [role=option]", (rows) => rows.length)).toBeLessThan(80);
    expect(await page.evaluate(() => document.querySelectorAll("*").length)).toBeLessThan(2000);
    await screenshot(page, "load-agents");
    await page.close();
  }, 60_000);
});

suite("the admin API seen from a page elsewhere", () => {
  test("a request for the admin API from another origin is refused", async () => {
    const { url } = await spawnRelay();
    const r = await api(url)("GET", "/v1/admin/state", { headers: { origin: "http://evil.example" } });
    expect(r.status).toBe(403);
  }, 30_000);
});
