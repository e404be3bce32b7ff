/** Who is calling: the relay token, an agent's secret, or nobody. */
import { ClawlinkError, forbidden } from "../errors";
import type { RegisterRequest } from "../protocol/schemas";
import type { AgentRecord, Relay } from "./core/relay";
import { safeEqual } from "./ids";
import { secretId } from "./keys";

export type Caller = { kind: "agent"; agent: AgentRecord } | { kind: "member" };

/** Who asks to register: the token holder, anyone (no token set), or an agent by its own secret (known or recognised). */
export type Registrar = { kind: "token" } | { kind: "open" } | { kind: "agent"; id: string };

const unauthorized = (message: string, hint = "pass the same --token (or CLAWLINK_TOKEN) that the relay was started with, and register again if the relay was restarted") =>
  new ClawlinkError("unauthorized", message, hint);

const notRegistered = (message: string) =>
  new ClawlinkError("not_registered", message, "run `clawlink register --name NAME` (or `clawlink heartbeat` to re-register a saved identity)");

export class Auth {
  constructor(
    private relay: Relay,
    private token: string | undefined,
  ) {}

  private bearer(req: Request): string | undefined {
    const h = req.headers.get("authorization");
    if (!h) return undefined;
    if (h.startsWith("Bearer ") && h.indexOf(" ", 7) === -1) return h.slice(7) || undefined;
    const m = /^Bearer\s+(.+)$/i.exec(h.trim());
    return m?.[1];
  }

  /** A relay without a token: anyone who reaches it may register, and call A2A endpoints as `a2a`. */
  get open() {
    return this.token === undefined;
  }

  isToken(value: string) {
    return this.token !== undefined && safeEqual(value, this.token);
  }

  /** Anyone the relay lets in: with a token set, the token or an agent's secret; without one, everyone. */
  async member(req: Request): Promise<Caller> {
    const value = this.bearer(req);
    if (value !== undefined) {
      const agent = await this.relay.authenticate(value);
      if (agent) return { kind: "agent", agent };
      if (this.isToken(value)) return { kind: "member" };
    }
    if (this.token === undefined) return { kind: "member" };
    // A secret of an agent the relay no longer has (it restarted) is not a wrong token: say which it is.
    const id = value === undefined ? "" : secretId(value);
    const lost = value === undefined ? undefined : this.relay.lostName(value);
    if (lost) throw lost;
    if (id.startsWith("a_") && !(await this.relay.knows(id))) throw notRegistered(`the relay does not know agent ${id} (it may have restarted)`);
    throw unauthorized(value === undefined ? "this relay needs a token" : "the token is not valid for this relay");
  }

  /**
   * A caller from outside ClawLink (A2A): an agent's secret, or the relay token when one is set; on a
   * relay without a token, which lets anyone register, also no credential at all. Undefined for anything else.
   */
  async credential(req: Request): Promise<Caller | undefined> {
    const value = this.bearer(req);
    if (value === undefined) return this.token === undefined ? { kind: "member" } : undefined;
    const agent = await this.relay.authenticate(value);
    if (agent) return { kind: "agent", agent };
    return this.isToken(value) ? { kind: "member" } : undefined;
  }

  /** The agent whose secret the request carries when the relay verified it moments ago; undefined when `agent` must look further. */
  verifiedAgent(req: Request): AgentRecord | undefined {
    const value = this.bearer(req);
    return value === undefined ? undefined : this.relay.verifiedAgent(value);
  }

  /** An agent acting as itself: its secret is required, whatever the relay token. */
  async agent(req: Request): Promise<AgentRecord> {
    const value = this.bearer(req);
    if (value === undefined) {
      if (this.token !== undefined) throw unauthorized("this relay needs a token");
      throw notRegistered("this request must come from a registered agent");
    }
    const agent = await this.relay.authenticate(value);
    if (agent) return agent;
    if (this.isToken(value)) throw notRegistered("the relay token lets an agent register; acting as an agent needs that agent's own secret");
    // A secret names its agent (`<id>.<random>`): a stale one after a restart reads differently from a wrong one.
    const id = secretId(value);
    if (id && (await this.relay.knows(id))) {
      throw unauthorized(`the secret does not match agent ${id}`, "use the identity file that registered this agent, or register under a new name");
    }
    const lost = this.relay.lostName(value);
    if (lost) throw lost;
    if (id || this.token === undefined) throw notRegistered(`the relay does not know agent ${id || "with this secret"} (it may have restarted)`);
    throw unauthorized("the token is not valid for this relay");
  }

  /**
   * Registering needs the relay token when one is set. An agent's own secret re-registers that agent
   * only, also after a restart when the relay recognises the secret as one it issued.
   */
  async register(req: Request): Promise<Registrar> {
    if (this.token === undefined) return { kind: "open" };
    const value = this.bearer(req);
    if (value === undefined) throw unauthorized("this relay needs a token to register");
    if (this.isToken(value)) return { kind: "token" };
    const agent = await this.relay.authenticate(value);
    if (agent) return { kind: "agent", id: agent.id };
    const recognised = this.relay.recognise(value);
    if (recognised) return { kind: "agent", id: recognised };
    const id = secretId(value);
    if (id && (await this.relay.knows(id))) {
      throw unauthorized(`the secret does not match agent ${id}`, "use the identity file that registered this agent, or register with the relay token");
    }
    if (id) {
      throw unauthorized(`the relay does not know agent ${id} (it may have restarted); registering it again needs the relay token`, "pass the relay's token with --token or CLAWLINK_TOKEN");
    }
    throw unauthorized("the token is not valid for this relay");
  }

  /** The second half of `register`, once the body is parsed: a secret cannot mint new agents. */
  checkRegistration(caller: Registrar, body: RegisterRequest) {
    if (caller.kind === "agent" && body.id !== caller.id) {
      throw forbidden(
        `agent ${caller.id} can re-register only itself; a new agent joins with the relay token`,
        "pass the relay token with --token (or CLAWLINK_TOKEN)",
      );
    }
  }
}
