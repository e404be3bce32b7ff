/** Messages: throughput over five minutes and the live feed; a message's body only when it is opened. */
import type { FeedItem } from "../../protocol/admin";
import type { Message } from "../../protocol/schemas";
import { ApiError, request } from "../api";
import { throughputChart } from "../chart";
import { field, showDetails } from "../dialogs";
import { formatClock, formatDateTime, h, setText } from "../dom";
import { VirtualList } from "../list";
import { FEED_KEPT, nameOf, state } from "../state";
import type { View } from "./view";

/** The part of a message that is its body, as text. */
function bodyOf(m: Message): string {
  switch (m.type) {
    case "task":
      return m.task + (Object.keys(m.context).length ? `\n\ncontext: ${JSON.stringify(m.context, null, 2)}` : "");
    case "response":
      return m.result;
    case "broadcast":
      return m.content;
    case "progress":
      return m.note;
    case "status":
      return `${m.state}${m.note ? `: ${m.note}` : ""}`;
    case "file":
      return `${m.action} ${m.key} (version ${m.version}) by ${m.by}`;
  }
}

export function messagesView(): View {
  const chart = throughputChart();
  const pause = h("button", { type: "button", "aria-pressed": "false", class: "toggle" }, "Pause feed");
  const summary = h("p", { class: "summary" });
  let paused = false;
  let missed = 0;
  const list = new VirtualList<FeedItem>({
    id: "feed",
    label: "Message feed, newest first",
    empty: "No message yet. The feed shows messages sent from now on.",
    key: (m) => m.id,
    open: (m) => open(m),
    columns: [
      { label: "Time", cls: "c-clock", text: (m) => formatClock(m.created_at), title: (m) => formatDateTime(m.created_at) },
      { label: "Type", cls: "c-type", text: (m) => m.type, tone: (m) => m.type },
      { label: "From → to", cls: "c-route", text: (m) => `${nameOf(m.from)} → ${nameOf(m.to)}` },
      { label: "Priority", cls: "c-prio", text: (m) => m.priority, tone: (m) => m.priority },
      { label: "About", cls: "c-id", text: (m) => m.task_id ?? m.id },
    ],
  });
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    setText(pause, paused ? "Resume feed" : "Pause feed");
    if (!paused) draw();
  });

  const draw = () => {
    const added = state.feedAdded;
    state.feedAdded = 0;
    if (paused) {
      missed += added;
    } else {
      list.set(state.feed, added + missed);
      missed = 0;
    }
    setText(summary, paused ? `paused · ${missed} new since` : `${state.feed.length} of the last ${FEED_KEPT} kept`);
  };

  const open = (m: FeedItem) => {
    const body = h("pre", { class: "text" }, "Loading…");
    showDetails(
      `message:${m.id}`,
      `${m.type[0]!.toUpperCase()}${m.type.slice(1)} ${m.id}`,
      h("dl", { class: "fields" }, ...field("From", nameOf(m.from)), ...field("To", nameOf(m.to)), ...field("Priority", m.priority), ...field("Sent", formatDateTime(m.created_at)), ...(m.task_id ? field("Task", m.task_id) : [])),
      h("h3", {}, "Body"),
      body,
    );
    request<Message>("GET", `/v1/admin/messages/${encodeURIComponent(m.id)}`).then(
      (msg) => (body.textContent = bodyOf(msg)),
      (err) => (body.textContent = err instanceof ApiError ? `${err.message}${err.hint ? ` (${err.hint})` : ""}` : String(err)),
    );
  };

  return {
    id: "messages",
    title: "Messages",
    panel: h("section", {}, chart.el, h("div", { class: "toolbar" }, pause, summary), list.el),
    badge: () => `${state.throughput?.counts.at(-1) ?? 0}/s`,
    render(changed) {
      if (changed.has("feed")) draw();
      if (changed.has("health")) chart.draw(state.throughput);
      if (changed.has("agents")) list.render();
    },
  };
}
