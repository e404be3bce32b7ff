/**
 * The checks a command runs by hand before its request (no schema, no regular expression) answer as the
 * schemas and regular expressions they stand for: the same output, or none and the schema then explains.
 */
import { expect, test } from "bun:test";
import * as v from "valibot";
import { Identity, identityOf, isAgentName, normalizeRelayList, normalizeRelayUrl } from "../../src/config";
import { AGENT_NAME_RE } from "../../src/protocol/schemas";
import { CONFIG_FIELDS, ConfigFile, configOf } from "../../src/settings";

/** The schema's output when the quick check gives one (same fields in the same order), and never a quick answer the schema refuses. */
function agrees<T>(quick: (raw: never) => T | undefined, schema: v.GenericSchema, raw: unknown) {
  const q = quick(raw as never);
  const s = v.safeParse(schema, raw);
  if (q === undefined) return { raw, quick: "refused" };
  expect({ raw, schema: s.success }).toEqual({ raw, schema: true });
  // JSON text compares the order of the fields too (a saved identity is written back as it was read).
  expect({ raw, quick: JSON.stringify(q) }).toEqual({ raw, quick: JSON.stringify(s.output) });
  return { raw, quick: "taken" };
}

const full = { id: "a_1", name: "alice", secret: "a_1.s", claim: "c", relay: "http://r:1", caps: ["x", "y"], description: "d", ca: "/ca.pem", token: "t" };

test("a well-formed identity is taken as the Identity schema outputs it; anything else goes to the schema", () => {
  const { claim, caps, description, ca, token, ...least } = full;
  const taken = [
    full,
    least,
    { ...least, extra: 1, caps: [] },
    // Fields out of order come back in the schema's order.
    { relay: "http://r:1", token: "t", secret: "s", name: "b.o_b-1", id: "x", description: "", caps: ["z"] },
    { ...full, name: "a".repeat(64) },
  ];
  for (const raw of taken) expect(agrees(identityOf, Identity, raw)).toEqual({ raw, quick: "taken" });
  const refused = [
    null,
    "alice",
    [],
    { ...full, id: 1 },
    { ...full, name: "" },
    { ...full, name: "-alice" },
    { ...full, name: "al ice" },
    { ...full, name: "a".repeat(65) },
    { ...full, secret: null },
    { ...full, claim: 1 },
    { ...least, relay: undefined },
    { ...full, caps: "x" },
    { ...full, caps: ["x", 2] },
    { ...full, description: null },
    { ...full, ca: 1 },
    { ...full, token: false },
  ];
  for (const raw of refused) {
    expect(agrees(identityOf, Identity, raw)).toEqual({ raw, quick: "refused" });
    // Every one of these is one the schema refuses too, so its message is what the reader gets.
    expect({ raw, schema: v.safeParse(Identity, raw).success }).toEqual({ raw, schema: false });
  }
});

test("the name check by hand is AGENT_NAME_RE's", () => {
  const names = ["a", "A", "0", "alice", "b.o_b-1", "a".repeat(64), "a".repeat(65), "", ".a", "_a", "-a", "a b", "a/b", "é", "a\n", "a.", "Z9", "a~", "a\u0000", "ab:c"];
  for (const name of names) expect({ name, quick: isAgentName(name) }).toEqual({ name, quick: AGENT_NAME_RE.test(name) });
});

test("config.json's quick check takes what the ConfigFile schema takes, in its order, and its fields are the schema's", () => {
  expect([...CONFIG_FIELDS] as string[]).toEqual(Object.keys(ConfigFile.entries));
  const taken = [{}, { relay: "http://r:1" }, { ca: "ca.pem", token_file: "t", relay: "r" }];
  for (const raw of taken) expect(agrees(configOf, ConfigFile, raw)).toEqual({ raw, quick: "taken" });
  const refused = [{ relay: "" }, { relay: 9077 }, { token_file: null }, { ca: ["x"] }];
  for (const raw of refused) expect(agrees(configOf, ConfigFile, raw)).toEqual({ raw, quick: "refused" });
});

test("relay lists: the separators found by hand are those /[;\\s]/ finds, and a scheme is kept as /^[a-z]+:\\/\\//i sees it", () => {
  const said = (raw: string) => {
    try {
      return normalizeRelayList(raw);
    } catch (err) {
      return (err as Error).message;
    }
  };
  expect(said("http://a:1;http://b:2")).toContain("not semicolons");
  for (const space of [" ", "\t", "\u00a0", "\u2009", "\u3000", "\ufeff", "\u2028"]) expect({ space, said: said(`http://a:1${space}http://b:2`) }).toEqual({ space, said: expect.stringContaining("not spaces") });
  expect(said(" http://a:1 , HTTPS://b:2/ ")).toBe("http://a:1,https://b:2");
  expect(normalizeRelayUrl("a:1")).toBe("http://a:1");
  expect(normalizeRelayUrl("HtTp://a:1/")).toBe("http://a:1");
  expect(() => normalizeRelayUrl("ftp://a:1")).toThrow("is not an http(s) URL");
  // No scheme before "://" (a digit first): taken as a host, as the regular expression did.
  expect(normalizeRelayUrl("1http://a")).toBe("http://1http");
});
