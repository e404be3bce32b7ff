/** Reading uploads and serving downloads of shared files, on plain Request and Response objects. */
import { describe, expect, test } from "bun:test";
import { bytesResponse, readFileBody } from "../../src/relay/body";

const put = (body: Bun.BodyInit, headers: Record<string, string> = {}) =>
  new Request("http://relay/v1/files/k", { method: "PUT", body, headers, duplex: "half" } as RequestInit);

function streamOf(chunks: Uint8Array[], fail = false) {
  return new ReadableStream<Uint8Array>({
    pull(c) {
      const next = chunks.shift();
      if (next) c.enqueue(next);
      else if (fail) c.error(new Error("connection reset"));
      else c.close();
    },
  });
}

describe("readFileBody", () => {
  test("reads a body with a length into one buffer of that length", async () => {
    const bytes = await readFileBody(put(new Uint8Array(3000).fill(7), { "content-length": "3000" }), 10_000);
    expect(bytes.byteLength).toBe(3000);
    expect(bytes.every((b) => b === 7)).toBe(true);
  });

  test("reads a body without a length", async () => {
    const bytes = await readFileBody(put(streamOf([new Uint8Array([1, 2]), new Uint8Array([3])])), 10);
    expect([...bytes]).toEqual([1, 2, 3]);
  });

  test("refuses a body over the limit, with or without a length", async () => {
    await expect(readFileBody(put(new Uint8Array(11), { "content-length": "11" }), 10)).rejects.toThrow("the file is larger than the relay's limit of 10 bytes");
    await expect(readFileBody(put(streamOf([new Uint8Array(6), new Uint8Array(6)])), 10)).rejects.toMatchObject({ status: 413, code: "too_large" });
  });

  test("a body without a length raises its hold as it streams in, and is refused once the hold cannot grow", async () => {
    const asked: number[] = [];
    const hold = {
      bytes: 0,
      grow(size: number) {
        asked.push(size);
        if (size > 200_000) throw new Error("no room");
        this.bytes = size;
      },
    };
    const chunks = () => Array.from({ length: 4 }, () => new Uint8Array(40_000));
    expect((await readFileBody(put(streamOf(chunks())), 1_000_000, hold)).byteLength).toBe(160_000);
    // Ahead of what arrived, doubling, and back to just what arrived when that does not fit.
    expect(asked).toEqual([65_536, 131_072, 262_144, 160_000]);
    expect(hold.bytes).toBe(160_000);
    hold.bytes = 0;
    await expect(readFileBody(put(streamOf([...chunks(), ...chunks()])), 1_000_000, hold)).rejects.toThrow("no room");
  });

  test("an upload that breaks off is a 400 that says how far it got", async () => {
    await expect(readFileBody(put(streamOf([new Uint8Array(4)], true)), 10)).rejects.toMatchObject({ status: 400, message: "the upload broke off after 4 bytes" });
    await expect(readFileBody(put(streamOf([new Uint8Array(4)]), { "content-length": "9" }), 10)).rejects.toMatchObject({ status: 400, message: "the upload broke off after 4 bytes" });
  });
});

describe("bytesResponse", () => {
  test("serves big files in slices of the stored bytes, with their length", async () => {
    const stored = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i % 251);
    const res = bytesResponse(stored, { etag: '"1"' });
    expect(res.headers.get("content-length")).toBe(String(stored.byteLength));
    expect(res.headers.get("etag")).toBe('"1"');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(stored);
  });
});
