/** Who is calling: the relay token, an agent's secret, or nobody. */
import { ClawlinkError } from "../errors";
import type { Hub } from "./hub";
import { safeEqual } from "./ids";
import type { AgentRecord } from "./store";

export type Caller = { kind: "agent"; agent: AgentRecord } | { kind: "member" };

const unauthorized = (message: string) =>
  new ClawlinkError("unauthorized", 401, message, "pass the same --token (or CLAWLINK_TOKEN) that the relay was started with, and register again if the relay was restarted");

export class Auth {
  constructor(
    private hub: Hub,
    private token: string | undefined,
  ) {}

  private bearer(req: Request): string | undefined {
    const h = req.headers.get("authorization");
    if (!h) return undefined;
    const m = /^Bearer\s+(.+)$/i.exec(h.trim());
    return m?.[1];
  }

  /** Anyone the relay lets in: with a token set, the token or an agent's secret; without one, everyone. */
  member(req: Request): Caller {
    const value = this.bearer(req);
    if (value !== undefined) {
      const agent = this.hub.authenticate(value);
      if (agent) return { kind: "agent", agent };
      if (this.token !== undefined && safeEqual(value, this.token)) return { kind: "member" };
    }
    if (this.token === undefined) return { kind: "member" };
    throw unauthorized(value === undefined ? "this relay needs a token" : "the token is not valid for this relay");
  }

  /** An agent acting as itself: its secret is required, whatever the relay token. */
  agent(req: Request): AgentRecord {
    const value = this.bearer(req);
    if (value !== undefined) {
      const agent = this.hub.authenticate(value);
      if (agent) return agent;
      if (this.token !== undefined && !safeEqual(value, this.token)) throw unauthorized("the token is not valid for this relay");
    } else if (this.token !== undefined) {
      throw unauthorized("this relay needs a token");
    }
    throw new ClawlinkError(
      "not_registered",
      401,
      value === undefined ? "this request must come from a registered agent" : "the relay does not know this agent (it may have restarted)",
      "run `clawlink register --name NAME` (or `clawlink heartbeat` to re-register a saved identity)",
    );
  }

  /** Registering needs the relay token when one is set. */
  register(req: Request) {
    if (this.token === undefined) return;
    const value = this.bearer(req);
    if (value !== undefined && (safeEqual(value, this.token) || this.hub.authenticate(value))) return;
    throw unauthorized(value === undefined ? "this relay needs a token to register" : "the token is not valid for this relay");
  }
}
