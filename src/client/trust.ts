/** Which certificates the client trusts for an https:// relay, and how TLS failures are explained. */
import { ClawlinkError } from "../errors";
import { nodeFs } from "../local-files";
import { printError } from "../output";

/** Reads a private CA for `--ca` / CLAWLINK_CA. */
export function readCa(path: string, flag: string): string {
  const { existsSync, readFileSync } = nodeFs();
  if (!existsSync(path)) throw new ClawlinkError("usage", `${flag}: no such file: ${path}`, "pass the PEM file of the CA that signed the relay's certificate");
  const text = readFileSync(path, "utf8");
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ClawlinkError("usage", `${flag}: ${path} holds no PEM certificate`, 'expected a "-----BEGIN CERTIFICATE-----" block');
  }
  return text;
}

/**
 * Bun trusts its bundled Mozilla roots unless told otherwise, and a `ca` option replaces them:
 * so the list is the defaults, the operating system's store, and the private CA if one is given.
 */
export function trustedCAs(privateCa?: string): string[] {
  // Required here, not imported: only https relays need it, and loading it slows every command's start.
  const tls = require("node:tls") as typeof import("node:tls");
  const all = new Set<string>();
  for (const kind of ["default", "system"] as const) {
    try {
      for (const cert of tls.getCACertificates(kind)) all.add(cert);
    } catch {
      // A platform without a readable system store still has the bundled roots.
    }
  }
  if (privateCa) all.add(privateCa);
  return [...all];
}

let warned = false;

/** NODE_TLS_REJECT_UNAUTHORIZED=0 turns off every certificate check, silently: say so, once. */
export function warnIfUnverified(relay: string) {
  if (warned || process.env.NODE_TLS_REJECT_UNAUTHORIZED !== "0") return;
  warned = true;
  printError(
    `warning: NODE_TLS_REJECT_UNAUTHORIZED=0 turns off certificate checks: anyone between you and ${relay} can read and change what you send, token and secret included\n` +
      "hint: unset it; for a relay with a private CA pass --ca CA.pem (or set CLAWLINK_CA)",
  );
}

/** A connection failure explained in TLS terms, or undefined when it was not about TLS. */
export function tlsProblem(relay: string, cause: unknown, privateCa = false): ClawlinkError | undefined {
  const code = String((cause as { code?: unknown } | undefined)?.code ?? "");
  const https = relay.startsWith("https:");
  // Trust is not the problem with these: passing --ca again would not help.
  if (https && code === "CERT_HAS_EXPIRED") {
    return new ClawlinkError("tls", `the relay at ${relay} presented a certificate that has expired (${code})`, "check this machine's clock; if it is right, whoever runs the relay must make a new certificate");
  }
  if (https && code === "CERT_NOT_YET_VALID") {
    return new ClawlinkError("tls", `the relay at ${relay} presented a certificate that is not valid yet (${code})`, "check the clock on this machine and on the one that made the certificate (Linux: `timedatectl set-ntp true`)");
  }
  if (https && privateCa && /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code)) {
    return new ClawlinkError(
      "tls",
      `the relay at ${relay} presented a certificate that the CA in use did not sign (${code})`,
      "the certificate was signed by another CA: pass the CA that signed the relay's certificate as --ca (or CLAWLINK_CA, or ca in the config file)",
    );
  }
  if (https && code === "EPROTO") {
    return new ClawlinkError("tls", `the relay at ${relay} does not speak TLS (${code})`, "use an http:// URL, or start the relay with --tls-cert and --tls-key");
  }
  if (https && /ALTNAME/.test(code)) {
    return new ClawlinkError("tls", `the relay's certificate does not name the host in ${relay} (${code})`, "connect with a host name or address the certificate lists (check --relay)");
  }
  if (https && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code)) {
    return new ClawlinkError(
      "tls",
      `the relay at ${relay} presented a certificate this client does not trust (${code})`,
      "if a private CA signed it, pass --ca CA.pem (or set CLAWLINK_CA)",
    );
  }
  if (!https && code === "ECONNRESET") {
    return new ClawlinkError("unreachable", `the relay at ${relay} closed the connection (${code})`, "if the relay was started with --tls-cert, use an https:// URL");
  }
  return undefined;
}
