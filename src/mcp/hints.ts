/**
 * What a tool error tells the model to do next, in tool terms. The relay's and the CLI's hints name
 * commands and flags (`clawlink file-get --key …`, `--merge`), which a model in a harness without a
 * shell cannot use; the message stays the same, the hint is said again here, by error code.
 */
import type { ClawlinkError } from "../errors";

/** The call that failed: the tool, the arguments it was given, and the name the server was started --as. */
export interface Failed {
  tool: string;
  args: Record<string, unknown>;
  as?: string;
}

type Rule = (e: ClawlinkError, call: Failed) => string | undefined;

/** The first whole number after `before` in the message. */
const numberAfter = (e: ClawlinkError, before: string) => e.message.match(new RegExp(`${before} (\\d+)`))?.[1];
const taskIn = (e: ClawlinkError) => e.message.match(/\btask (t_\w+)/)?.[1];

/** The server's configuration is the user's to fix: the MCP client passes it in the server's env. */
const CONFIG = "this MCP server's env in the client's config";
const TOKEN = `the relay wants its token: ask the user to set CLAWLINK_TOKEN in ${CONFIG} and restart the server, then call register`;
const RELAY = `ask the user to start a relay or to set CLAWLINK_RELAY in ${CONFIG}, then restart the server; whoami shows the relay in use`;
const STILL_RUNNING = (e: ClawlinkError) => `the task keeps running: call wait_task with id ${taskIn(e) ?? "ID"} to wait again, or task_status to see where it is`;

const RULES: Record<string, Rule> = {
  // Who you are, and the relay.
  no_identity: (e, c) =>
    /was registered with/.test(e.message)
      ? `call register to join this relay, or ask the user to fix CLAWLINK_RELAY in ${CONFIG} (an identity remembers its relay)`
      : c.as
        ? `call register with your capabilities (its name defaults to ${c.as}); this server then acts as that agent`
        : "call register with a name and your capabilities; this server then acts as that agent",
  not_registered: () => "call register with your name to join again (the relay restarted or forgot you); your saved identity is reused when the relay can take it back",
  unrecognized_identity: () => "call register with the same name: you join afresh under a new id, and peers reach you by name",
  unauthorized: (e) => (/token/.test(e.message) ? TOKEN : undefined),
  too_many_auth_failures: () => `ask the user to check CLAWLINK_TOKEN in ${CONFIG}; retry after a minute`,
  too_many_registrations: () => "wait the seconds the message says, then call register again",
  too_many_agents: () => "the relay is full: ask whoever runs it to unregister agents that are gone, or to raise its limit",
  name_taken: () => "call register with another name, or ask the user to unregister that agent first",
  name_reclaimed: () => "call register with another name: the agent that held this name before the relay restarted took it back",
  unreachable: () => RELAY,
  tls: () => `ask the user to set CLAWLINK_CA (the relay's private CA) or fix CLAWLINK_RELAY in ${CONFIG}, then restart the server`,
  redirect: () => `ask the user for the relay's own URL and to set it as CLAWLINK_RELAY in ${CONFIG}`,
  bad_response: () => `ask the user to check CLAWLINK_RELAY in ${CONFIG}: it must be a clawlink relay of this version`,
  http_error: () => `ask the user to check CLAWLINK_RELAY in ${CONFIG}: it must be a clawlink relay`,
  insufficient_storage: () => "nothing was kept: retry later, and tell the user the relay's disk is full",
  store_unavailable: () => "nothing was kept: retry in a few seconds; if it persists, tell the user the relay cannot reach its store (its Redis, or its data file)",
  forbidden: (e, c) => {
    if (c.tool === "respond" || c.tool === "progress") return "answer only tasks from your own inbox; task_status shows who holds a task";
    if (c.tool === "cancel") return "only its sender can cancel a task; if you hold it and cannot do it, respond with status: failed";
    if (c.tool === "register") return /token/.test(e.message + (e.hint ?? "")) ? `call register with another name, or ask the user to set CLAWLINK_TOKEN in ${CONFIG}` : undefined;
    return undefined;
  },

  // Agents and tasks.
  unknown_agent: () => "call discover (all: true also lists agents not seen lately) for the names and ids",
  no_capable_agent: () => "call discover to see the capabilities online, or call delegate again with queue: true to keep the task until an agent with it registers",
  unknown_task: (_, c) =>
    c.tool === "respond"
      ? "use the id of a task from your inbox; to reply to a message that is not a task, also give to (its sender)"
      : c.tool === "progress"
        ? "use the id of a task you hold, from your inbox"
        : "use an id that delegate or inbox gave you",
  task_not_delivered: () => "call inbox to receive it first",
  task_reassigned: () => "drop your work on it: the task went to another agent when you went offline, and its sender gets that agent's answer",
  timeout: STILL_RUNNING,
  aborted: (e) => (/waiting for task/.test(e.message) ? STILL_RUNNING(e) : undefined),
  task_lost: () => "the relay restarted and lost the task: call delegate again",
  queue_full: () => "retry in a moment, or delegate to another agent (discover lists them)",

  // Shared files.
  version_conflict: (e, c) => {
    const latest = numberAfter(e, "(?:is at|latest is|already exists:) version");
    if (/does not exist/.test(e.message)) return "to create it, call file_put with if_version: 0 (or without if_version)";
    if (/already exists/.test(e.message)) return `to replace it, call file_put with if_version: ${latest}; to keep both, use another key`;
    const reread = `call file_get, redo your edit on version ${latest}, then file_put with if_version: ${latest}`;
    if (/has no version/.test(e.message)) return reread;
    const mine = typeof c.args.if_version === "number" ? c.args.if_version : numberAfter(e, "not version");
    if (Number(mine) > Number(latest)) return `version ${mine} was never written: ${reread}`;
    return `${reread}; or, for text, call file_put again with merge: true (if_version stays ${mine}) to merge your edit with the changes since`;
  },
  merge_conflict: (e) => {
    const latest = numberAfter(e, "overlaps changes in version");
    return `call file_get for version ${latest}, settle the conflicting lines above on it, then file_put with if_version: ${latest}`;
  },
  not_mergeable: () => "call file_get for the latest version, redo your edit on it, then file_put with if_version set to the version file_get gave you",
  file_locked: (e) => `wait until the lease ends (the message says when), or ask ${e.message.match(/is locked by (.+?) until/)?.[1] ?? "its holder"} to call file_unlock`,
  unknown_file: (e) => (/was deleted/.test(e.message) ? "call file_put to create it again" : "call file_list to see the keys"),
  unknown_version: () => "call file_history to see the versions kept",
  not_locked: () => "file_list shows who holds leases",
  storage_full: () => "the shared files are at the relay's limit: ask whoever runs the relay to delete files no longer needed, or to raise the limit",
  too_large: () => "send less: split the text or the file into parts",
  sha256_mismatch: () => "call the tool again; if it keeps failing, tell the user the network path to the relay corrupts data",
};

/** A hint written for a shell: a `clawlink` command, a --flag, or a backquoted command line. */
const speaksShell = (hint: string) => /`|\bclawlink [a-z]|(^|[\s(])--[a-z]/.test(hint);

/** The hint a tool error carries: the rule for its code, else its own hint when a model can follow it, else one that fits the tool. */
export function toolHint(e: ClawlinkError, call: Failed): string {
  const ruled = RULES[e.code]?.(e, call);
  if (ruled) return ruled;
  if (e.hint && !speaksShell(e.hint)) return e.hint;
  if (e.code === "usage" || e.code === "bad_request") return `fix the arguments; tools/list shows what ${call.tool} takes`;
  return "whoami shows your identity and whether the relay answers";
}
