/** Telling the MCP client that a message arrived: a log notification for any client, and a channel event that wakes a Claude Code session. */
import type { Client } from "../client/client";
import { printable, renderMessage } from "../client/render";
import { logger } from "../logger";
import { AGENT_NAME_RE, type Message } from "../protocol/schemas";
import { Recent, taskOf } from "./mailbox";

type StatusMessage = Extract<Message, { type: "status" }>;

/** The notifications the server can send; the SDK's Server has both. */
export interface Notifier {
  sendLoggingMessage(params: { level: "info" | "notice" | "warning"; logger: string; data: unknown }): Promise<void>;
  notification(n: { method: string; params: Record<string, unknown> }): Promise<void>;
}

/** Claude Code shows `content` to the model inside a <channel> tag whose attributes are `meta` (identifier keys, string values). */
export const CHANNEL = "notifications/claude/channel";
const MAX_CONTENT = 8000;

/** Agent names by id, looked up again (at most every few seconds) when an unknown sender writes. */
class Names {
  private names = new Map<string, string>();
  private lookedUp = 0;
  constructor(private client: () => Client | undefined) {}
  async of(id: string): Promise<string | undefined> {
    const client = this.client();
    if (!this.names.has(id) && client && Date.now() - this.lookedUp > 5000) {
      this.lookedUp = Date.now();
      const agents = await client.agents({ all: true }).catch(() => []);
      for (const a of agents) this.names.set(a.id, a.name);
    }
    return this.names.get(id);
  }
}

export class Announcer {
  private names: Names;
  /** Tasks whose response was announced: a status saying they failed would say it twice. */
  private answered = new Recent(10_000);
  /** Tasks this agent received: a status about one is news for the one doing it, about any other for the one who sent it. */
  private received = new Recent(10_000);

  constructor(
    private notifier: Notifier,
    private client: () => Client | undefined,
  ) {
    this.names = new Names(client);
  }

  /** Whether this agent sent the task a status is about, rather than holds it; asked of the relay when the task came before this server started. */
  private async sentBy(m: StatusMessage): Promise<boolean> {
    if (this.received.has(m.task_id)) return false;
    const task = await this.client()?.task(m.task_id).catch(() => undefined);
    // Unknown: word it for the holder, whose "stop" is the part that must not be missed.
    return task ? task.to !== m.to : false;
  }

  /** What calls for the model's attention: work, answers, findings, and tasks that ended without an answer. */
  private wakes(m: Message): boolean {
    if (m.type === "task" || m.type === "broadcast") return true;
    if (m.type === "response") return true;
    if (m.type === "status") return m.state === "canceled" || m.state === "expired" || (m.state === "failed" && !this.answered.has(m.task_id));
    return false;
  }

  async announce(m: Message): Promise<void> {
    const name = await this.names.of(m.from);
    const text = renderMessage(m, new Map(name ? [[m.from, name]] : []), false).trimEnd();
    const wakes = this.wakes(m);
    if (m.type === "response") this.answered.add(m.in_reply_to);
    if (m.type === "task") this.received.add(m.id);
    const sent = [this.notifier.sendLoggingMessage({ level: wakes ? "notice" : "info", logger: "clawlink", data: { text, message: m } })];
    if (wakes) {
      const task = taskOf(m);
      const meta = metaOf({ message_id: m.id, type: m.type, from: name ?? m.from, ...(task && task !== m.id ? { task_id: task } : {}), ...(m.type === "task" ? { priority: m.priority } : {}) });
      const mine = m.type === "status" && (await this.sentBy(m));
      sent.push(this.notifier.notification({ method: CHANNEL, params: { content: channelContent(m, text, mine), meta } }));
    }
    for (const r of await Promise.allSettled(sent)) if (r.status === "rejected") logger.warn(printable(`could not announce ${m.id}: ${(r.reason as Error).message}`));
  }
}

/** Meta values become tag attributes: only names and ids of the names' charset go there; a value that could break out of its quotes is left out. */
function metaOf(fields: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => AGENT_NAME_RE.test(value)));
}

/** Content sits inside the <channel> tag: a sender's text must not close it or open another that claims a different source. */
const escapeMarkup = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const TAKE = "The inbox tool takes this message and acknowledges it.";

/** The message, cut to a size a context can take, and what to do about it; `sent`: a status about a task this agent sent. */
function channelContent(m: Message, text: string, sent: boolean): string {
  const body = text.length > MAX_CONTENT ? `${text.slice(0, MAX_CONTENT)}\n… (cut; the inbox tool returns it whole)` : text;
  let next = "It waits in your ClawLink inbox: the inbox tool takes it and acknowledges it.";
  if (m.type === "task") next = `Do the task, then call respond with id ${m.id} and your result (progress tells the sender you are on it; respond also takes it from your inbox).`;
  else if (m.type === "status" && m.state !== "failed") {
    if (!sent) next = `If you were working on task ${m.task_id}, stop. ${TAKE}`;
    else if (m.state === "expired") next = `Task ${m.task_id}, which you sent, was never taken up: delegate it again if it still matters. ${TAKE}`;
    else next = `Task ${m.task_id}, which you sent, will not be done. ${TAKE}`;
  }
  return escapeMarkup(`${body}\n${next}`);
}
