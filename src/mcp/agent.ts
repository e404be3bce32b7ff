/** The identity an MCP server acts as: its client, and the inbox stream that fills its mailbox while the server runs. */
import type { ParsedArgs } from "citty";
import { backoffMs } from "../client/backoff";
import { printable } from "../client/render";
import { followInbox } from "../client/stream";
import { globalArgs, resolveContext, type Context } from "../commands/_shared";
import { asClawlinkError } from "../errors";
import { logger } from "../logger";
import { Mailbox, type MailboxHooks } from "./mailbox";

/** The client flags, --json aside. */
export type Flags = ParsedArgs<Omit<typeof globalArgs, "json">>;

const contextOf = (flags: Flags, as?: string) => resolveContext<{}>({ ...flags, ...(as ? { as } : {}), json: false } as ParsedArgs<typeof globalArgs>);

export class AgentSession {
  /** Resolved like any client command's: flags, then environment, then the saved identity. */
  ctx: Context<{}>;
  readonly mailbox: Mailbox;
  private following: AbortController | undefined;

  constructor(
    private flags: Flags,
    announce: MailboxHooks["announce"],
  ) {
    this.ctx = contextOf(flags);
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

  /** From now on, act as the saved identity `name` (just registered). */
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
          // The relay gave the agent a new id: the tools act as it from now on.
          onRenewed: (renewed) => (this.ctx = contextOf(this.flags, renewed.name)),
        });
        return;
      } catch (err) {
        // Not reachable yet, or refused: keep trying, quietly; a tool called meanwhile reports the cause.
        const e = asClawlinkError(err);
        if (attempt === 0) logger.warn(printable(`cannot follow the inbox of ${me.name} yet: ${e.message}${e.hint ? ` (${e.hint})` : ""}; retrying`));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoffMs(attempt, 500, 10_000));
          signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    }
  }
}
