/** A relay serving HTTPS and WSS with a certificate from a private CA made here with openssl, used through the CLI. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import tls from "node:tls";
import { join } from "node:path";
import { trustedCAs } from "../../src/client/trust";
import { cleanup, CliProcess, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

/** A CA, and a certificate it signed for 127.0.0.1 and localhost: what an operator would make for a private relay. */
async function makeCertificates(dir: string) {
  const openssl = async (...args: string[]) => {
    const proc = Bun.spawn(["openssl", ...args], { cwd: dir, stdout: "ignore", stderr: "pipe" });
    const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`openssl ${args[0]} failed: ${err}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ClawLink Test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  await openssl("req", "-new", ...ec, "-keyout", "relay.key", "-out", "relay.csr", "-subj", "/CN=localhost");
  writeFileSync(join(dir, "relay.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  await openssl("x509", "-req", "-in", "relay.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "relay.pem", "-days", "2", "-extfile", "relay.ext");
  return { ca: join(dir, "ca.pem"), cert: join(dir, "relay.pem"), key: join(dir, "relay.key") };
}

describe("TLS: two agents through an https relay with a private CA", () => {
  const dir = tempHome();
  let pem: { ca: string; cert: string; key: string };
  let url = "";
  const alice = tempHome();
  const bob = tempHome();

  beforeAll(async () => {
    pem = await makeCertificates(dir);
    const started = await spawnRelay(["--tls-cert", pem.cert, "--tls-key", pem.key]);
    url = started.url;
    await started.relay.waitFor(/listening with TLS/);
  });

  test("the relay prints an https:// URL", () => {
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  test("register trusts the CA from --ca or CLAWLINK_CA, and the identity remembers it", async () => {
    const a = await runCli(["register", "--name", "alice", "--ca", pem.ca, "--json"], { home: alice, relay: url });
    expect(a.code).toBe(0);
    expect(JSON.parse(readFileSync(join(alice, "identities", "alice.json"), "utf8"))).toMatchObject({ relay: url, ca: pem.ca });
    const b = await runCli(["register", "--name", "bob", "--json"], { home: bob, relay: url, env: { CLAWLINK_CA: pem.ca } });
    expect(b.code).toBe(0);
  });

  test("delegate --wait and listen --respond work over HTTPS and WSS, with no flags after registering", async () => {
    const listener = new CliProcess(["listen", "--exec", "echo reviewed over tls", "--respond"], { home: bob });
    await listener.waitFor(/listening as bob/);
    const d = await runCli(["delegate", "--to", "bob", "--task", "review the TLS setup", "--wait", "--timeout", "20", "--json"], { home: alice });
    expect(d.code).toBe(0);
    expect(d.json).toMatchObject({ type: "response", status: "completed", result: "reviewed over tls" });
    await listener.stop();
  });

  test("without the CA the client refuses the relay, says why, and exits 3", async () => {
    const r = await runCli(["discover"], { home: tempHome(), relay: url });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`error: the relay at ${url} presented a certificate this client does not trust`);
    expect(r.stderr).toContain("hint: if a private CA signed it, pass --ca CA.pem (or set CLAWLINK_CA)");
  });

  test("doctor explains TLS trust: without the CA the fix names --ca (exit 3); with it the certificate is trusted", async () => {
    const without = await runCli(["doctor", "--json"], { home: tempHome(), relay: url });
    expect(without.code).toBe(3);
    const tlsCheck = without.json.checks.find((c: any) => c.name === "tls");
    expect(tlsCheck).toMatchObject({ status: "fail", exit: 3, fix: "if a private CA signed it, pass --ca CA.pem (or set CLAWLINK_CA)" });
    const withCa = await runCli(["doctor", "--json"], { home: alice });
    expect(withCa.code).toBe(0);
    expect(withCa.json.checks.find((c: any) => c.name === "tls")).toMatchObject({ status: "ok", message: `the relay's certificate is trusted (system CAs and ${pem.ca})` });
    expect(withCa.json.settings.find((s: any) => s.name === "CLAWLINK_CA")).toMatchObject({ value: pem.ca, source: "identity", from: "identity alice" });
  });

  test("http:// to a TLS relay is explained, and exits 3", async () => {
    const r = await runCli(["discover"], { home: tempHome(), relay: url.replace("https:", "http:") });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("hint: if the relay was started with --tls-cert, use an https:// URL");
  });

  test("a --ca that is missing or not a certificate is a usage error (exit 2)", async () => {
    const missing = await runCli(["discover", "--ca", join(dir, "nope.pem")], { home: tempHome(), relay: url });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`error: --ca: no such file: ${join(dir, "nope.pem")}`);
    const key = await runCli(["discover"], { home: tempHome(), relay: url, env: { CLAWLINK_CA: pem.key } });
    expect(key.code).toBe(2);
    expect(key.stderr).toContain(`error: CLAWLINK_CA: ${pem.key} holds no PEM certificate`);
  });

  test("the relay refuses half a TLS configuration, or files that are not PEM, with exit 2", async () => {
    const half = await runCli(["relay", "--port", "0", "--tls-cert", pem.cert]);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain("--tls-cert and --tls-key go together");
    const swapped = await runCli(["relay", "--port", "0", "--tls-cert", pem.key, "--tls-key", pem.cert]);
    expect(swapped.code).toBe(2);
    expect(swapped.stderr).toContain(`--tls-cert: ${pem.key} holds no PEM certificate`);
  });

  test("https relays trust the bundled and the system CAs as well as the private one", () => {
    const trusted = new Set(trustedCAs(readFileSync(pem.ca, "utf8")));
    for (const cert of tls.getCACertificates("system")) expect(trusted.has(cert)).toBe(true);
    for (const cert of tls.getCACertificates("bundled")) expect(trusted.has(cert)).toBe(true);
    expect(trusted.has(readFileSync(pem.ca, "utf8"))).toBe(true);
  });

  test("NODE_TLS_REJECT_UNAUTHORIZED=0 is warned about on stderr; --json output stays clean", async () => {
    const r = await runCli(["discover", "--json"], { home: tempHome(), relay: url, env: { NODE_TLS_REJECT_UNAUTHORIZED: "0" } });
    expect(r.stderr).toContain(`warning: NODE_TLS_REJECT_UNAUTHORIZED=0 turns off certificate checks: anyone between you and ${url} can read and change what you send`);
    expect(r.stderr).toContain("hint: unset it; for a relay with a private CA pass --ca CA.pem");
    expect(r.code).toBe(0);
    expect(Array.isArray(r.json)).toBe(true);
    const plain = await runCli(["discover", "--json"], { home: tempHome(), relay: url, env: { CLAWLINK_CA: pem.ca } });
    expect(plain.stderr).not.toContain("NODE_TLS_REJECT_UNAUTHORIZED");
  });

  test("a redirect is never followed: one that leaves https is named as such, and nothing reaches its target (exit 3)", async () => {
    const seen: string[] = [];
    const target = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => (seen.push(`${req.method} ${new URL(req.url).pathname} ${req.headers.get("authorization")}`), Response.json({})) });
    const plainUrl = `http://127.0.0.1:${target.port}`;
    const redirector = (tlsFiles?: { cert: string; key: string }) =>
      Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        ...(tlsFiles ? { tls: tlsFiles } : {}),
        fetch: (req) => new Response(null, { status: 307, headers: { location: plainUrl + new URL(req.url).pathname } }),
      });
    const secure = redirector({ cert: readFileSync(pem.cert, "utf8"), key: readFileSync(pem.key, "utf8") });
    const plain = redirector();
    try {
      const viaHttps = `https://127.0.0.1:${secure.port}`;
      const r = await runCli(["register", "--name", "carol", "--ca", pem.ca, "--token", "tok"], { home: tempHome(), relay: viaHttps });
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`error: the relay at ${viaHttps} redirects to ${plainUrl}/v1/agents, which leaves https; clawlink does not follow it`);
      expect(r.stderr).toContain("hint: following it would send the token, your secret and your tasks in clear text");
      const viaHttp = `http://127.0.0.1:${plain.port}`;
      const p = await runCli(["discover", "--token", "tok", "--json"], { home: tempHome(), relay: viaHttp });
      expect(p.code).toBe(3);
      expect(p.json.error).toMatchObject({ code: "redirect", message: `the relay at ${viaHttp} answered 307, redirecting to ${plainUrl}/v1/agents; clawlink does not follow redirects` });
      expect(p.json.error.hint).toBe(`if ${plainUrl} is the relay, pass --relay ${plainUrl} (or set CLAWLINK_RELAY)`);
      expect(seen).toEqual([]);
    } finally {
      for (const s of [target, secure, plain]) s.stop(true);
    }
  });
});

describe("a certificate clients will refuse", () => {
  /** A certificate signed with `openssl ca`, which can backdate: `req -x509` cannot make one that has already expired. */
  async function makeCertificate(dir: string, key: string[], dates: string[]) {
    const openssl = async (...args: string[]) => {
      const proc = Bun.spawn(["openssl", ...args], { cwd: dir, stdout: "ignore", stderr: "pipe" });
      const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      if (code !== 0) throw new Error(`openssl ${args[0]} failed: ${err}`);
    };
    writeFileSync(join(dir, "index.txt"), "");
    writeFileSync(join(dir, "serial"), "01\n");
    writeFileSync(join(dir, "ca.cnf"), "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = p\ndefault_days = 2\n[p]\ncommonName = supplied\n");
    await openssl("req", "-new", "-newkey", ...key, "-nodes", "-keyout", "relay.key", "-out", "relay.csr", "-subj", "/CN=localhost");
    await openssl("ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", "relay.key", "-in", "relay.csr", "-out", "relay.pem", ...dates);
    return { cert: join(dir, "relay.pem"), key: join(dir, "relay.key") };
  }

  test("an expired certificate is served with a warning at start", async () => {
    const pem = await makeCertificate(tempHome(), ["rsa:2048"], ["-startdate", "20200101000000Z", "-enddate", "20200102000000Z"]);
    const { relay } = await spawnRelay(["--tls-cert", pem.cert, "--tls-key", pem.key]);
    await relay.waitFor(/the certificate in --tls-cert expired on 2020-01-02T00:00:00\.000Z: clients will refuse it; make a new one/);
  });

  test("doctor says an expired or not-yet-valid certificate is that, not a missing --ca", async () => {
    for (const [dates, code, message] of [
      [["-startdate", "20200101000000Z", "-enddate", "20200102000000Z"], "CERT_HAS_EXPIRED", "has expired"],
      [["-startdate", "20990101000000Z", "-enddate", "20990102000000Z"], "CERT_NOT_YET_VALID", "is not valid yet"],
    ] as const) {
      const pem = await makeCertificate(tempHome(), ["rsa:2048"], [...dates]);
      const { relay, url } = await spawnRelay(["--tls-cert", pem.cert, "--tls-key", pem.key]);
      await relay.waitFor(/listening with TLS/);
      const r = await runCli(["doctor", "--json", "--ca", pem.cert], { home: tempHome(), relay: url });
      expect(r.code).toBe(3);
      const tlsCheck = r.json.checks.find((c: any) => c.name === "tls");
      expect(tlsCheck).toMatchObject({ status: "fail", message: `the relay at ${url} presented a certificate that ${message} (${code})` });
      expect(tlsCheck.fix).toContain("clock");
      expect(tlsCheck.fix).not.toContain("--ca");
      await relay.stop();
    }
  });

  test("doctor says a certificate another CA signed is that, when --ca is already in use", async () => {
    const pem = await makeCertificates(tempHome());
    const stranger = await makeCertificates(tempHome());
    const { relay, url } = await spawnRelay(["--tls-cert", pem.cert, "--tls-key", pem.key]);
    await relay.waitFor(/listening with TLS/);
    const r = await runCli(["doctor", "--json", "--ca", stranger.ca], { home: tempHome(), relay: url });
    expect(r.code).toBe(3);
    const tlsCheck = r.json.checks.find((c: any) => c.name === "tls");
    expect(tlsCheck.message).toStartWith(`the relay at ${url} presented a certificate that the CA in use did not sign (`);
    expect(tlsCheck.fix).toContain("signed by another CA");
    await relay.stop();
  });

  test("a 1024-bit RSA key is served with a warning at start", async () => {
    const pem = await makeCertificate(tempHome(), ["rsa:1024"], []);
    const { relay } = await spawnRelay(["--tls-cert", pem.cert, "--tls-key", pem.key]);
    await relay.waitFor(/the certificate in --tls-cert has a 1024-bit RSA key, too weak to trust; make one with at least 2048 bits/);
    expect(relay.stdout + relay.stderr).not.toContain("expired");
  });
});
