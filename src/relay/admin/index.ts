/** The dashboard and its admin API, assembled over the admin port; the server mounts what this returns. */
import type { Server } from "bun";
import page from "../../dashboard/index.html";
import { ClawlinkError } from "../../errors";
import { AdminAccess } from "./access";
import { AdminLive, type ServerStats } from "./live";
import type { AdminCore } from "./port";
import { createAdminRoutes } from "./routes";
import { createAdminSocket, type AdminSocketData } from "./socket";

export type { AdminSocketData } from "./socket";

export interface AdminOptions {
  core: AdminCore;
  clock: () => number;
  token?: string;
  adminToken?: string;
  /** The relay listens on loopback only: without a token, the dashboard is open. */
  loopback: boolean;
  stats: () => ServerStats;
  maxBodyBytes: number;
  onError?: (err: unknown) => void;
}

export function createAdmin(opts: AdminOptions) {
  const access = new AdminAccess(opts);
  const live = new AdminLive(opts.core, opts.stats, opts.clock, opts.onError);
  return {
    /** The page, bundled with its script and styles (at build time in the binary). */
    page,
    routes: createAdminRoutes(opts.core, live, access, opts.maxBodyBytes),
    socket: createAdminSocket(live, access),
    /** Opens the admin WebSocket (the server has already refused other origins and hosts); `failed` counts a refused token. */
    upgrade(req: Request, srv: Server<AdminSocketData>, failed: () => void): undefined {
      if (access.mode === "closed") access.check(undefined);
      if (srv.upgrade(req, { data: { admin: true, failed, sink: null, timer: null } })) return undefined;
      throw new ClawlinkError("bad_request", "this endpoint speaks WebSocket only", "the dashboard at / connects to it");
    },
    close: () => live.close(),
  };
}
