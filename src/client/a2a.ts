/** A small A2A v1.0 client for `a2a-bridge`: read an agent's card, then SendMessage, GetTask and CancelTask over JSON-RPC or HTTP+JSON. */
import * as v from "valibot";
import { ClawlinkError } from "../errors";
import {
  A2A_VERSION,
  A2A_VERSION_HEADER,
  AgentCard,
  CARD_PATH,
  JsonRpcResponse,
  SendMessageResponse,
  Task,
  type AgentInterface,
  type Artifact,
  type Part,
} from "../protocol/a2a";
import { describeIssues } from "../protocol/codec";

const BINDINGS = ["JSONRPC", "HTTP+JSON"];

const unreachable = (url: string, err: unknown) =>
  new ClawlinkError("unreachable", `the A2A agent is not reachable at ${url} (${(err as { code?: string }).code ?? (err as Error).message})`, "check --card, and that the agent is running");

const badAnswer = (url: string, detail: string) =>
  new ClawlinkError("bad_response", `the A2A agent at ${url} answered in an unexpected shape: ${detail}`, "check that it speaks A2A v1.0");

/** An error the agent answered with, as the status it came with (502 when it came as a JSON-RPC error in a 200). */
const refused = (message: string, status: number) => new ClawlinkError("a2a_error", message, "the A2A agent refused the call", { status });

/** 401 or 403: retrying cannot help, a token can. */
function authRefused(res: Response, url: string, token: string | undefined): ClawlinkError | undefined {
  if (res.status !== 401 && res.status !== 403) return undefined;
  return token
    ? new ClawlinkError("a2a_unauthorized", `the A2A agent at ${url} refused the token given with --agent-token (HTTP ${res.status})`, "check --agent-token (or CLAWLINK_A2A_TOKEN): it is the A2A agent's own token, not the relay's", { status: res.status })
    : new ClawlinkError("a2a_unauthorized", `the A2A agent at ${url} refused the call: it wants authentication (HTTP ${res.status})`, "pass its token with --agent-token (or CLAWLINK_A2A_TOKEN)", { status: res.status });
}

/** Fetches and checks an Agent Card; a URL that does not name a .json file gets the well-known path added. */
export async function fetchCard(url: string, token?: string): Promise<AgentCard> {
  const cardUrl = /\.json($|\?)/.test(url) ? url : url.replace(/\/+$/, "") + CARD_PATH;
  let res: Response;
  try {
    res = await fetch(cardUrl, { headers: headers(token) });
  } catch (err) {
    throw unreachable(cardUrl, err);
  }
  const denied = authRefused(res, cardUrl, token);
  if (denied) throw denied;
  if (!res.ok) throw new ClawlinkError("not_found", `no Agent Card at ${cardUrl} (HTTP ${res.status})`, "pass the card's URL, or the agent's base URL, with --card");
  const parsed = v.safeParse(AgentCard, await res.json().catch(() => undefined));
  if (!parsed.success) throw badAnswer(cardUrl, describeIssues(parsed.issues));
  return parsed.output;
}

/** The card's first interface this client speaks: JSON-RPC or HTTP+JSON, A2A 1.x. */
export function pickInterface(card: AgentCard, cardUrl: string): AgentInterface {
  const found = card.supportedInterfaces.find((i) => BINDINGS.includes(i.protocolBinding.toUpperCase()) && (!i.protocolVersion || i.protocolVersion.startsWith("1.")));
  if (found) return found;
  const listed = card.supportedInterfaces.map((i) => `${i.protocolBinding} ${i.protocolVersion ?? ""}`.trim()).join(", ") || "none";
  throw new ClawlinkError("usage", `the card at ${cardUrl} offers no A2A 1.0 JSON-RPC or HTTP+JSON interface (it lists: ${listed})`, "a2a-bridge speaks A2A v1.0 over JSON-RPC or HTTP+JSON");
}

function headers(token?: string, json = false): Record<string, string> {
  return { accept: "application/json", [A2A_VERSION_HEADER]: A2A_VERSION, ...(json ? { "content-type": "application/json" } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) };
}

export class A2AClient {
  private nextId = 1;
  private base: string;

  constructor(
    readonly iface: AgentInterface,
    private token?: string,
  ) {
    this.base = iface.url.replace(/\/+$/, "");
  }

  private get rpc() {
    return this.iface.protocolBinding.toUpperCase() === "JSONRPC";
  }

  private async fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (err) {
      if ((err as Error).name === "AbortError") throw err;
      throw unreachable(url, err);
    }
  }

  private async call(method: string, params: Record<string, unknown>, rest: { verb: string; path: string; body?: unknown }, signal?: AbortSignal): Promise<unknown> {
    const tenant = this.iface.tenant;
    if (this.rpc) {
      const id = this.nextId++;
      const body = JSON.stringify({ jsonrpc: "2.0", id, method, params: tenant ? { ...params, tenant } : params });
      const res = await this.fetch(this.iface.url, { method: "POST", headers: headers(this.token, true), body, signal });
      const denied = authRefused(res, this.iface.url, this.token);
      if (denied) throw denied;
      const parsed = v.safeParse(JsonRpcResponse, await res.json().catch(() => undefined));
      if (!parsed.success) {
        // A proxy's error page in front of a busy or failing agent passes; any other shape will not change by retrying.
        if (res.status >= 500 || res.status === 429) throw refused(`${method} failed: HTTP ${res.status}`, res.status);
        throw badAnswer(this.iface.url, `HTTP ${res.status}, not a JSON-RPC response`);
      }
      if ("error" in parsed.output) throw refused(`${method} failed: ${parsed.output.error.message} (code ${parsed.output.error.code})`, res.status >= 400 ? res.status : 502);
      return parsed.output.result;
    }
    const url = this.base + (tenant ? `/${encodeURIComponent(tenant)}` : "") + rest.path;
    const res = await this.fetch(url, { method: rest.verb, headers: headers(this.token, rest.body !== undefined), body: rest.body === undefined ? undefined : JSON.stringify(rest.body), signal });
    const denied = authRefused(res, url, this.token);
    if (denied) throw denied;
    const json = (await res.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
    if (!res.ok) throw refused(`${method} failed: ${json?.error?.message ?? `HTTP ${res.status}`}`, res.status);
    return json;
  }

  private parse<S extends v.GenericSchema>(schema: S, value: unknown, what: string): v.InferOutput<S> {
    const r = v.safeParse(schema, value);
    if (!r.success) throw badAnswer(this.iface.url, `${what}: ${describeIssues(r.issues)}`);
    return r.output;
  }

  /** SendMessage without waiting: the agent answers with a task to follow, or at once with a message. */
  async sendMessage(message: Record<string, unknown>, signal?: AbortSignal) {
    const params = { message, configuration: { returnImmediately: true, acceptedOutputModes: ["text/plain", "application/json"] } };
    return this.parse(SendMessageResponse, await this.call("SendMessage", params, { verb: "POST", path: "/message:send", body: params }, signal), "SendMessage");
  }

  async getTask(id: string, signal?: AbortSignal): Promise<Task> {
    return this.parse(Task, await this.call("GetTask", { id }, { verb: "GET", path: `/tasks/${encodeURIComponent(id)}` }, signal), "GetTask");
  }

  async cancelTask(id: string): Promise<Task> {
    return this.parse(Task, await this.call("CancelTask", { id }, { verb: "POST", path: `/tasks/${encodeURIComponent(id)}:cancel`, body: { id } }), "CancelTask");
  }
}

/** Parts as text: text as is, data as JSON, links as their URL, raw bytes named but not inlined. */
export function partsText(parts: Part[] | undefined): string {
  return (parts ?? [])
    .map((p) => p.text ?? (p.data !== undefined ? JSON.stringify(p.data) : (p.url ?? `[${p.filename || "file"}: ${p.raw?.length ?? 0} base64 characters, not inlined]`)))
    .join("\n");
}

export const artifactsText = (artifacts: Artifact[] | undefined) => (artifacts ?? []).map((a) => partsText(a.parts)).filter(Boolean).join("\n\n");
