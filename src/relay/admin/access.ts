/**
 * Who may open the dashboard and use `/v1/admin/*`: whoever holds the admin token when one is set, else
 * the relay token, else anyone on a loopback relay. A relay open to the network without a token keeps
 * its dashboard closed: the admin API can unregister any agent, more than an agent may do.
 */
import { ClawlinkError } from "../../errors";
import { safeEqual } from "../ids";

const HINT = "enter the relay's --admin-token (its --token when it has no admin token); the page keeps it for this tab only";

export class AdminAccess {
  readonly mode: "none" | "token" | "closed";
  private secret: string | undefined;

  constructor(opts: { token?: string; adminToken?: string; loopback: boolean }) {
    this.secret = opts.adminToken || opts.token || undefined;
    this.mode = this.secret !== undefined ? "token" : opts.loopback ? "none" : "closed";
  }

  /** Throws unless `value` opens the dashboard. */
  check(value: string | undefined) {
    if (this.mode === "none") return;
    if (this.mode === "closed") {
      throw new ClawlinkError(
        "admin_closed",
        "this relay is open to the network without a token, so its dashboard is closed",
        "start the relay with --admin-token (or --token) to open the dashboard",
      );
    }
    if (value === undefined || value === "") throw new ClawlinkError("unauthorized", "the dashboard needs the admin token", HINT);
    if (!safeEqual(value, this.secret!)) throw new ClawlinkError("unauthorized", "the admin token is not valid for this relay", HINT);
  }

  /** An admin request: the token in `Authorization: Bearer` (the server has already refused other origins and hosts). */
  request(req: Request) {
    const header = req.headers.get("authorization");
    const m = header === null ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (header !== null && !m) throw new ClawlinkError("unauthorized", "the Authorization header must be `Bearer TOKEN`", HINT);
    this.check(m?.[1]);
  }
}
