/** Human output: tables and one-paragraph message summaries. */
import { shellArg } from "../errors";
import type { Client } from "./client";
import type { Status } from "./session";
import type { Agent, FileInfo, FileVersion, Message, Task } from "../protocol/schemas";

/**
 * C0 and C1 controls (but tab, newline, and CR before a newline), every bidi control (marks U+061C, U+200E,
 * U+200F; embeddings, overrides and isolates), and the line and paragraph separators U+2028 and U+2029.
 */
const CONTROLS = /\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROLS_ONE_LINE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const visible = (c: string) => {
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
};

/**
 * Text from the relay as a terminal shows it without obeying it: an escape sequence in a task
 * (OSC 52 writes the clipboard), a lone CR or a bidi override is printed as `\x1b`, `\x0d`, `\u202e`.
 * Every piece of human output that carries relay-supplied text goes through here; --json does not.
 */
export function printable(text: string, oneLine = false): string {
  return text.replace(oneLine ? CONTROLS_ONE_LINE : CONTROLS, visible);
}

/** Left-aligned columns, two spaces apart, with a header row; each cell on one line. */
export function renderTable(header: string[], rows: string[][]): string {
  rows = rows.map((r) => r.map((cell) => printable(cell, true)));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/** "12s ago", "3m ago", "2h ago". */
export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** What `whoami` prints: the identity in this home, and separately whether the relay answers and knows it. */
export function renderStatus(s: Status): string {
  const name = s.name ?? (s.other_relay ? `(none for this relay; ${s.other_relay.name} is registered with ${s.other_relay.relay})` : "(not registered in this home)");
  const known = s.registered === true ? "yes" : s.registered === null ? "unknown (the relay did not answer)" : s.name ? "no (the relay does not know this id)" : "no";
  return [
    `name        ${name}`,
    `id          ${s.id ?? "-"}`,
    `relay       ${s.relay} (${s.reachable ? "reachable" : "NOT reachable"})`,
    ...(s.relays ? [`relays      ${s.relays.map((r) => `${r.url} (${r.answers ? "answers" : "does NOT answer"})`).join(", ")}`] : []),
    `registered  ${known}`,
    `home        ${s.home}`,
    `pending     ${s.pending ?? "unknown"}`,
    ...(s.problem ? [`problem     ${s.problem.message}`, ...(s.problem.hint ? [`next        ${s.problem.hint}`] : [])] : []),
  ].join("\n");
}

export function renderAgents(agents: Agent[]): string {
  if (agents.length === 0) return "no agents registered (run `clawlink register --name NAME`)\n";
  return renderTable(
    ["ID", "NAME", "CAPS", "MACHINE", "STATUS", "LAST SEEN"],
    agents.map((a) => [a.id, a.name, a.caps.join(",") || "-", a.machine || "-", a.status, ago(a.last_seen)]),
  );
}

export function renderFiles(files: FileInfo[]): string {
  if (files.length === 0) return "no shared files (share one with `clawlink file-put --key KEY --file PATH`)\n";
  return renderTable(
    ["KEY", "VERSION", "SIZE", "UPDATED BY", "UPDATED", "LOCKED BY"],
    files.map((f) => [f.key, String(f.version), String(f.size), f.updated_by, ago(f.updated_at), f.lock ? `${f.lock.holder} until ${f.lock.until}` : "-"]),
  );
}

export function renderHistory(versions: FileVersion[]): string {
  return renderTable(
    ["VERSION", "AUTHOR", "CREATED", "SIZE", "SHA256"],
    versions.map((f) => [String(f.version), f.author, `${f.created_at} (${ago(f.created_at)})`, String(f.size), f.sha256]),
  );
}

/** An agent as a person reads it: `name (id)` when its name is known. */
const named = (id: string, names?: ReadonlyMap<string, string>) => (names?.get(id) ? `${names.get(id)} (${id})` : id);

export function renderTasks(tasks: Task[], me: string, names?: ReadonlyMap<string, string>): string {
  if (tasks.length === 0) return "no tasks\n";
  return renderTable(
    ["ID", "ROLE", "STATE", "PEER", "PRIORITY", "ATTEMPTS", "UPDATED", "TASK"],
    tasks.map((t) => [
      t.id,
      t.from === me ? "sent" : "held",
      t.state,
      t.from === me ? (t.to === null ? `(${t.cap})` : named(t.to, names)) : named(t.from, names),
      t.priority,
      String(t.attempts),
      ago(t.updated_at),
      oneLine(t.task, 50),
    ]),
  );
}

export function renderTask(t: Task, names?: ReadonlyMap<string, string>): string {
  const h = t.holder;
  const lines = [
    `id        ${t.id}`,
    `state     ${t.state}`,
    `from      ${named(t.from, names)}`,
    `to        ${t.to === null ? `(waiting for an agent with ${t.cap})` : h ? `${h.name} (${h.id}), ${holderLine(h)}` : named(t.to, names)}`,
    `priority  ${t.priority}`,
    `attempts  ${t.attempts}`,
    `lease     ${t.lease_s}s${t.ttl_s ? `   ttl ${t.ttl_s}s` : ""}`,
    `task      ${t.task}`,
    ...(t.note ? [`note      ${t.note}`] : []),
    ...(t.result !== null ? [`result    ${t.result}`] : []),
    "history",
    ...t.history.map((h) => `  ${h.at}  ${h.state.padEnd(9)}  ${h.note}`),
  ];
  return lines.join("\n") + "\n";
}

/** `listening since …`, `online, last seen …`, `OFFLINE since …`. */
const holderLine = (h: NonNullable<Task["holder"]>) =>
  h.status === "listening" ? `listening since ${h.since}` : h.online ? `online, last seen ${h.since} (${ago(h.since)})` : `OFFLINE since ${h.since} (${ago(h.since)})`;

const oneLine = (s: string, max: number) => {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length > max ? flat.slice(0, max - 1) + "…" : flat;
};

/** Agent names by id, for human output; empty if the list cannot be had. */
export async function agentNames(client: Client): Promise<Map<string, string>> {
  const agents = await client.agents({ all: true }).catch(() => []);
  return new Map(agents.map((a) => [a.id, a.name]));
}

/** One message as a short block a person (or a model) can read; `names` turns sender ids into names; `commands` adds the CLI command that answers it. */
export function renderMessage(m: Message, names?: ReadonlyMap<string, string>, commands = true): string {
  return printable(messageText(m, names, commands));
}

function messageText(m: Message, names: ReadonlyMap<string, string> | undefined, commands: boolean): string {
  const name = names?.get(m.from);
  const head = `[${m.type}] ${m.id} from ${name ? `${name} (${m.from})` : m.from} at ${m.created_at}`;
  switch (m.type) {
    case "task":
      return `${head}\n  priority ${m.priority}, attempt ${m.attempt}${m.redelivered ? " (delivered before: skip work already done)" : ""}${Object.keys(m.context).length ? `\n  context ${JSON.stringify(m.context)}` : ""}\n  ${m.task}\n${commands ? `  reply: clawlink respond --msg-id ${m.id} --result "..."\n` : ""}`;
    case "response":
      return `${head}\n  ${m.status} (reply to ${m.in_reply_to})\n  ${m.result}\n`;
    case "progress":
      return `${head}\n  progress on ${m.in_reply_to}: ${m.note}\n`;
    case "broadcast":
      return `${head}${m.topic ? `\n  topic ${m.topic}` : ""}${m.tags.length ? `  tags ${m.tags.join(",")}` : ""}\n  ${m.content}\n`;
    case "status":
      return `${head}\n  task ${m.task_id} is ${m.state}${m.note ? `: ${m.note}` : ""}\n`;
    case "file":
      return `${head}\n  ${describeFileChange(m)}\n${commands && m.action === "put" ? `  fetch: clawlink file-get --key ${shellArg(m.key)}\n` : ""}`;
  }
}

function describeFileChange(m: Extract<Message, { type: "file" }>): string {
  switch (m.action) {
    case "put":
      return `${m.by} ${m.merged ? "merged an edit into" : "wrote"} ${m.key} version ${m.version}${m.size !== undefined ? ` (${m.size} bytes)` : ""}`;
    case "delete":
      return `${m.by} deleted ${m.key} (its last version was ${m.version})`;
    case "lock":
      return `${m.by} locked ${m.key}${m.until ? ` until ${m.until}` : ""}`;
    case "unlock":
      return m.expired ? `${m.by}'s lease on ${m.key} ran out; it is unlocked` : `${m.by} unlocked ${m.key}`;
  }
}
