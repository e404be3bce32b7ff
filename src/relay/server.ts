/** The relay: Bun.serve with HTTP routes and WebSockets on one port. Options in, server out; no argv. */
import type { Server } from "bun";
import { ClawlinkError } from "../errors";
import { Auth } from "./auth";
import { Files } from "./files";
import { Hub, type HubOptions } from "./hub";
import { resolveLimits, type Limits } from "./limits";
import { createRoutes, errorResponse, json } from "./routes";
import { createSocketHandler, type SocketData } from "./socket";

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

export interface RelayOptions extends HubOptions, Partial<Limits> {
  host?: string;
  port?: number;
  token?: string;
  /** Called with unexpected errors (a bug, not bad input). */
  onError?: (err: unknown) => void;
}

export interface Relay {
  server: Server<SocketData>;
  hub: Hub;
  url: string;
  stop(): Promise<void>;
}

export function startRelay(opts: RelayOptions = {}): Relay {
  const limits = resolveLimits(opts);
  const hub = new Hub({ ...opts, maxQueue: limits.maxQueue, maxAgents: limits.maxAgents });
  const files = new Files(hub.store, hub.clock);
  const auth = new Auth(hub, opts.token || undefined);
  const routes = createRoutes(hub, files, auth, limits);
  const onError = opts.onError ?? (() => {});

  // Every handler goes through one place that turns errors into JSON; other methods answer 405.
  const table: Record<string, Record<string, (req: any) => Promise<Response>>> = {};
  for (const [path, handlers] of Object.entries(routes)) {
    const allowed = Object.keys(handlers).join(", ");
    table[path] = {};
    for (const method of METHODS) {
      const handler = handlers[method];
      table[path][method] = handler
        ? async (req) => {
            let res: Response;
            try {
              res = await handler(req);
            } catch (err) {
              if (!(err instanceof ClawlinkError)) onError(err);
              res = errorResponse(err);
            }
            // Answer only once what the request changed is durable (a no-op in memory).
            const durable = hub.store.sync();
            if (durable) await durable;
            return res;
          }
        : async () =>
            json({ error: { code: "method_not_allowed", message: `${method} is not supported on ${path}`, hint: `use ${allowed}` } }, 405, { allow: allowed });
    }
  }

  const server = Bun.serve<SocketData>({
    hostname: opts.host ?? "127.0.0.1",
    port: opts.port ?? 9077,
    // Bodies are read by the routes, which stop at their own limits and answer 413 in JSON.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    routes: {
      ...table,
      "/v1/ws": (req: Request, srv: Server<SocketData>) => {
        try {
          const agent = auth.agent(req);
          const watch = new URL(req.url).searchParams.get("task");
          if (srv.upgrade(req, { data: { agent, watch, sink: null, unwatch: null } })) return undefined;
          throw new ClawlinkError("bad_request", 400, "this endpoint speaks WebSocket only", "connect with a WebSocket client (`clawlink listen`)");
        } catch (err) {
          return errorResponse(err);
        }
      },
    },
    fetch: () => json({ error: { code: "not_found", message: "no such endpoint", hint: "see docs/protocol.md for the API" } }, 404),
    error: (err) => {
      onError(err);
      return errorResponse(err);
    },
    websocket: { ...createSocketHandler(hub), maxPayloadLength: limits.maxFrameBytes },
  });

  const ticker = setInterval(() => {
    hub.tick();
    hub.store.sync()?.catch(onError);
  }, 250);
  const url = `http://${server.hostname?.includes(":") ? `[${server.hostname}]` : server.hostname}:${server.port}`;
  return {
    server,
    hub,
    url,
    async stop() {
      clearInterval(ticker);
      await server.stop(true);
      hub.store.close();
    },
  };
}
