/** The relay: Bun.serve with HTTP routes and WebSockets on one port. Options in, server out; no argv. */
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import { ClawlinkError } from "../errors";
import { storeUnavailable } from "./store/port";
import { parseWith } from "../protocol/codec";
import { SocketQuery } from "../protocol/queries";
import { Id } from "../protocol/schemas";
import { createGateway } from "./a2a/gateway";
import { createAdmin, type AdminSocketData } from "./admin";
import { Auth } from "./auth";
import { Connections, type Hold } from "./connections";
import { FloodCooldown } from "./cooldown";
import { Relay, type CoreOptions } from "./core/relay";
import { checkHost, checkOrigin, isLoopbackName, ownNames, type HostRule } from "./edge";
import { BACKLOG_BYTES, FairShare, TOTAL_BACKLOG_BYTES } from "./fair";
import { IDLE_TIMEOUT_S, resolveLimits, type Limits } from "./limits";
import { AuthThrottle, claimOf, isAuthFailure, isUnguessable, type Claim } from "./ratelimit";
import { createRoutes, errorResponse, json, query } from "./routes";
import { createSocketHandler, type SocketData } from "./socket";
import type { TlsFiles } from "./tls";

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/** The dashboard's token comes in its socket's first frame, not in a header: its guesses count as the token's. */
const ADMIN_CLAIM = { bearer: "", who: "token" };

export interface RelayOptions extends Omit<CoreOptions, keyof Limits>, Partial<Limits> {
  host?: string;
  port?: number;
  token?: string;
  /** Opens the dashboard and the admin API instead of `token` (which then only lets agents join). */
  adminToken?: string;
  /** Serve HTTPS and WSS with this certificate chain and key (PEM text). */
  tls?: TlsFiles;
  /** Host names a loopback relay answers to besides localhost, 127.x.y.z and [::1] (a proxy's). */
  allowHosts?: string[];
  /** Called with unexpected errors (a bug, not bad input). */
  onError?: (err: unknown) => void;
  /** How long a task watch may stay backed up before it is closed (default WATCH_STALL_MS). */
  watchStallMs?: number;
  /** How long an agent closed for flooding frames waits before its next WebSocket (default FLOOD_COOLDOWN_MS). */
  floodCooldownMs?: number;
  /** How long an upload may arrive at any pace before --min-upload-rate applies (default UPLOAD_GRACE_MS). */
  uploadGraceMs?: number;
}

type AnySocket = SocketData | AdminSocketData;

export interface RelayServer {
  server: Server<AnySocket>;
  /** The relay's core: what the transports here call. */
  core: Relay;
  url: string;
  /** Stops; `before` runs once no request comes in any more, before the store closes. */
  stop(before?: () => Promise<void>): Promise<void>;
}

export function startRelay(opts: RelayOptions = {}): RelayServer {
  const limits = resolveLimits(opts);
  // An unavailable store is expected, not a bug: the store says once when it goes and when it is back (onStoreHealth).
  const onError = (err: unknown) => {
    if (!storeUnavailable(err)) opts.onError?.(err);
  };
  const relay = new Relay({ ...opts, ...limits, onError });
  const auth = new Auth(relay, opts.token || undefined);
  const throttle = new AuthThrottle(limits.maxAuthFailures, Date.now, undefined, relay.limits);
  const unguessableToken = opts.token ? isUnguessable(opts.token) : false;
  // Relays sharing a store: a token a guesser may hit on must wait on this relay for failures counted on another.
  const recallToken = throttle.shared && opts.token !== undefined && !unguessableToken;
  const connections = new Connections(limits, relay.limits);
  // Every secret the relay issued is derived from its key: one it recognises proves itself; so does an unguessable token.
  const proves = (claim: Claim) => (bearer: string) => (claim.who === "token" ? unguessableToken && auth.isToken(bearer) : relay.recognise(bearer) !== undefined);
  const address = (req: Request, srv: Server<AnySocket>) => srv.requestIP(req)?.address ?? "unknown";
  const hold: Hold = (identity, req, srv) => connections.hold(identity, address(req, srv));
  const fair = new FairShare();
  const cooldown = new FloodCooldown(opts.floodCooldownMs);
  const routes = createRoutes(relay, auth, { ...limits, uploadGraceMs: opts.uploadGraceMs }, hold, fair);
  const a2a = createGateway(relay, auth, limits, hold);

  /** Host and Origin come first, on every request: a page the relay refuses learns nothing from it. */
  const screen = (req: Request) => {
    // Clients send the same Host on every request: one that passed once passes without parsing it again.
    const host = req.headers.get("host");
    if (hostRule && host !== null && !hostsSeen.has(host)) {
      checkHost(req, hostRule, url);
      if (hostsSeen.size < 64) hostsSeen.add(host);
    }
    checkOrigin(req);
  };
  const hostsSeen = new Set<string>();

  /** A request that needs no credential: screened, and a refusal turned into JSON. */
  const screened = (req: Request, handler: () => Response | Promise<Response>): Response | Promise<Response> => {
    try {
      screen(req);
      return handler();
    } catch (err) {
      return errorResponse(err);
    }
  };

  /**
   * Runs a handler behind the screen and the auth throttle, counting the guesses it refuses, and turns its errors into JSON
   * (ClawLink's shape unless `render` gives another, as A2A's does).
   */
  const guarded = (
    req: Request,
    srv: Server<AnySocket>,
    handler: () => Response | undefined | Promise<Response | undefined>,
    render: (req: Request, err: unknown) => Response = (_, err) => errorResponse(err),
  ): Response | undefined | Promise<Response | undefined> => {
    const failed = (err: unknown) => {
      // A client that hung up mid-request is not the relay's error: nobody reads this answer.
      if (!(err instanceof ClawlinkError)) {
        if (!req.signal.aborted) onError(err);
      } else if (isAuthFailure(req, err)) {
        // Sharing a store, a guess the other relays already refused enough of is refused here too.
        const refused = throttle.fail(address(req, srv), claimOf(req)!.who);
        if (refused) return refused.then((over) => render(req, over ?? err), () => render(req, err));
      }
      return render(req, err);
    };
    try {
      screen(req);
      if (recallToken) {
        const claim = claimOf(req);
        if (claim?.who === "token") {
          return throttle.recall(address(req, srv), claim).then(() => {
            throttle.check(address(req, srv), claim, proves(claim));
            return handler();
          }).catch(failed);
        }
      }
      const claim = throttle.idle ? undefined : claimOf(req);
      if (claim) throttle.check(address(req, srv), claim, proves(claim));
      // The core resolves a call only once what it changed is committed; a failed commit is a 507 or 503.
      const res = handler();
      return res instanceof Promise ? res.catch(failed) : res;
    } catch (err) {
      return failed(err);
    }
  };

  const notAllowed = (method: string, path: string, allowed: string) => (req: Request) =>
    screened(req, () => json({ error: { code: "method_not_allowed", message: `${method} is not supported on ${path}`, hint: `use ${allowed}` } }, 405, { allow: allowed }));

  const admin = createAdmin({
    core: relay.operator(),
    clock: relay.clock,
    token: opts.token || undefined,
    adminToken: opts.adminToken || undefined,
    loopback: isLoopbackName(opts.host ?? "127.0.0.1"),
    stats: () => ({ websockets: server.pendingWebSockets, requests: server.pendingRequests }),
    maxBodyBytes: limits.maxMessageBytes,
    onError,
  });

  // Every handler goes through one place that turns errors into JSON; other methods answer 405.
  // Health stays outside the throttle, so a refused client can still tell that the relay is up.
  const table: Record<string, Record<string, (req: any, srv: Server<AnySocket>) => Response | undefined | Promise<Response | undefined>>> = {};
  for (const [path, handlers] of Object.entries({ ...routes, ...admin.routes })) {
    const allowed = Object.keys(handlers).join(", ");
    // Only a path with an {id} has one to check; the others skip making the request's params.
    const hasId = path.includes("/:id");
    table[path] = {};
    for (const method of METHODS) {
      const handler = handlers[method];
      table[path][method] = handler
        ? path === "/v1/health"
          ? (req, srv) => screened(req, () => handler(req, srv))
          : (req, srv) =>
              guarded(req, srv, () => {
                if (hasId && req.params?.id !== undefined) parseWith(Id, req.params.id, "id in the path");
                return handler(req, srv);
              })
        : notAllowed(method, path, allowed);
    }
  }

  const server = Bun.serve<AnySocket>({
    // Serves the bundled page as built; no hot reloading or development scripts.
    development: false,
    // Bun's production mode would share the port with a second relay; that one must fail with EADDRINUSE instead.
    reusePort: false,
    hostname: opts.host ?? "127.0.0.1",
    port: opts.port ?? 9077,
    ...(opts.tls ? { tls: opts.tls } : {}),
    idleTimeout: IDLE_TIMEOUT_S,
    // Bodies are read by the routes, which stop at their own limits and answer 413 in JSON.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    routes: {
      ...table,
      // The dashboard: a page without data, which it fetches with the admin token.
      "/": Object.fromEntries(METHODS.map((m) => [m, m === "GET" || m === "HEAD" ? admin.page : notAllowed(m, "/", "GET")])),
      "/v1/admin/ws": (req: Request, srv: Server<AnySocket>) =>
        guarded(req, srv, () => {
          const from = address(req, srv);
          const upgrade = () => {
            if (!throttle.idle) throttle.check(from, ADMIN_CLAIM, () => false);
            return admin.upgrade(req, srv as Server<AdminSocketData>, () => void throttle.fail(from, ADMIN_CLAIM.who)?.catch(onError));
          };
          // The dashboard's token is tried in the socket's first frame: failures on other relays must hold it back first.
          return throttle.shared ? throttle.recall(from, ADMIN_CLAIM).then(upgrade) : upgrade();
        }),
      "/v1/ws": (req: Request, srv: Server<AnySocket>) =>
        guarded(req, srv, async () => {
          const agent = await auth.agent(req);
          const q = parseWith(SocketQuery, query(req), "query");
          const watch = q.task ?? null;
          const files = q.files ?? null;
          const only = q.types === undefined ? null : new Set<string>(q.types);
          await cooldown.check(agent.id);
          // Counted from the upgrade, not from `open`, so a burst of upgrades cannot slip past the limit.
          const release = await hold(agent.id, req, srv);
          let upgraded = false;
          try {
            upgraded = srv.upgrade(req, { data: { agent, watch, files, types: only, connection: null, batch: false, unwatch: null, release } });
          } finally {
            if (!upgraded) release();
          }
          if (upgraded) return undefined;
          throw new ClawlinkError("bad_request", "this endpoint speaks WebSocket only", "connect with a WebSocket client (`clawlink listen`)");
        }),
      // A2A: Agent Cards and /a2a/{name}, answered in A2A's error shapes.
      "/.well-known/agent-card.json": (req: Request, srv: Server<AnySocket>) => guarded(req, srv, () => a2a.card(req), a2a.failure),
      "/a2a/*": (req: Request, srv: Server<AnySocket>) => guarded(req, srv, () => a2a.handle(req, srv), a2a.failure),
    },
    fetch: (req) => screened(req, () => json({ error: { code: "not_found", message: "no such endpoint", hint: "see docs/protocol.md for the API" } }, 404)),
    error: (err) => {
      onError(err);
      return errorResponse(err);
    },
    websocket: { ...bothSockets(createSocketHandler(relay, fair, { perAgent: Math.max(BACKLOG_BYTES, 16 * limits.maxFrameBytes), total: TOTAL_BACKLOG_BYTES }, cooldown, { stallMs: opts.watchStallMs }), admin.socket), maxPayloadLength: limits.maxFrameBytes },
  });

  // Beyond loopback, a relay with a token takes any Host (a page has no token); one without (--insecure) checks it as on loopback.
  const loopback = isLoopbackName(opts.host ?? "127.0.0.1");
  const extra = new Set(opts.allowHosts?.map((h) => h.toLowerCase()));
  const hostRule: HostRule | undefined = loopback ? { port: server.port!, extra } : opts.token ? undefined : { port: server.port!, extra, own: ownNames(opts.host!) };

  const ticker = setInterval(() => void relay.tick().catch(onError), 250);
  const url = `${opts.tls ? "https" : "http"}://${server.hostname?.includes(":") ? `[${server.hostname}]` : server.hostname}:${server.port}`;
  return {
    server,
    core: relay,
    url,
    async stop(before) {
      clearInterval(ticker);
      admin.close();
      await server.stop(true);
      await before?.();
      await relay.close();
    },
  };
}

/** One Bun WebSocket handler for both kinds of socket: agents' inboxes and dashboards. */
function bothSockets(agents: WebSocketHandler<SocketData>, admin: ReturnType<typeof createAdmin>["socket"]): WebSocketHandler<AnySocket> {
  const isAdmin = (ws: ServerWebSocket<AnySocket>): ws is ServerWebSocket<AdminSocketData> => "admin" in ws.data;
  const asAgent = (ws: ServerWebSocket<AnySocket>) => ws as ServerWebSocket<SocketData>;
  return {
    ...agents,
    open: (ws) => (isAdmin(ws) ? admin.open(ws) : agents.open?.(asAgent(ws))),
    message: (ws, raw) => (isAdmin(ws) ? admin.message(ws, raw) : agents.message?.(asAgent(ws), raw)),
    drain: (ws) => (isAdmin(ws) ? undefined : agents.drain?.(asAgent(ws))),
    close: (ws, code, reason) => (isAdmin(ws) ? admin.close(ws) : agents.close?.(asAgent(ws), code, reason)),
  };
}
