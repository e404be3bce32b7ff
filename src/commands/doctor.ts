import { defineCommand } from "./_args";
import { diagnose, type Report } from "../client/doctor";
import { printable, renderTable } from "../client/render";
import { print } from "../output";
import { flagsOf, globalArgs, reportError } from "./_shared";

const MARK = { ok: "ok", warn: "WARN", fail: "FAIL", skip: "-" } as const;

function render(r: Report): string {
  const settings = renderTable(
    ["SETTING", "VALUE", "FROM"],
    r.settings.map((s) => [s.name, s.value ?? "-", s.from]),
  );
  // A check's message and fix may quote the relay (its version, its errors): each stays on its line, its controls shown, not obeyed.
  const checks = r.checks.map((c) => `${MARK[c.status].padEnd(4)}  ${c.name.padEnd(11)} ${printable(c.message, true)}${c.fix && c.status !== "ok" ? `\n${" ".repeat(18)}fix: ${printable(c.fix, true)}` : ""}`);
  const problems = r.checks.filter((c) => c.status === "fail");
  const warnings = r.checks.filter((c) => c.status === "warn");
  const verdict = problems.length
    ? `${problems.length} problem${problems.length > 1 ? "s" : ""} (${problems.map((c) => c.name).join(", ")}); exit ${r.exit}`
    : `all good${warnings.length ? `, ${warnings.length} warning${warnings.length > 1 ? "s" : ""}` : ""}`;
  return `clawlink doctor ${r.version}\n\n${settings.trimEnd()}\n\n${checks.join("\n")}\n\n${verdict}`;
}

export default Object.assign(
  defineCommand({
    meta: {
      name: "doctor",
      description:
        "Check this client's setup against its relay and say how to fix each problem: settings and where each came from, relay reachable, TLS trust, versions, clock skew, token, saved identity. Exits with the code of the first failure (2 config file, token file or saved identity file, 3 relay, 4 token, 5 identity)",
    },
    args: { ...globalArgs },
    async run({ args }) {
      const json = Boolean(args.json);
      try {
        const report = await diagnose(flagsOf(args));
        print(json ? JSON.stringify(report) : render(report));
        process.exitCode = report.exit;
      } catch (err) {
        process.exitCode = reportError(err, json);
      }
    },
  }),
  { examples: ["clawlink doctor", "clawlink doctor --json", "clawlink doctor --relay https://relay.example:9077 --ca ca.pem"] },
);
