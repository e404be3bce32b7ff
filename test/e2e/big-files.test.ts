/** Big files stream through the relay as raw bytes; limits and corrupt downloads fail loudly. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { cleanup, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

const MB = 1024 * 1024;

/** Writes `mb` MiB of random-looking bytes (each MiB different) and returns their sha256. */
async function writeBigFile(path: string, mb: number): Promise<string> {
  const block = new Uint8Array(MB);
  for (let i = 0; i < MB; i += 65536) crypto.getRandomValues(block.subarray(i, i + 65536));
  const hasher = new Bun.CryptoHasher("sha256");
  const writer = Bun.file(path).writer();
  for (let i = 0; i < mb; i++) {
    new DataView(block.buffer).setUint32(0, i);
    hasher.update(block);
    writer.write(block);
    await writer.flush();
  }
  await writer.end();
  return hasher.digest("hex");
}

async function sha256File(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}

/** Peak resident memory of a process, in bytes (Linux only). */
const peakRss = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;

describe("big files", async () => {
  const { relay, url } = await spawnRelay();
  const home = tempHome();
  const as = { home, relay: url };

  test("a 200 MB file goes up and comes back byte-identical, with one copy in the relay", async () => {
    expect((await runCli(["register", "--name", "hauler"], as)).code).toBe(0);
    const src = join(home, "big.bin");
    const sha = await writeBigFile(src, 200);
    const before = process.platform === "linux" ? peakRss(relay.proc.pid) : 0;

    const put = await runCli(["file-put", "--key", "data/big.bin", "--file", src, "--json"], { ...as, timeoutMs: 60_000 });
    expect(put.code).toBe(0);
    expect(put.json).toMatchObject({ key: "data/big.bin", version: 1, size: 200 * MB, sha256: sha });

    const out = join(home, "back.bin");
    const get = await runCli(["file-get", "--key", "data/big.bin", "--output", out, "--json"], { ...as, timeoutMs: 60_000 });
    expect(get.code).toBe(0);
    expect(get.json).toMatchObject({ version: 1, size: 200 * MB, sha256: sha, output: out });
    expect(statSync(out).size).toBe(200 * MB);
    expect(await sha256File(out)).toBe(sha);

    if (process.platform === "linux") {
      // The stored version, plus transient garbage; a second whole copy would push it past this.
      expect(peakRss(relay.proc.pid) - before).toBeLessThan(360 * MB);
    }
  }, 120_000);
});

describe("size limit", async () => {
  const { url } = await spawnRelay(["--max-file-bytes", String(MB)]);
  const home = tempHome();
  const as = { home, relay: url };

  test("a file over the relay's --max-file-bytes is refused with 413, a clear message and exit 2", async () => {
    expect((await runCli(["register", "--name", "sender"], as)).code).toBe(0);
    const src = join(home, "over.bin");
    await writeBigFile(src, 1.5);
    const r = await runCli(["file-put", "--key", "over.bin", "--file", src, "--json"], as);
    expect(r.code).toBe(2);
    expect(r.json.error).toMatchObject({ code: "too_large", message: `the file is larger than the relay's limit of ${MB} bytes` });
    const far = join(home, "far-over.bin");
    await writeBigFile(far, 8);
    const human = await runCli(["file-put", "--key", "over.bin", "--file", far], as);
    expect(human.code).toBe(2);
    expect(human.stderr).toMatch(/^error: (the file is larger than the relay's limit of 1048576 bytes|the relay at \S+ closed the connection while receiving over\.bin \(8388608 bytes\))\nhint: /);
    expect((await runCli(["file-list", "--json"], as)).json).toEqual([]);
    // Refused before reading (a bad secret here), a big upload still gets its answer, not a broken pipe.
    const denied = await fetch(`${url}/v1/files/over.bin`, { method: "PUT", headers: { authorization: "Bearer a_nobody.secret" }, body: Bun.file(src) });
    expect(denied.status).toBe(401);
    expect(((await denied.json()) as any).error.code).toBe("not_registered");
    expect((await runCli(["file-put", "--key", "fits.bin", "--json"], { ...as, stdin: "small" })).json).toMatchObject({ version: 1 });
  });
});

describe("integrity", () => {
  // A relay that lies about what it sends: the bytes do not hash to the sha256 in its header.
  const liar = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req) =>
      new Response("tampered", { headers: req.url.endsWith("/unsigned.md") ? {} : { "x-clawlink-sha256": "0".repeat(64), "x-clawlink-version": "1" } }),
  });
  const relay = `http://127.0.0.1:${liar.port}`;

  test("file-get fails loudly on a sha256 mismatch and writes nothing", async () => {
    const home = tempHome();
    const out = join(home, "out.txt");
    const r = await runCli(["file-get", "--key", "doc.md", "--output", out], { home, relay });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: the bytes received for "doc.md" do not match its sha256: the relay said ${"0".repeat(64)}, the bytes hash to `);
    expect(r.stderr).toContain(`hint: nothing was written to ${out}`);
    expect(existsSync(out)).toBe(false);
    const printed = await runCli(["file-get", "--key", "doc.md"], { home, relay });
    expect(printed.code).toBe(1);
    expect(printed.stdout).toBe("");
    expect(printed.stderr).toContain("hint: nothing was printed");
    const unsigned = await runCli(["file-get", "--key", "unsigned.md"], { home, relay });
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toContain("error: the relay sent a file without its sha256");
    liar.stop(true);
  });
});
