import { describe, expect, test } from "bun:test";
import { backoffMs, isTransient } from "../../src/client/backoff";
import { ClawlinkError } from "../../src/errors";

describe("waiting out a relay that is away", () => {
  test("unreachable, 429 and 5xx pass; a bad answer, a refused credential or a bad request do not", () => {
    const e = (code: string, status: number) => ClawlinkError.received(code, status, "m", "h");
    for (const err of [e("unreachable", 0), e("busy", 429), e("unavailable", 503), e("http_error", 502)]) expect(isTransient(err)).toBe(true);
    for (const err of [e("bad_response", 502), e("unauthorized", 401), e("forbidden", 403), e("name_taken", 409), e("usage", 400), e("tls", 0), new Error("x"), undefined]) {
      expect(isTransient(err)).toBe(false);
    }
  });

  test("the delay doubles from 250 ms up to 10 s, with jitter of at most half", () => {
    for (let i = 0; i < 100; i++) {
      expect(backoffMs(0)).toBeGreaterThanOrEqual(125);
      expect(backoffMs(0)).toBeLessThanOrEqual(250);
      expect(backoffMs(3)).toBeGreaterThanOrEqual(1000);
      expect(backoffMs(3)).toBeLessThanOrEqual(2000);
      expect(backoffMs(30)).toBeGreaterThanOrEqual(5000);
      expect(backoffMs(30)).toBeLessThanOrEqual(10_000);
    }
  });
});
