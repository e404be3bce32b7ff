/**
 * Task page cursors: the id of the last task on a page, signed with a key derived from the relay's
 * key (shared by relays on one store) for the agent and the filters it listed with. A cursor made up, edited, or given for another
 * agent or other filters is a 400, never a page that starts somewhere the relay did not choose.
 */
import { createHmac, randomBytes } from "node:crypto";
import { badRequest } from "../../errors";
import type { TaskState } from "../../protocol/schemas";

export interface PageFilter {
  readonly state?: TaskState;
  readonly role?: "sent" | "held";
}

const SHAPE = /^(t_[0-9a-z]{1,62})\.([A-Za-z0-9_-]{22})$/;

export class Cursors {
  constructor(private key: Uint8Array = randomBytes(32)) {}

  /** Signs with a key derived from the relay's key, so every relay sharing a store reads the others' cursors. */
  derive(relayKey: Uint8Array) {
    this.key = createHmac("sha256", relayKey).update("task page cursors").digest();
  }

  sign(agentId: string, filter: PageFilter, lastId: string): string {
    return `${lastId}.${this.mac(agentId, filter, lastId)}`;
  }

  /** The task id a cursor this relay gave `agentId` for `filter` names; a 400 for anything else. */
  read(agentId: string, filter: PageFilter, cursor: string): string {
    const m = SHAPE.exec(cursor);
    if (!m || this.mac(agentId, filter, m[1]!) !== m[2]) {
      throw badRequest(
        "cursor is not one this relay gave out for this list",
        "pass the next_cursor of the previous page unchanged, with the same --state and role; or leave it out to start from the first page (a relay that restarted gives out new cursors)",
      );
    }
    return m[1]!;
  }

  private mac(agentId: string, filter: PageFilter, lastId: string) {
    return createHmac("sha256", this.key)
      .update(`${agentId}\0${filter.state ?? ""}\0${filter.role ?? ""}\0${lastId}`)
      .digest("base64url")
      .slice(0, 22);
  }
}
