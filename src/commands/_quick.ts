/**
 * `clawlink discover` (`--json`, `--all`) in its plain case, answered by the CLI's entry without loading the command:
 * loading the command, the client and the settings costs a one-shot command more page faults than its
 * request does (about 100, 3 ms on a small VM). The plain case is the home's default identity, acting on
 * its own http relay (or CLAWLINK_RELAY's, of its team), with no config.json or config.toml, no CLAWLINK_
 * variable but CLAWLINK_HOME, CLAWLINK_RELAY and CLAWLINK_TOKEN, and an answer that is a list of agents. Anything else runs the command as usual, which resolves
 * the same settings, and takes the request already sent (`client/early.ts`) rather than sending it again.
 */
import { agentListOf } from "../client/answers";
import { sendEarly } from "../client/early";
import { clientHome, joinPath, pathExists, readTextFile } from "../local-files";
import { print } from "../output";
import { DEFAULT_RELAY, identityOf, isAgentName, normalizeRelayList, sameTeam } from "../quick-checks";

/** Prints the answer and returns true, or returns false and leaves the command to run. */
export async function quickDiscover(argv: string[]): Promise<boolean> {
  let json = false;
  let all = false;
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === "--json") json = true;
    else if (argv[i] === "--all") all = true;
    else return false;
  }
  const plain = plainSettings();
  if (!plain) return false;
  const early = sendEarly("GET", `${plain.relay}/v1/agents${all ? "?all=true" : ""}`, { authorization: `Bearer ${plain.secret}` });
  let res: Response;
  try {
    res = await early.outcome;
  } catch {
    return false;
  }
  if (!res.ok) return false;
  // Read as text, so that an answer refused here is handed to the command as it came.
  let text = "";
  try {
    text = await res.text();
  } catch {}
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {}
  const list = agentListOf(raw);
  if (!list) {
    early.outcome = Promise.resolve(new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers }));
    return false;
  }
  if (json) print(JSON.stringify(list.agents));
  else {
    // As the command's `ctx.out` prints a table: loaded only for a person's output.
    const { printable, renderAgents } = await import("../client/render");
    print(printable(renderAgents(list.agents)));
  }
  return true;
}

/**
 * The saved identity's secret and the relay to ask, resolved as settings.ts resolves them, when they are
 * the plain case; otherwise undefined. Read in settings.ts's order: config.json, the default identity, config.toml.
 */
function plainSettings(): { secret: string; relay: string } | undefined {
  const env = process.env;
  // Any other CLAWLINK_ variable (CLAWLINK_AS, CLAWLINK_CA, one settings.ts comes to read) is the command's to follow.
  for (const key in env) if (key.startsWith("CLAWLINK_") && key !== "CLAWLINK_HOME" && key !== "CLAWLINK_RELAY" && key !== "CLAWLINK_TOKEN") return undefined;
  try {
    const home = clientHome(env);
    if (readTextFile(joinPath(home, "config.json")) !== undefined) return undefined;
    const name = readTextFile(joinPath(home, "default"))?.trim() ?? "";
    if (!isAgentName(name)) return undefined;
    const text = readTextFile(joinPath(joinPath(home, "identities"), `${name}.json`));
    const identity = text === undefined ? undefined : identityOf(JSON.parse(text));
    // An empty secret is sent as no credential at all, and a CA is read even for an http relay: the command's way.
    if (!identity || !identity.secret || identity.ca) return undefined;
    const relay = normalizeRelayList(env.CLAWLINK_RELAY || identity.relay || DEFAULT_RELAY);
    // A relay of another team lists without the identity, and warns.
    if (!relay.startsWith("http:") || relay.includes(",") || !sameTeam(identity.relay, relay) || pathExists(joinPath(home, "config.toml"))) return undefined;
    return { secret: identity.secret, relay };
  } catch {
    return undefined;
  }
}
