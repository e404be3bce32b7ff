/** Why a request reached no relay, or a relay that is not at its URL: the errors that say what to do next. */
import { ClawlinkError } from "../errors";
import { tlsProblem } from "./trust";

/** A reset this long after the request went out came from a relay that took it: not a TLS relay refusing plain HTTP, which resets at once. */
const LATE_RESET_MS = 2000;

/** `list`: the whole relay list, when every relay of it was tried; `afterMs`: how long after the request went out it failed. */
export function unreachable(relay: string, cause?: unknown, from?: string, privateCa = false, list?: string, afterMs = 0): ClawlinkError {
  const code = (cause as { code?: string } | undefined)?.code;
  if (code === "ECONNRESET" && afterMs >= LATE_RESET_MS) {
    return new ClawlinkError(
      "unreachable",
      `the relay at ${relay} took the request, then closed the connection after ${(afterMs / 1000).toFixed(1)} s (${code})`,
      "the relay stopped or could not answer in time: retry in a few seconds, and if it goes on, whoever runs it should look at its log",
    );
  }
  const tls = tlsProblem(relay, cause, privateCa);
  if (tls) return tls;
  const detail = code ? ` (${code})` : "";
  // An identity's relays change by registering it again with a new list: it keeps its id on any relay of its team.
  const name = from?.startsWith("identity ") ? from.slice("identity ".length) : undefined;
  const several = list !== undefined && list.includes(",");
  const start = several ? "start its relays (`clawlink relay --redis URL --port PORT` for each)" : `start the relay there with \`${startCommand(relay)}\``;
  return new ClawlinkError(
    "unreachable",
    several ? `none of the relays of the list ${list} is reachable (the last tried: ${relay}${detail})` : `the relay is not reachable at ${relay}${detail}`,
    name
      ? `the URL comes from identity ${name}: ${start}, or add running relays of its team to ${name}'s list: \`clawlink register --name ${name} --relay ${list ?? relay},URL\` (naming one of its own relays keeps its id)`
      : from && from !== "default"
        ? `the URL comes from ${from}: ${start}, or change ${from} to a running one`
        : "start one with `clawlink relay`, or point at a running one with --relay URL or CLAWLINK_RELAY",
  );
}

/** The command that starts a relay at this URL: plain `clawlink relay` listens on 127.0.0.1:9077 only. */
export function startCommand(relay: string): string {
  let url: URL;
  try {
    url = new URL(relay);
  } catch {
    return "clawlink relay";
  }
  const tls = url.protocol === "https:";
  const port = url.port || (tls ? "443" : "80");
  // Anything but loopback needs a bind beyond it, and then a token.
  const network = /^(127\.|localhost$|\[::1\]$)/.test(url.hostname) ? "" : " --host 0.0.0.0 --token-file relay.token";
  return `clawlink relay${network}${port === "9077" ? "" : ` --port ${port}`}${tls ? " --tls-cert CERT.pem --tls-key KEY.pem" : ""}`;
}

/** A 3xx: the relay is not at this URL, and the client will not go where it points. */
export function redirected(relay: string, url: string, res: Response): ClawlinkError {
  const location = res.headers.get("location");
  let target: URL | undefined;
  try {
    if (location) target = new URL(location, url);
  } catch {}
  const where = target ? `to ${target.href}` : "without saying where";
  if (relay.startsWith("https:") && target && target.protocol !== "https:") {
    return new ClawlinkError(
      "redirect",
      `the relay at ${relay} redirects ${where}, which leaves https; clawlink does not follow it`,
      "following it would send the token, your secret and your tasks in clear text: check --relay (or CLAWLINK_RELAY) with whoever runs the relay",
    );
  }
  return new ClawlinkError(
    "redirect",
    `the relay at ${relay} answered ${res.status}, redirecting ${where}; clawlink does not follow redirects`,
    target ? `if ${target.origin} is the relay, pass --relay ${target.origin} (or set CLAWLINK_RELAY)` : "check --relay (or CLAWLINK_RELAY): it should be the relay's own URL",
  );
}
