/** Telling the MCP client that a message arrived: a log notification for any client, and a channel event that wakes a Claude Code session. */
import type { Client } from "../client/client";
import { printable, renderMessage } from "../client/render";
import { logger } from "../logger";
import type { Message } from "../protocol/schemas";
import { Recent, taskOf } from "./mailbox";

/** The notifications the server can send; the SDK's Server has both. */
export interface Notifier {
  sendLoggingMessage(params: { level: "info" | "notice"; logger: string; data: unknown }): Promise<void>;
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

  constructor(private notifier: Notifier, client: () => Client | undefined) {
    this.names = new Names(client);
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
    const sent = [this.notifier.sendLoggingMessage({ level: wakes ? "notice" : "info", logger: "clawlink", data: { text, message: m } })];
    if (wakes) {
      const task = taskOf(m);
      const meta: Record<string, string> = { message_id: m.id, type: m.type, from: name ?? m.from, ...(task && task !== m.id ? { task_id: task } : {}), ...(m.type === "task" ? { priority: m.priority } : {}) };
      sent.push(this.notifier.notification({ method: CHANNEL, params: { content: channelContent(m, text), meta } }));
    }
    for (const r of await Promise.allSettled(sent)) if (r.status === "rejected") logger.warn(printable(`could not announce ${m.id}: ${(r.reason as Error).message}`));
  }
}

/** The message, cut to a size a context can take, and what to do about it. */
function channelContent(m: Message, text: string): string {
  const body = text.length > MAX_CONTENT ? `${text.slice(0, MAX_CONTENT)}\n… (cut; the inbox tool returns it whole)` : text;
  const next =
    m.type === "task"
      ? `Do the task, then call respond with id ${m.id} and your result (progress tells the sender you are on it; respond also takes it from your inbox).`
      : m.type === "status" && m.state !== "failed"
        ? `If you were working on task ${m.task_id}, stop. The inbox tool takes this message and acknowledges it.`
        : "It waits in your ClawLink inbox: the inbox tool takes it and acknowledges it.";
  return `${body}\n${next}`;
}
