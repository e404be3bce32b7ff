/** Relay health: version, uptime, store, agents, connections and memory. */
import { count, formatBytes, formatDateTime, formatSpan, h, setText } from "../dom";
import { state } from "../state";
import type { View } from "./view";

export function relayView(): View {
  const cards = new Map<string, { value: HTMLElement; note: HTMLElement }>();
  const card = (id: string, label: string) => {
    const value = h("p", { class: "card-value", id: `card-${id}` });
    const note = h("p", { class: "card-note" });
    cards.set(id, { value, note });
    return h("div", { class: "card" }, h("h3", {}, label), value, note);
  };
  const set = (id: string, value: string, note = "") => {
    const c = cards.get(id)!;
    setText(c.value, value);
    setText(c.note, note);
  };
  const grid = h("div", { class: "cards" },
    card("version", "Version"),
    card("uptime", "Uptime"),
    card("store", "Store"),
    card("agents", "Agents"),
    card("connections", "Connections"),
    card("memory", "Memory"),
  );

  return {
    id: "relay",
    title: "Relay",
    panel: h("section", {}, grid),
    badge: () => (state.health ? formatSpan(state.health.uptime_s * 1000) : ""),
    render(changed) {
      const hl = state.health;
      if (!hl || !changed.has("health")) return;
      set("version", hl.version, `clock ${formatDateTime(hl.now)}`);
      set("uptime", formatSpan(hl.uptime_s * 1000), `since ${formatDateTime(hl.started_at)}`);
      const store = hl.store.kind === "memory" ? "Memory" : hl.store.kind === "sqlite" ? "SQLite" : "Redis";
      const where = hl.store.kind === "memory" ? "nothing on disk; a restart forgets everything" : [hl.store.path, hl.store.peers?.length ? `with ${hl.store.peers.length} peer relays: ${hl.store.peers.join(", ")}` : ""].filter(Boolean).join(", ");
      set("store", store, where);
      set("agents", String(hl.agents.total), `${hl.agents.listening} listening · ${hl.agents.online} online · ${hl.agents.stale} stale`);
      set("connections", String(hl.connections.websockets), `agent sockets · ${count(hl.connections.dashboards, "dashboard")} · ${count(hl.connections.requests, "request")} in progress`);
      set("memory", formatBytes(hl.memory.rss), `resident · ${formatBytes(hl.memory.heap_used)} JavaScript heap`);
    },
  };
}
