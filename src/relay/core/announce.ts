/** Tells the bus what a store operation changed. */
import type { Bus } from "../bus/port";
import { NO_EFFECTS, type Effects } from "../store/port";

export function announce(bus: Bus, effects: Effects) {
  if (effects === NO_EFFECTS) return;
  const { queued, tasks } = effects;
  for (const agent of queued.length > 1 ? new Set(queued) : queued) bus.publish({ type: "queued", agent });
  for (const id of tasks.length > 1 ? new Set(tasks) : tasks) bus.publish({ type: "task", id });
}
