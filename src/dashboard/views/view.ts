/** What the shell needs of a view: its panel, the count on its tab, and a way to draw what changed. */
import type { Part } from "../state";

export interface View {
  id: string;
  title: string;
  panel: HTMLElement;
  /** Short text beside the tab's title (a count or a rate). */
  badge(): string;
  /** Draws the parts that changed; "clock" means only time went by (countdowns, "seen 5s ago"). */
  render(changed: ReadonlySet<Part | "clock">): void;
}

/** Every part, for a view that was just shown. */
export const ALL: ReadonlySet<Part | "clock"> = new Set(["agents", "tasks", "files", "feed", "health", "clock"]);
