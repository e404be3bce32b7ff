/** Uploads in progress hold room in the shared files' budget before their bodies are read, and give it back when they end. */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, eventually, startTestRelay } from "../_helpers";
import { api, registerAgent } from "../_http";

afterAll(cleanup);

/** An upload on a raw socket that declares `total` bytes, sends `first` of them, and waits to be told to go on or break off. */
function slowUpload(port: number, path: string, secret: string, total: number, first: number) {
  let socket: Awaited<ReturnType<typeof Bun.connect>> | undefined;
  let reply = "";
  // A socket takes what it can; the rest is written when it drains.
  const unsent: Uint8Array[] = [];
  const flush = () => {
    while (socket && unsent.length) {
      const chunk = unsent[0]!;
      const n = socket.write(chunk);
      if (n < chunk.byteLength) {
        unsent[0] = chunk.subarray(Math.max(0, n));
        return;
      }
      unsent.shift();
    }
  };
  const write = (bytes: Uint8Array) => {
    unsent.push(bytes);
    flush();
  };
  const done = new Promise<string>((resolve) => {
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          socket = s;
          write(new TextEncoder().encode(`PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${secret}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${total}\r\n\r\n`));
          if (first) write(new Uint8Array(first).fill(1));
        },
        drain: flush,
        data: (_s, d) => void (reply += d.toString()),
        close: () => resolve(reply),
        error: () => resolve(reply),
      },
    });
  });
  return {
    /** Sends `n` more bytes and goes on waiting. */
    more(n: number) {
      write(new Uint8Array(n).fill(3));
    },
    status: () => eventually(() => /^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1], 10_000).then(Number),
    reply: () => reply,
    finish(rest: number) {
      write(new Uint8Array(rest).fill(2));
      return eventually(() => /^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1], 10_000).then(Number);
    },
    abort() {
      socket!.end();
      return done;
    },
  };
}

describe("uploads in progress hold room in --max-total-file-bytes", () => {
  const relay = startTestRelay({ maxFileBytes: 600_000, maxTotalFileBytes: 1_000_000 });
  const call = api(relay.url);
  const put = (secret: string, key: string, size: number) =>
    call("PUT", `/v1/files/${key}`, { bearer: secret, body: new Uint8Array(size), headers: { "content-type": "application/octet-stream" } });
  const holding = (bytes: number) => eventually(() => relay.core.uploading === bytes);

  test("a concurrent upload that does not fit beside one in progress is 429 storage_busy; the room comes back when it ends", async () => {
    const a = await registerAgent(relay.url, "uploader");
    const port = relay.server.port!;
    const slow = slowUpload(port, "/v1/files/big", a.secret, 600_000, 0);
    await holding(600_000);
    const busy = await put(a.secret, "other", 500_000);
    expect(busy.status).toBe(429);
    expect(busy.headers.get("retry-after")).toBe("1");
    expect(busy.body.error).toMatchObject({
      code: "storage_busy",
      message: "uploads in progress hold 600000 bytes: storing 500000 more beside the 0 bytes kept would pass the shared files' limit of 1000000 bytes (--max-total-file-bytes)",
    });
    // A body without a length is held as it streams in, and refused as soon as it does not fit.
    const streamed = await call("PUT", "/v1/files/streamed", {
      bearer: a.secret,
      headers: { "content-type": "application/octet-stream" },
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 10; i++) c.enqueue(new Uint8Array(50_000));
          c.close();
        },
      }),
    });
    expect(streamed.status).toBe(429);
    expect(streamed.body.error.code).toBe("storage_busy");

    expect(await slow.finish(600_000)).toBe(201);
    expect((await put(a.secret, "small", 300_000)).status).toBe(201);
    const full = await put(a.secret, "more", 200_000);
    expect(full.status).toBe(413);
    expect(full.body.error.code).toBe("storage_full");
    expect((await call("GET", "/v1/files", { bearer: a.secret })).body.files.map((f: any) => [f.key, f.size])).toEqual([
      ["big", 600_000],
      ["small", 300_000],
    ]);
  });

  test("an upload that breaks off gives its room back", async () => {
    const a = await registerAgent(relay.url, "quitter");
    await call("DELETE", "/v1/files/small", { bearer: a.secret });
    const slow = slowUpload(relay.server.port!, "/v1/files/abandoned", a.secret, 390_000, 1000);
    await holding(390_000);
    expect((await put(a.secret, "after", 100_000)).status).toBe(429);
    await slow.abort();
    await holding(0);
    expect((await put(a.secret, "after", 390_000)).status).toBe(201);
  });
});

describe("a trickled upload cannot hold its room (--min-upload-rate)", () => {
  // The grace is short here; a relay gives an upload 10 s at any pace.
  const relay = startTestRelay({ maxFileBytes: 600_000, maxTotalFileBytes: 1_000_000, uploadGraceMs: 300 });
  const call = api(relay.url);

  test("an upload sent a byte at a time is refused with 408 upload_too_slow once past the grace, and its room comes back", async () => {
    const a = await registerAgent(relay.url, "trickler");
    const slow = slowUpload(relay.server.port!, "/v1/files/hog", a.secret, 600_000, 1);
    await eventually(() => relay.core.uploading === 600_000);
    for (let i = 0; i < 20 && !/^HTTP/.test(slow.reply()); i++) {
      await Bun.sleep(100);
      slow.more(1);
    }
    expect(await slow.status()).toBe(408);
    const body = JSON.parse(slow.reply().slice(slow.reply().indexOf("\r\n\r\n") + 4));
    expect(body.error.code).toBe("upload_too_slow");
    expect(body.error.message).toMatch(/^the upload sent \d+ bytes in \d+\.\ds, slower than the relay's --min-upload-rate of 16384 bytes a second \(after 0\.3s\)$/);
    expect(body.error.hint).toContain("--min-upload-rate");
    await eventually(() => relay.core.uploading === 0);
    const ok = await call("PUT", "/v1/files/real", { bearer: a.secret, body: new Uint8Array(600_000), headers: { "content-type": "application/octet-stream" } });
    expect(ok.status).toBe(201);
    expect((await call("GET", "/v1/files", { bearer: a.secret })).body.files.map((f: any) => f.key)).toEqual(["real"]);
  });
});
