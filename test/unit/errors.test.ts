/** One table from error code to HTTP status to exit code, and the docs that describe it say the same. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ClawlinkError, exitCodeFor } from "../../src/errors";
import { ERRORS, EXIT, type ErrorCode } from "../../src/protocol/errors";

const root = join(import.meta.dir, "..", "..");
const read = (f: string) => Bun.file(join(root, f)).text();

/** The rows of the first markdown table after `heading`, as arrays of cells. */
function tableAfter(doc: string, heading: string): string[][] {
  const at = doc.indexOf(heading);
  expect(at).toBeGreaterThanOrEqual(0);
  const lines = doc.slice(at).split("\n");
  const first = lines.findIndex((l) => l.startsWith("|"));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(line.slice(1, -1).split(" | ").map((c) => c.trim()));
  }
  return rows;
}
const codesIn = (cell: string) => [...cell.matchAll(/`([a-z0-9_]+)`/g)].map((m) => m[1]!);
const wireCodes = (Object.keys(ERRORS) as ErrorCode[]).filter((c) => ERRORS[c].status > 0);

describe("docs/protocol.md's error table", () => {
  test("names every code the relay sends, each with the table's status and exit code", async () => {
    const rows = tableAfter(await read("docs/protocol.md"), "## Errors");
    const documented = new Map<string, { status: number; exit: number }>();
    for (const [status, codes, exit] of rows) for (const code of codesIn(codes!)) documented.set(code, { status: Number(status), exit: Number(exit) });
    expect([...documented.keys()].sort()).toEqual([...wireCodes].sort());
    for (const code of wireCodes) expect({ code, ...documented.get(code) }).toEqual({ code, status: ERRORS[code].status, exit: ERRORS[code].exit });
  });

  test("the files section's table gives each code its exit code", async () => {
    const rows = tableAfter(await read("docs/protocol.md"), "### Errors and exit codes");
    expect(rows.length).toBeGreaterThan(5);
    for (const [status, codes, exit] of rows) {
      for (const code of codesIn(codes!)) {
        const row = ERRORS[code as ErrorCode];
        expect({ code, exit: Number(exit), status: Number.parseInt(status!) || 0 }).toEqual({ code, exit: row.exit, status: row.status });
      }
    }
  });
});

describe.each([
  ["README.md", "### Exit codes"],
  ["SKILL.md", "## Exit codes"],
])("%s's exit codes", (doc, heading) => {
  test("list every exit code the CLI has, and no other", async () => {
    const rows = tableAfter(await read(doc), heading);
    const listed = rows.flatMap(([code]) => code!.split("/").map((c) => Number(c.trim())));
    expect(listed.sort((a, b) => a - b)).toEqual(Object.values(EXIT).sort((a, b) => a - b));
  });

  test("each HTTP status a row names has a code that exits with that row's number", async () => {
    const rows = tableAfter(await read(doc), heading);
    let named = 0;
    for (const [exit, meaning] of rows) {
      for (const m of meaning!.matchAll(/\b([45]\d\d)\b/g)) {
        const status = Number(m[1]);
        named++;
        expect({ status, exit: Number(exit) }).toEqual({ status, exit: (Object.values(ERRORS).find((r) => r.status === status && r.exit === Number(exit)) ?? { exit: -1 }).exit });
      }
    }
    expect(named).toBeGreaterThan(1);
  });
});

describe("exit codes", () => {
  test("come from the code's row", () => {
    expect(exitCodeFor(new ClawlinkError("not_registered", "no such agent", "run `clawlink heartbeat`"))).toBe(EXIT.notFound);
    expect(exitCodeFor(new ClawlinkError("unauthorized", "wrong token", "check --token"))).toBe(EXIT.auth);
    expect(exitCodeFor(new ClawlinkError("timeout", "did not finish", "check the task"))).toBe(EXIT.timeout);
  });

  test("a code this client does not know, or an answer from something else, exits by its status", () => {
    expect(exitCodeFor(ClawlinkError.received("brand_new", 429, "slow down", "retry"))).toBe(EXIT.busy);
    expect(exitCodeFor(ClawlinkError.received("brand_new", 404, "gone", "look again"))).toBe(EXIT.notFound);
    expect(exitCodeFor(new ClawlinkError("http_error", "the relay answered 403", "check --relay", { status: 403 }))).toBe(EXIT.auth);
  });

  test("the relay answers with the code's status, and every error has a hint", () => {
    const err = new ClawlinkError("file_locked", "locked", "wait for the lease");
    expect(err.status).toBe(423);
    expect(err.toJSON()).toEqual({ error: { code: "file_locked", message: "locked", hint: "wait for the lease" } });
  });
});
