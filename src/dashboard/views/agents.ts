/** Agents: who is registered, who listens, how much waits for each, and unregistering one. */
import type { AdminAgent } from "../../protocol/admin";
import { request } from "../api";
import { confirmAction, field, showDetails, showing } from "../dialogs";
import { byText, count, formatDateTime, formatSpan, h, setText } from "../dom";
import { VirtualList } from "../list";
import { relayNow, state } from "../state";
import type { View } from "./view";

export const lastSeen = (a: AdminAgent) => (a.status === "listening" ? "connected" : `${formatSpan(relayNow() - Date.parse(a.last_seen))} ago`);

export function agentsView(go: (view: string, filter?: string) => void): View {
  const search = h("input", { type: "search", id: "agents-search", placeholder: "name, capability or machine", autocomplete: "off" });
  const summary = h("p", { class: "summary" });
  const list = new VirtualList<AdminAgent>({
    id: "agents",
    label: "Agents",
    empty: "No agent is registered yet. Agents join with `clawlink register --name NAME`.",
    key: (a) => a.id,
    open: (a) => open(a),
    columns: [
      { label: "Name", cls: "c-name", text: (a) => a.name, title: (a) => a.id },
      { label: "Capabilities", cls: "c-caps", text: (a) => a.caps.join(", ") },
      { label: "Machine", cls: "c-machine", text: (a) => a.machine },
      { label: "Status", cls: "c-status", text: (a) => a.status, tone: (a) => a.status },
      { label: "Queued", cls: "c-num", text: (a) => String(a.queued), unit: "queued" },
      { label: "In flight", cls: "c-num", text: (a) => String(a.in_flight), unit: "in flight" },
      { label: "Tasks", cls: "c-num", text: (a) => String(a.tasks_held), unit: "tasks" },
      { label: "Last seen", cls: "c-time", text: lastSeen, title: (a) => formatDateTime(a.last_seen) },
    ],
  });
  search.addEventListener("input", () => draw());

  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const all = [...state.agents.values()];
    const shown = q ? all.filter((a) => a.name.toLowerCase().includes(q) || a.machine.toLowerCase().includes(q) || a.caps.some((c) => c.includes(q))) : all;
    shown.sort((a, b) => byText(a.name, b.name));
    list.set(shown);
    const by = (s: string) => all.filter((a) => a.status === s).length;
    setText(summary, `${count(all.length, "agent")} · ${by("listening")} listening · ${by("online")} online · ${by("stale")} stale`);
  };

  /** The open agent's fields, redrawn in place as its row changes. */
  let fields: HTMLElement | undefined;
  let openId: string | undefined;
  const fill = () => {
    const a = openId === undefined ? undefined : state.agents.get(openId);
    if (!fields) return;
    if (!a) {
      fields.replaceChildren(h("p", {}, "This agent is no longer registered."));
      return;
    }
    fields.replaceChildren(
      ...field("Id", a.id),
      ...field("Status", a.status),
      ...field("Capabilities", a.caps.join(", ") || "none"),
      ...field("Machine", a.machine || "not given"),
      ...field("Description", a.description || "none"),
      ...field("Registered", formatDateTime(a.registered_at)),
      ...field("Last seen", lastSeen(a)),
      ...field("Queued", String(a.queued)),
      ...field("In flight", String(a.in_flight)),
      ...field("Tasks held", String(a.tasks_held)),
    );
  };
  const open = (a: AdminAgent) => {
    openId = a.id;
    fields = h("dl", { class: "fields" });
    fill();
    const unregister = () =>
      confirmAction({
        title: `Unregister ${a.name}?`,
        text: `${a.name} loses its identity: its sockets close, the tasks it holds fail, and what waits in its queue is dropped. It can register again.`,
        action: "Unregister",
        done: `${a.name} was unregistered.`,
        run: () => request("DELETE", `/v1/admin/agents/${encodeURIComponent(a.id)}`),
      });
    showDetails(
      `agent:${a.id}`,
      `Agent ${a.name}`,
      fields,
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => go("tasks", a.id) }, "Show its tasks"),
        h("button", { type: "button", class: "danger", onclick: unregister }, "Unregister…"),
      ),
    );
  };

  return {
    id: "agents",
    title: "Agents",
    panel: h("section", {}, h("div", { class: "toolbar" }, h("label", { for: "agents-search" }, "Filter"), search, summary), list.el),
    badge: () => String(state.agents.size),
    render(changed) {
      if (changed.has("agents")) draw();
      else if (changed.has("clock")) list.render();
      if (openId !== undefined && showing(`agent:${openId}`) && (changed.has("agents") || changed.has("clock"))) fill();
    },
  };
}
