/** The relay's TLS material: a certificate chain and its private key, read from PEM files. */
import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { ClawlinkError } from "../errors";

export interface TlsFiles {
  cert: string;
  key: string;
}

const usage = (message: string, hint: string) => new ClawlinkError("usage", message, hint);

function readPem(path: string, flag: string, kind: RegExp, what: string): string {
  if (!existsSync(path)) throw usage(`${flag}: no such file: ${path}`, "pass the path of a PEM file");
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw usage(`${flag}: cannot read ${path}: ${(err as Error).message}`, "check the file's permissions");
  }
  if (!kind.test(text)) throw usage(`${flag}: ${path} holds no PEM ${what}`, `expected a "-----BEGIN ${what.toUpperCase()}-----" block`);
  return text;
}

/** Reads `--tls-cert` and `--tls-key`; both or neither. */
export function loadTls(certPath: string | undefined, keyPath: string | undefined): TlsFiles | undefined {
  if (!certPath && !keyPath) return undefined;
  if (!certPath || !keyPath) {
    throw usage("--tls-cert and --tls-key go together", "pass the certificate chain (--tls-cert cert.pem) and its private key (--tls-key key.pem)");
  }
  return {
    cert: readPem(certPath, "--tls-cert", /-----BEGIN CERTIFICATE-----/, "certificate"),
    key: readPem(keyPath, "--tls-key", /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/, "private key"),
  };
}

/** What is wrong with the relay's own certificate (the first of the chain): clients will refuse it, or should. */
export function certificateWarnings(chain: string, now = Date.now()): string[] {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(chain);
  } catch (err) {
    return [`--tls-cert cannot be read as a certificate (${(err as Error).message}); clients will refuse the connection`];
  }
  const out: string[] = [];
  if (cert.validToDate.getTime() < now) out.push(`the certificate in --tls-cert expired on ${cert.validToDate.toISOString()}: clients will refuse it; make a new one`);
  if (cert.validFromDate.getTime() > now) out.push(`the certificate in --tls-cert is not valid before ${cert.validFromDate.toISOString()}: clients will refuse it until then`);
  const key = cert.publicKey;
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if ((key.asymmetricKeyType === "rsa" || key.asymmetricKeyType === "rsa-pss" || key.asymmetricKeyType === "dsa") && bits !== undefined && bits < 2048) {
    out.push(`the certificate in --tls-cert has a ${bits}-bit ${key.asymmetricKeyType.toUpperCase()} key, too weak to trust; make one with at least 2048 bits (or an EC key)`);
  }
  return out;
}
