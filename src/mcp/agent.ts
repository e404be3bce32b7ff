/** The identity an MCP server acts as: its client, and the inbox stream that fills its mailbox while the server runs. */
import type { ParsedArgs } from "citty";
import { backoffMs } from "../client/backoff";
import { followInbox } from "../client/stream";
import { globalArgs, parseArg, resolveContext, type Context } from "../commands/_shared";
import { missingIdentity } from "../config";
import { ClawlinkError, asClawlinkError } from "../errors";
import { NewAgentName } from "../protocol/schemas";
import { Mailbox, type MailboxHooks } from "./mailbox";

/** The client flags, --json aside. */
export type Flags = ParsedArgs<Omit<typeof globalArgs, "json">>;

/** A line for the model's client as a log notification (and for stderr): what changed about the identity the tools act as. */
export type Note = (level: "info" | "warning", text: string) => void;

/** The context of identity `as` (or the home's default); one not registered yet resolves the relay and token alone. */
function contextOf(flags: Flags, as: string | undefined): Context<{}> {
  const args = { ...flags, as, json: false } as ParsedArgs<typeof globalArgs>;
  const ctx = resolveContext<{}>(args);
  if (!as || ctx.saved) return ctx;
  // The server still starts: `register` (whose name defaults to `as`) creates the identity.
  const missing = new ClawlinkError("no_identity", `${as} is not registered yet: ${ctx.home} has no saved identity of that name`, missingIdentity(ctx.home, as).hint);
  return {
    ...ctx,
    me() {
      throw missing;
    },
  };
}

export class AgentSession {
  /** Resolved like any client command's: flags, then environment, then the saved identity. */
  ctx: Context<{}>;
  /** The name the server was started as (--as or CLAWLINK_AS), registered or not: `register`'s default name. */
  readonly wanted: string | undefined;
  readonly mailbox: Mailbox;
  private following: AbortController | undefined;

  constructor(
    private flags: Flags,
    announce: MailboxHooks["announce"],
    private note: Note,
  ) {
    this.wanted = flags.as || process.env.CLAWLINK_AS || undefined;
    // A name that could never be registered is a mistake in the client's config: say so before serving.
    if (this.wanted !== undefined) parseArg(NewAgentName, this.wanted, flags.as ? "--as" : "CLAWLINK_AS", "give the name of an agent registered in this home, or of one the model may register");
    this.ctx = contextOf(flags, this.wanted);
    this.mailbox = new Mailbox({
      announce,
      ack: (ids) => {
        const me = this.ctx.identity;
        if (me) this.ctx.client.ack(me.id, ids).catch(() => {}); // lost, it is redelivered and settled again
      },
    });
  }

  /** Follows the inbox as the current identity (none yet: nothing to follow until `register`). */
  listen() {
    this.stop();
    const me = this.ctx.identity;
    if (!me) return;
    const following = (this.following = new AbortController());
    this.follow(following.signal);
  }

  /** From now on, act as the saved identity `name` (just registered): another name switches the identity the tools act as. */
  become(name: string) {
    this.stop();
    this.ctx = contextOf(this.flags, name);
    this.mailbox.clear();
    this.listen();
  }

  stop() {
    this.following?.abort();
    this.following = undefined;
  }

  private async follow(signal: AbortSignal) {
    for (let attempt = 0; !signal.aborted; attempt++) {
      const { client, home } = this.ctx;
      const me = this.ctx.identity!;
      try {
        await followInbox({
          client,
          me,
          home,
          hold: true,
          signal,
          doing: "announcing messages",
          handle: (m) => this.mailbox.receive(m),
          // The relay gave the agent a new id: the tools act as it from now on, and the model is told.
          onRenewed: (renewed) => {
            this.ctx = contextOf(this.flags, renewed.name);
            this.note(
              "warning",
              `the relay restarted without the key that issued ${renewed.name}'s secret, so it could not take back ${me.id}: ${renewed.name} is registered afresh as ${renewed.id}. ` +
                `Messages and tasks addressed to ${me.id} are gone; peers that use the name ${renewed.name} reach you as before.`,
            );
          },
        });
        return;
      } catch (err) {
        // Not reachable yet, or refused: keep trying, quietly; a tool called meanwhile reports the cause.
        const e = asClawlinkError(err);
        if (attempt === 0) this.note("warning", `cannot follow the inbox of ${me.name} yet: ${e.message}; retrying`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoffMs(attempt));
          signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    }
  }
}
