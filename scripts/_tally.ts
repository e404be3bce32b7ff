/**
 * Matches each id the server confirmed to a sender with its arrival at the listener. Only ids not yet
 * matched are kept, so the map stays near the bench's window: a set of every id seen grows to millions
 * in a run, and adding to it cost the bench's clients more than reading the messages.
 */
export class Tally {
  /** 1: confirmed, not arrived yet; 2: arrived, not confirmed yet. */
  private open = new Map<string, 1 | 2>();
  /** Confirmed ids that have not arrived yet. */
  waiting = 0;
  /** Every arrival, duplicates included. */
  arrivals = 0;
  matched = 0;
  /** Ids confirmed more than once, or that arrived again before their confirmation. */
  duplicated = 0;

  confirm(id: string) {
    const state = this.open.get(id);
    if (state === 2) {
      this.open.delete(id);
      this.matched++;
    } else if (state === 1) this.duplicated++;
    else {
      this.open.set(id, 1);
      this.waiting++;
    }
  }

  arrive(id: string) {
    this.arrivals++;
    const state = this.open.get(id);
    if (state === 1) {
      this.open.delete(id);
      this.waiting--;
      this.matched++;
    } else if (state === 2) this.duplicated++;
    else this.open.set(id, 2);
  }

  /**
   * `lost`: confirmed and never arrived. `unexpected`: arrived and never confirmed, or arrived again
   * after it was matched (a late duplicate: only unmatched ids are remembered).
   */
  result() {
    let unexpected = 0;
    for (const state of this.open.values()) if (state === 2) unexpected++;
    return { lost: this.waiting, duplicated: this.duplicated, unexpected };
  }
}
