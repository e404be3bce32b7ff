/** Tasks: filtered by state and by agent; one opens into its timeline, context and result, and can be canceled. */
import type { AdminTask } from "../../protocol/admin";
import type { Task } from "../../protocol/schemas";
import { ApiError, request } from "../api";
import { confirmAction, field, showDetails, showing } from "../dialogs";
import { byText, formatClock, formatDateTime, formatSpan, h, setText } from "../dom";
import { VirtualList } from "../list";
import { nameOf, relayNow, state } from "../state";
import type { View } from "./view";

const FINAL = new Set(["completed", "failed", "canceled", "expired"]);
const route = (t: { from: string; to: string | null; cap: string | null }) => `${nameOf(t.from)} → ${t.to ? nameOf(t.to) : `any ${t.cap ?? "agent"}`}`;

export function tasksView(): View & { filterAgent(id: string): void } {
  const stateSelect = h("select", { id: "tasks-state" });
  const agentSelect = h("select", { id: "tasks-agent" });
  const summary = h("p", { class: "summary" });
  const list = new VirtualList<AdminTask>({
    id: "tasks",
    label: "Tasks",
    empty: "No task matches. Agents delegate with `clawlink delegate --to NAME --task TEXT`.",
    key: (t) => t.id,
    open: (t) => open(t.id),
    columns: [
      { label: "State", cls: "c-state", text: (t) => t.state, tone: (t) => t.state },
      { label: "Task", cls: "c-text", text: (t) => t.task.split("\n", 1)[0]!, title: (t) => t.id },
      { label: "From → to", cls: "c-route", text: route },
      { label: "Priority", cls: "c-prio", text: (t) => t.priority, tone: (t) => t.priority },
      { label: "Attempts", cls: "c-num", text: (t) => String(t.attempts) },
      { label: "Updated", cls: "c-time", text: (t) => `${formatSpan(relayNow() - Date.parse(t.updated_at))} ago`, title: (t) => formatDateTime(t.updated_at) },
    ],
  });
  stateSelect.addEventListener("change", () => draw());
  agentSelect.addEventListener("change", () => draw());

  const fillStates = () => {
    // The relay sends a count for every state, in lifecycle order.
    const counts: Record<string, number> = state.counts ?? {};
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const options = [["", `all states (${total})`], ...Object.entries(counts).map(([s, n]) => [s, `${s} (${n})`])];
    if (stateSelect.options.length !== options.length) stateSelect.replaceChildren(...options.map(([value]) => h("option", { value })));
    options.forEach(([, label], i) => setText(stateSelect.options[i]!, label!));
  };

  let roster = -1;
  const fillAgents = () => {
    if (roster === state.roster) return;
    roster = state.roster;
    const chosen = agentSelect.value;
    const agents = [...state.agents.values()].sort((a, b) => byText(a.name, b.name));
    const wanted = ["", ...agents.map((a) => a.id)];
    if (chosen && !wanted.includes(chosen)) wanted.push(chosen);
    const current = [...agentSelect.options].map((o) => o.value);
    if (current.join("\n") === wanted.join("\n")) return;
    agentSelect.replaceChildren(...wanted.map((id) => h("option", { value: id }, id ? nameOf(id) : "all agents")));
    agentSelect.value = chosen;
  };

  const draw = () => {
    const s = stateSelect.value;
    const agent = agentSelect.value;
    const shown = [...state.tasks.values()].filter((t) => (!s || t.state === s) && (!agent || t.from === agent || t.to === agent));
    shown.sort((a, b) => (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0));
    list.set(shown);
    const total = state.counts ? Object.values(state.counts).reduce((a, b) => a + b, 0) : 0;
    setText(summary, `${shown.length} shown · ${total} on the relay`);
  };

  let openId: string | undefined;
  let body: HTMLElement | undefined;
  const fill = (t: Task) => {
    const cancel = () =>
      confirmAction({
        title: `Cancel task ${t.id}?`,
        text: `${nameOf(t.from)} is told it was canceled${t.to ? `, and so is ${nameOf(t.to)} if it has it` : ""}. A canceled task cannot be resumed.`,
        action: "Cancel task",
        done: `Task ${t.id} was canceled.`,
        run: () => request("POST", `/v1/admin/tasks/${encodeURIComponent(t.id)}/cancel`, { body: {} }),
      });
    body!.replaceChildren(
      h("dl", { class: "fields" },
        ...field("State", h("span", { class: `badge tone-${t.state}` }, t.state)),
        ...field("From → to", route(t)),
        ...field("Priority", t.priority),
        ...field("Attempts", String(t.attempts)),
        ...field("Lease", `${t.lease_s}s${t.ttl_s ? ` · ttl ${t.ttl_s}s` : ""}`),
        ...(t.note ? field("Latest note", t.note) : []),
        ...field("Created", formatDateTime(t.created_at)),
      ),
      h("h3", {}, "Task"),
      h("pre", { class: "text" }, t.task),
      h("h3", {}, "Timeline"),
      h("ol", { class: "timeline" }, ...t.history.map((e) => h("li", {}, h("span", { class: `badge tone-${e.state}` }, e.state), h("time", { datetime: e.at }, formatClock(e.at)), e.note ? h("span", { class: "note" }, e.note) : null))),
      h("h3", {}, "Context"),
      h("pre", { class: "text" }, Object.keys(t.context).length ? JSON.stringify(t.context, null, 2) : "none"),
      h("h3", {}, "Result"),
      h("pre", { class: "text" }, t.result ?? (FINAL.has(t.state) ? "none" : "not yet")),
      ...(FINAL.has(t.state) ? [] : [h("div", { class: "actions" }, h("button", { type: "button", class: "danger", onclick: cancel }, "Cancel task…"))]),
    );
  };
  const load = async (id: string) => {
    try {
      const t = await request<Task>("GET", `/v1/admin/tasks/${encodeURIComponent(id)}`);
      if (openId === id && body) fill(t);
    } catch (err) {
      body?.replaceChildren(h("p", { class: "error", role: "alert" }, err instanceof ApiError ? err.message : String(err)));
    }
  };
  const open = (id: string) => {
    openId = id;
    body = h("div", { class: "task-details" }, h("p", {}, "Loading…"));
    showDetails(`task:${id}`, `Task ${id}`, body);
    void load(id);
  };
  let lastSeenOpen: string | undefined;

  return {
    id: "tasks",
    title: "Tasks",
    panel: h("section", {},
      h("div", { class: "toolbar" }, h("label", { for: "tasks-state" }, "State"), stateSelect, h("label", { for: "tasks-agent" }, "Agent"), agentSelect, summary),
      list.el,
    ),
    badge: () => String(state.counts ? Object.values(state.counts).reduce((a, b) => a + b, 0) : 0),
    filterAgent(id: string) {
      fillAgents();
      if (![...agentSelect.options].some((o) => o.value === id)) agentSelect.append(h("option", { value: id }, nameOf(id)));
      agentSelect.value = id;
      stateSelect.value = "";
      draw();
    },
    render(changed) {
      if (changed.has("agents")) fillAgents();
      if (changed.has("tasks")) {
        fillStates();
        draw();
      } else if (changed.has("clock") || changed.has("agents")) list.render();
      // The open task changed: read it again (its timeline and result are not in the list's rows).
      if (openId && showing(`task:${openId}`) && changed.has("tasks")) {
        const row = state.tasks.get(openId);
        const stamp = row ? `${row.state}${row.updated_at}` : undefined;
        if (stamp !== lastSeenOpen) {
          lastSeenOpen = stamp;
          void load(openId);
        }
      }
    },
  };
}
