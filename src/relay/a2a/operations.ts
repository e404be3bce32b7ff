/**
 * The A2A operations in ClawLink's terms: each one a call or two on the relay's core (send a task,
 * read, list, cancel, follow one), whatever binding carried it.
 */
import * as v from "valibot";
import { ClawlinkError } from "../../errors";
import type { ListTasksRequest, Part, SendMessageRequest } from "../../protocol/a2a";
import { parseWith } from "../../protocol/codec";
import { Capability, FINAL_STATES, SendTask, type Task } from "../../protocol/schemas";
import { LIMIT } from "../../protocol/constants";
import type { AgentRecord, Relay } from "../core/relay";
import { contentTypeNotSupported, invalidParams, taskNotCancelable, taskNotFound, unsupported } from "./errors";
import { a2aTask, clawlinkStates, contextIdOf } from "./views";

/** Who is calling: an agent by its secret, or the shared `a2a` sender for holders of the relay token. */
export interface Caller {
  agent: AgentRecord;
  /** True for the shared sender, which has no inbox: messages addressed to it are dropped. */
  shared: boolean;
}

/** Where the request went: one agent's endpoint, or the relay's, which routes by skill (capability). */
export type Target = { kind: "agent"; agent: AgentRecord } | { kind: "relay" };

/** The sender A2A callers act as when they present the relay token; it is no registered agent. */
export const SHARED_SENDER: AgentRecord = Object.freeze({
  id: "a2a",
  name: "a2a",
  caps: [],
  description: "A2A callers that present the relay token",
  machine: "",
  secretHash: "",
  registeredAt: 0,
  lastSeen: 0,
  conns: [],
}) as AgentRecord;

const MAX_PAGE = 100;
const DEFAULT_PAGE = 50;

export class Operations {
  constructor(private relay: Relay) {}

  /** A task this caller sent through this endpoint; any other is "not found", whether it exists or not. */
  async task(caller: Caller, target: Target, id: string): Promise<Task> {
    let t: Task;
    try {
      t = await this.relay.getTask(caller.agent, id);
    } catch (err) {
      if (err instanceof ClawlinkError && (err.status === 404 || err.status === 403)) throw taskNotFound(id);
      throw err;
    }
    if (t.from !== caller.agent.id || (target.kind === "agent" && t.to !== target.agent.id)) throw taskNotFound(id);
    return t;
  }

  /** SendMessage: a new ClawLink task from the message's content. A retry with the same messageId returns the first task. */
  async send(caller: Caller, target: Target, req: SendMessageRequest): Promise<Task> {
    const m = req.message;
    if (m.taskId) {
      const t = await this.task(caller, target, m.taskId);
      throw unsupported(
        FINAL_STATES.has(t.state) ? `task ${t.id} has ended (${t.state}) and takes no more messages` : `task ${t.id} takes no more messages: a ClawLink task is one request`,
        "send a new message without taskId",
      );
    }
    const { text, data, files } = contentOf(m.parts);
    const origin = {
      messageId: m.messageId,
      ...(m.contextId ? { contextId: m.contextId } : {}),
      ...(data.length ? { data } : {}),
      ...(files.length ? { files } : {}),
      ...(m.metadata ? { metadata: m.metadata } : {}),
    };
    const route = target.kind === "agent" ? { to: target.agent.id } : { cap: skillOf(req) };
    const task = parseWith(SendTask, { type: "task", ...route, task: text, context: { a2a: origin }, idempotency_key: `a2a:${m.messageId}` }, "message");
    let sent;
    try {
      sent = await this.relay.send(caller.agent, task);
    } catch (err) {
      // ClawLink's hint names `clawlink discover` and --queue, neither of which an A2A client has.
      if (err instanceof ClawlinkError && err.code === "no_capable_agent") {
        throw new ClawlinkError(err.code, `no online agent has the skill "${task.cap}"`, "the relay's card (/.well-known/agent-card.json) lists the skills of the agents online now; send again with one of them, or later");
      }
      throw err;
    }
    return this.relay.getTask(caller.agent, sent.id);
  }

  /** Resolves with the task once it has ended, or with how it stands when the client hangs up. */
  settled(caller: Caller, id: string, signal: AbortSignal): Promise<Task> {
    return new Promise((resolve, reject) => {
      let latest: Task | undefined;
      let done = false;
      let stop: (() => void) | undefined;
      const finish = () => {
        if (done) return;
        done = true;
        stop?.();
        signal.removeEventListener("abort", finish);
        if (latest) resolve(latest);
        else this.relay.getTask(caller.agent, id).then(resolve, reject);
      };
      signal.addEventListener("abort", finish);
      this.follow(caller, id, (t) => {
        latest = t;
        if (FINAL_STATES.has(t.state)) finish();
      }).then((unwatch) => {
        stop = unwatch;
        if (done) unwatch();
      }, reject);
    });
  }

  /** Calls `onChange` with the task now and after every change; resolves with the way to stop. */
  follow(caller: Caller, id: string, onChange: (t: Task) => void): Promise<() => void> {
    return this.relay.watchTask(caller.agent, id, { push: (t) => onChange(t), close: () => {} });
  }

  /** The caller watched the task to its end: its inbox needs no messages about it (as after `delegate --wait`). */
  seen(caller: Caller, t: Task) {
    if (!caller.shared && FINAL_STATES.has(t.state)) void this.relay.ack(caller.agent, [], [t.id]).catch(() => {});
  }

  async cancel(caller: Caller, target: Target, id: string): Promise<Task> {
    const t = await this.task(caller, target, id);
    if (FINAL_STATES.has(t.state)) throw taskNotCancelable(id, t.state);
    try {
      return await this.relay.cancel(caller.agent, id, "canceled by its A2A client");
    } catch (err) {
      if (err instanceof ClawlinkError && err.code === "task_finished") throw taskNotCancelable(id, (await this.relay.getTask(caller.agent, id)).state);
      throw err;
    }
  }

  /** ListTasks: the caller's tasks through this endpoint, most recently updated first, a page at a time. */
  async list(caller: Caller, target: Target, q: ListTasksRequest) {
    const states = q.status && q.status !== "TASK_STATE_UNSPECIFIED" ? new Set(clawlinkStates(q.status)) : undefined;
    const after = q.statusTimestampAfter ? Date.parse(q.statusTimestampAfter) : undefined;
    const all = (await this.relay.listTasks(caller.agent, { role: "sent" }))
      .filter(
        (t) =>
          (target.kind === "relay" || t.to === target.agent.id) &&
          (!states || states.has(t.state)) &&
          (q.contextId === undefined || q.contextId === "" || contextIdOf(t) === q.contextId) &&
          (after === undefined || Date.parse(t.updated_at) > after),
      )
      .sort((a, b) => (a.updated_at === b.updated_at ? (a.id < b.id ? 1 : -1) : a.updated_at < b.updated_at ? 1 : -1));
    let start = 0;
    if (q.pageToken) {
      const cursor = decodeCursor(q.pageToken);
      start = all.findIndex((t) => t.updated_at < cursor.at || (t.updated_at === cursor.at && t.id < cursor.id));
      if (start < 0) start = all.length;
    }
    const size = Math.min(q.pageSize ?? DEFAULT_PAGE, MAX_PAGE);
    // A page stops past LIMIT.taskPageBytes, as GET /v1/tasks does (it always holds one task).
    const page: Task[] = [];
    const tasks: ReturnType<typeof a2aTask>[] = [];
    let bytes = 0;
    for (const t of all.slice(start, start + size)) {
      const shown = a2aTask(t, { historyLength: q.historyLength, artifacts: q.includeArtifacts === true });
      bytes += Buffer.byteLength(JSON.stringify(shown));
      if (page.length > 0 && bytes > LIMIT.taskPageBytes) break;
      page.push(t);
      tasks.push(shown);
    }
    const last = page.at(-1);
    return {
      tasks,
      nextPageToken: last && start + page.length < all.length ? encodeCursor(last) : "",
      pageSize: size,
      totalSize: all.length,
    };
  }
}

/** The task's words from text parts; structured data and file links ride along in the task's context. */
function contentOf(parts: Part[]) {
  const texts: string[] = [];
  const data: unknown[] = [];
  const files: { url: string; filename?: string; mediaType?: string }[] = [];
  for (const p of parts) {
    if (p.text !== undefined) texts.push(p.text);
    else if (p.data !== undefined) data.push(p.data);
    else if (p.url !== undefined) files.push({ url: p.url, ...(p.filename ? { filename: p.filename } : {}), ...(p.mediaType ? { mediaType: p.mediaType } : {}) });
    else throw contentTypeNotSupported("ClawLink tasks carry text, data and file links, not raw bytes", "send the file as a url part (a link the agent can fetch), or its content as a text or data part");
  }
  const text = texts.join("\n").trim() ? texts.join("\n") : data.length ? JSON.stringify(data.length === 1 ? data[0] : data) : files.map((f) => f.url).join("\n");
  return { text, data, files };
}

/** The relay's endpoint routes by the skill named in the request's (or the message's) metadata. */
function skillOf(req: SendMessageRequest): string {
  const skill = req.metadata?.skill ?? req.message.metadata?.skill;
  if (typeof skill !== "string") {
    throw invalidParams(
      'the relay\'s endpoint routes a message by skill: put "skill": "CAPABILITY" in the request\'s metadata',
      "the relay's card (/.well-known/agent-card.json) lists the skills; or send to one agent at /a2a/NAME",
    );
  }
  const parsed = v.safeParse(Capability, skill.toLowerCase());
  if (!parsed.success) throw invalidParams(`"${skill}" is not a skill of this relay: ${parsed.issues[0].message}`);
  return parsed.output;
}

const encodeCursor = (t: Task) => Buffer.from(`${t.updated_at}|${t.id}`).toString("base64url");

function decodeCursor(token: string): { at: string; id: string } {
  const [at, id] = Buffer.from(token, "base64url").toString("utf8").split("|");
  if (!at || !id || Number.isNaN(Date.parse(at))) throw invalidParams("pageToken is not one this relay gave out", "pass the nextPageToken of the previous page, or none");
  return { at, id };
}
