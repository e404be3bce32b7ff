/**
 * Why a Redis server could not be used at start. Bun's client reports every failure to connect as
 * "Connection closed", so the relay asks the server itself, over a plain socket: nothing listening,
 * no answer, or the server's own refusal of the password (NOAUTH, WRONGPASS).
 */
import { redactUrl } from "./connection";

export interface Diagnosis {
  message: string;
  hint: string;
}

const PASSWORD_HINT = "put the password in the URL: --redis redis://:PASSWORD@host:6379 (or redis://USER:PASSWORD@host:6379 for an ACL user)";

/** RESP's encoding of one command. */
const command = (...parts: string[]) => `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join("")}`;

/** The server's first reply line to AUTH (with the URL's password) or PING, or the socket error's code. */
function ask(url: URL, timeoutMs: number): Promise<{ line?: string; code?: string }> {
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  const request = password ? command("AUTH", ...(user ? [user] : []), password) : command("PING");
  return new Promise((resolve) => {
    let text = "";
    const timer = setTimeout(() => done({ code: "ETIMEDOUT" }), timeoutMs);
    let socket: { end(): void } | undefined;
    let settled = false;
    // Ending the socket calls `close` at once: the first outcome must be the one kept.
    const done = (r: { line?: string; code?: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
      socket?.end();
    };
    Bun.connect({
      hostname: url.hostname.replace(/^\[|\]$/g, ""),
      port: Number(url.port || 6379),
      ...(url.protocol === "rediss:" ? { tls: true } : {}),
      socket: {
        open(s) {
          s.write(request);
        },
        data(_s, chunk) {
          text += chunk.toString();
          const end = text.indexOf("\r\n");
          if (end >= 0) done({ line: text.slice(0, end) });
        },
        close() {
          done({ code: "ECONNRESET" });
        },
        error(_s, err) {
          done({ code: (err as { code?: string }).code ?? err.message });
        },
        connectError(_s, err) {
          done({ code: (err as { code?: string }).code ?? err.message });
        },
      },
    })
      .then((s) => {
        socket = s;
      })
      .catch((err: { code?: string; message?: string }) => done({ code: err.code ?? err.message }));
  });
}

/** What went wrong with the server at `raw`, when it can be told; undefined when it answers as it should. */
export async function diagnose(raw: string, timeoutMs = 3000): Promise<Diagnosis | undefined> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  const where = `${url.hostname}:${url.port || 6379}`;
  const { line, code } = await ask(url, timeoutMs);
  if (code === "ECONNREFUSED") return { message: `nothing listens at ${where} (ECONNREFUSED)`, hint: "start redis-server (or Valkey) there, or fix the host and port in --redis" };
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return { message: `the host ${url.hostname} cannot be resolved (${code})`, hint: "check the host name in --redis" };
  if (code === "ETIMEDOUT") return { message: `${where} did not answer within ${timeoutMs / 1000} s`, hint: "check that Redis runs there and that no firewall drops the connection" };
  if (line === undefined) return code ? { message: `the connection to ${where} failed (${code})`, hint: url.protocol === "rediss:" ? "check that the server speaks TLS on that port" : "if the server expects TLS, use rediss://" } : undefined;
  if (/^-NOAUTH/.test(line)) return { message: `Redis at ${where} asks for a password, and ${redactUrl(raw)} gives none (NOAUTH)`, hint: PASSWORD_HINT };
  if (/^-(WRONGPASS|ERR invalid (username-)?password|ERR AUTH)/.test(line)) return { message: `Redis at ${where} refused the password (${line.slice(1).split(" ")[0]})`, hint: `check the password; ${PASSWORD_HINT}` };
  if (line.startsWith("-")) return { message: `Redis at ${where} answered: ${line.slice(1)}`, hint: "check the URL given to --redis" };
  return undefined;
}
