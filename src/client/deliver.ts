/** Sending what must reach the relay (a task's response): a relay that is away for a while is waited for, not given up on. */
import { logger } from "../logger";
import { printable } from "./render";
import type { SendMessage } from "../protocol/schemas";
import { backoffMs, isTransient } from "./backoff";
import type { Client } from "./client";

/** Retries `msg` while the failure is passing (unreachable, 429, a 5xx) and `stopping()` is false; logs and gives up on any other. */
export async function sendPersistently(client: Client, msg: SendMessage, about: string, stopping: () => boolean): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.send(msg);
      return;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "unknown_task") return logger.warn(printable(`could not respond to ${about}: the relay no longer has it (it restarted in memory, or its Redis lost it), so this answer is dropped; its sender is told to send it again`));
      // The relay forgot this agent (it restarted): the inbox stream registers it again, then the answer can go.
      const passing = isTransient(e) || (code === "not_registered" && attempt < 8);
      if (!passing || stopping()) return logger.warn(printable(`could not respond to ${about}: ${(e as Error).message}`));
      if (attempt === 0) logger.warn(printable(`could not respond to ${about} yet (${(e as Error).message}); retrying`));
      await Bun.sleep(backoffMs(attempt));
    }
  }
}
