/**
 * The A2A gateway: Agent Cards, and /a2a/{name} in both bindings. It authenticates the caller, picks
 * the endpoint and the binding, and hands the call to jsonrpc.ts or rest.ts; errors come back in the
 * binding's own shape.
 */
import type { Server } from "bun";
import { ClawlinkError } from "../../errors";
import { A2A_VERSION, A2A_VERSION_HEADER, CARD_PATH, type RpcId } from "../../protocol/a2a";
import type { Auth } from "../auth";
import type { Relay } from "../core/relay";
import { requireJson } from "../edge";
import type { Hold } from "../connections";
import { IDLE_TIMEOUT_S, readBody, type Limits } from "../limits";
import { agentCard, RELAY_ENDPOINT, relayCard } from "./cards";
import { restError, rpcError, unauthenticated, versionNotSupported } from "./errors";
import { callRpc, parseEnvelope } from "./jsonrpc";
import { Operations, SHARED_SENDER, type Caller, type Target } from "./operations";
import { callRest, type Call } from "./rest";

const utf8 = new TextDecoder("utf-8", { fatal: true });
/** How long a client may keep a card, and the relay its own. */
const CARD_MAX_AGE_S = 30;

/** What an A2A stream may buffer for a reader that does not read: two whole messages, and at least this. */
const STREAM_BUFFER_BYTES = 4 * 1024 * 1024;

export function createGateway(relay: Relay, auth: Auth, limits: Pick<Limits, "maxMessageBytes">, hold: Hold) {
  const ops = new Operations(relay);
  /** JSON-RPC ids of requests, once known: an error thrown later is answered with it. */
  const rpcIds = new WeakMap<Request, RpcId>();
  /** JSON-RPC notifications (requests without an id): never answered with a body, errors included. */
  const notifications = new WeakSet<Request>();
  /** A POST to /a2a/{name} itself is JSON-RPC; every other path is HTTP+JSON. */
  const isRpc = (req: Request) => req.method === "POST" && /^\/a2a\/[^/]+\/?$/.test(new URL(req.url).pathname);

  const caller = async (req: Request): Promise<Caller> => {
    const c = await auth.credential(req);
    if (!c) throw unauthenticated(req.headers.has("authorization"));
    return c.kind === "agent" ? { agent: c.agent, shared: false } : { agent: SHARED_SENDER, shared: true };
  };

  const target = async (name: string): Promise<Target> => {
    if (name === RELAY_ENDPOINT) return { kind: "relay" };
    try {
      return { kind: "agent", agent: await relay.resolveAgent(name) };
    } catch {
      throw new ClawlinkError("unknown_agent", `no agent is registered as "${name}" on this relay`, "the relay's card at /.well-known/agent-card.json lists its skills; /a2a/relay routes a message by skill");
    }
  };

  /** A2A-Version 1.0, or none (taken as 1.0, so a bare client works); any other is refused. */
  const checkVersion = (req: Request, url: URL) => {
    const asked = (req.headers.get(A2A_VERSION_HEADER) ?? url.searchParams.get(A2A_VERSION_HEADER) ?? "").trim();
    if (asked !== "" && asked !== A2A_VERSION && !asked.startsWith(`${A2A_VERSION}.`)) {
      throw versionNotSupported(`this relay speaks A2A ${A2A_VERSION}, not ${asked}`);
    }
  };

  const cardReply = (card: unknown) => Response.json(card, { headers: { "cache-control": `max-age=${CARD_MAX_AGE_S}` } });
  /** The relay's card lists every agent's skills, so it is built at most once per max-age for each origin it is asked under; anyone may ask for it. */
  const relayCards = new Map<string, { body: string; until: number }>();
  const relayCardReply = async (origin: string): Promise<Response> => {
    let cached = relayCards.get(origin);
    if (!cached || cached.until <= Date.now()) {
      // Origins come from the Host header: a few are kept, not one per name a caller makes up.
      if (relayCards.size >= 16) relayCards.clear();
      cached = { body: JSON.stringify(relayCard(await relay.listAgents(), origin, relay.version, auth.open)), until: Date.now() + CARD_MAX_AGE_S * 1000 };
      relayCards.set(origin, cached);
    }
    return new Response(cached.body, { headers: { "content-type": "application/json;charset=utf-8", "cache-control": `max-age=${CARD_MAX_AGE_S}` } });
  };

  async function card(req: Request, endpoint: string | undefined): Promise<Response> {
    if (req.method !== "GET" && req.method !== "HEAD") throw new ClawlinkError("method_not_allowed", `${req.method} is not supported on an Agent Card`, "use GET");
    const origin = new URL(req.url).origin;
    if (endpoint === undefined || endpoint === RELAY_ENDPOINT) return relayCardReply(origin);
    const t = await target(endpoint);
    return cardReply(agentCard(relay.view((t as Extract<Target, { kind: "agent" }>).agent), origin, relay.version, auth.open));
  }

  async function handle(req: Request, srv: Server<unknown>): Promise<Response> {
    const url = new URL(req.url);
    const rest = url.pathname.slice("/a2a/".length);
    const slash = rest.indexOf("/");
    let name: string;
    try {
      name = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
    } catch {
      throw new ClawlinkError("bad_request", "the agent name in the path is not valid percent-encoding", "use /a2a/NAME");
    }
    const path = slash < 0 ? "" : rest.slice(slash);
    if (path === CARD_PATH) return card(req, name);
    // A card URL resolved against /a2a/NAME without its trailing slash lands here.
    if (name === ".well-known") {
      throw new ClawlinkError("not_found", "an agent's card is at /a2a/NAME/.well-known/agent-card.json", "resolve the card against /a2a/NAME/ (with the trailing slash), or fetch that URL whole");
    }
    const body = async () => {
      requireJson(req, "A2A request");
      const bytes = await readBody(req, limits.maxMessageBytes, "the A2A request", "--max-message-bytes");
      try {
        return utf8.decode(bytes);
      } catch {
        throw new ClawlinkError("bad_request", "the body is not valid UTF-8", "send JSON encoded as UTF-8");
      }
    };
    // A JSON-RPC body is read first, so that every error after it (a refused credential, an unknown agent) answers with its id.
    const envelope = isRpc(req) ? parseEnvelope(await body(), (id) => rpcIds.set(req, id)) : undefined;
    if (envelope && envelope.id === undefined) notifications.add(req);
    checkVersion(req, url);
    const who = await caller(req);
    let release: (() => void) | undefined;
    const call: Call = {
      ops,
      caller: who,
      target: await target(name),
      signal: req.signal,
      body,
      streamBufferBytes: Math.max(STREAM_BUFFER_BYTES, 2 * limits.maxMessageBytes),
      cutOff: () => srv.timeout(req, 1),
      async hold() {
        release = await hold(who.agent.id, req, srv);
        srv.timeout(req, 0);
        return release;
      },
    };
    let res: Response;
    try {
      res = envelope ? await callRpc(call, envelope) : await callRest(call, req.method, path, url.searchParams);
    } catch (err) {
      release?.();
      throw err;
    }
    // A blocking call that waited leaves its kept-alive connection under the idle timeout again.
    if (!res.headers.get("content-type")?.startsWith("text/event-stream") && !req.signal.aborted) srv.timeout(req, IDLE_TIMEOUT_S);
    return res;
  }

  return {
    handle,
    /** GET /.well-known/agent-card.json: the relay's own card. */
    card: (req: Request) => card(req, undefined),
    /** Any error of a gateway request, in the shape its binding uses. */
    failure(req: Request, err: unknown): Response {
      const { body, status, headers } = isRpc(req) ? rpcError(err, rpcIds.get(req) ?? null) : restError(err);
      // A notification gets no error object; an error that is HTTP's own (401, 404, 413, 429, 5xx) keeps its status.
      if (notifications.has(req)) return new Response(null, { status: status === 200 ? 204 : status, headers });
      return Response.json(body, { status, headers });
    },
  };
}
