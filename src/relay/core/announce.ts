/** Tells the bus what a store operation changed. */
import type { Bus } from "../bus/port";
import { NO_EFFECTS, type Effects } from "../store/port";

export function announce(bus: Bus, effects: Effects) {
  if (effects === NO_EFFECTS) return;
  const sent = effects.sent === true;
  for (const m of effects.messages) bus.publish({ type: "queued", agent: m.to, message: m.msg, priority: m.priority, conn: m.conn }, sent);
  for (const agent of effects.queued) bus.publish({ type: "queued", agent }, sent);
  for (const id of effects.tasks) bus.publish({ type: "task", id }, sent);
}
