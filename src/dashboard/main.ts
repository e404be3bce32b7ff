/** The dashboard's shell: access, the tabs, the connection, and drawing what changed once per frame. */
import { ApiError, session, token } from "./api";
import { connect, type Status } from "./connection";
import { $, formatSpan, h, setText } from "./dom";
import { apply, onChange, state } from "./state";
import { agentsView } from "./views/agents";
import { filesView } from "./views/files";
import { messagesView } from "./views/messages";
import { relayView } from "./views/relay";
import { tasksView } from "./views/tasks";
import { ALL, type View } from "./views/view";

const THEMES = ["auto", "light", "dark"] as const;

function setupTheme() {
  const button = $<HTMLButtonElement>("#theme");
  const show = (theme: string) => {
    if (theme === "auto") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    button.textContent = `Theme: ${theme}`;
    button.title = theme === "auto" ? "Colours follow the system's light or dark setting" : `Always ${theme}`;
  };
  let theme = localStorage.getItem("clawlink.theme") ?? "auto";
  show(theme);
  button.addEventListener("click", () => {
    theme = THEMES[(THEMES.indexOf(theme as (typeof THEMES)[number]) + 1) % THEMES.length]!;
    localStorage.setItem("clawlink.theme", theme);
    show(theme);
  });
}

function setupViews() {
  const tasks = tasksView();
  const go = (id: string, agent?: string) => {
    $<HTMLDialogElement>("#details").close();
    if (agent && id === "tasks") tasks.filterAgent(agent);
    location.hash = id;
  };
  const views: View[] = [agentsView(go), tasks, messagesView(), filesView(), relayView()];
  const tablist = $("#tabs");
  const main = $("#views");
  const tabs = new Map<string, { tab: HTMLButtonElement; badge: HTMLElement; panel: HTMLElement }>();
  for (const view of views) {
    const badge = h("span", { class: "tab-badge" });
    const tab = h("button", { type: "button", role: "tab", id: `tab-${view.id}`, "aria-controls": `panel-${view.id}`, "aria-selected": "false", tabindex: -1 }, view.title, badge);
    tab.addEventListener("click", () => (location.hash = view.id));
    view.panel.id = `panel-${view.id}`;
    view.panel.classList.add("panel");
    view.panel.setAttribute("role", "tabpanel");
    view.panel.setAttribute("aria-labelledby", tab.id);
    view.panel.hidden = true;
    tablist.append(tab);
    main.append(view.panel);
    tabs.set(view.id, { tab, badge, panel: view.panel });
  }
  tablist.addEventListener("keydown", (ev) => {
    const i = views.findIndex((v) => v.id === active.id);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: views.length - 1 }[ev.key];
    if (next === undefined) return;
    ev.preventDefault();
    const view = views[(next + views.length) % views.length]!;
    location.hash = view.id;
    // Selected now, not on `hashchange`: a Tab pressed right after must leave from the new tab.
    select();
    tabs.get(view.id)!.tab.focus();
  });

  let active = views[0]!;
  const select = () => {
    const id = location.hash.slice(1);
    active = views.find((v) => v.id === id) ?? views[0]!;
    for (const [vid, t] of tabs) {
      const on = vid === active.id;
      t.tab.setAttribute("aria-selected", String(on));
      t.tab.tabIndex = on ? 0 : -1;
      t.panel.hidden = !on;
    }
    active.render(ALL);
  };
  window.addEventListener("hashchange", () => {
    if (location.hash.slice(1) !== active.id) select();
  });
  select();

  const badges = () => {
    for (const view of views) setText(tabs.get(view.id)!.badge, view.badge());
    const hl = state.health;
    if (hl) setText($("#relay-line"), `relay ${hl.version} · ${hl.store.kind} · up ${formatSpan(hl.uptime_s * 1000)}`);
  };
  onChange((changed) => {
    active.render(changed);
    badges();
  });
  // Time goes by without frames: countdowns and "seen 5s ago" move once a second.
  setInterval(() => active.render(new Set(["clock"])), 1000);
}

const STATUS_TEXT: Record<Status, string> = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…" };

function showStatus(s: Status | "locked") {
  const el = $("#status");
  el.dataset.state = s;
  setText(el, s === "locked" ? "Needs the token" : STATUS_TEXT[s]);
}

/** Asks for the token until the relay takes one; resolves once it did. */
function askToken(message = ""): Promise<void> {
  const dialog = $<HTMLDialogElement>("#prompt");
  const input = $<HTMLInputElement>("#prompt-token");
  const error = $("#prompt-error");
  const submit = $<HTMLButtonElement>("#prompt-submit");
  showStatus("locked");
  error.textContent = message;
  input.value = "";
  if (!dialog.open) dialog.showModal();
  input.focus();
  return new Promise((resolve) => {
    // The prompt cannot be waved away: without the token there is nothing to show.
    dialog.oncancel = (ev) => ev.preventDefault();
    $<HTMLFormElement>("#prompt-form").onsubmit = async (ev) => {
      ev.preventDefault();
      const value = input.value.trim();
      if (!value) return;
      submit.disabled = true;
      error.textContent = "";
      try {
        await session(value);
        token.set(value);
        dialog.close();
        resolve();
      } catch (err) {
        error.textContent = err instanceof ApiError ? (err.code === "unauthorized" ? "That token is not valid for this relay." : err.message) : String(err);
        input.select();
      } finally {
        submit.disabled = false;
      }
    };
  });
}

/** Until the relay answers which access it wants: a relay still starting up is tried again. */
async function admitted(): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      const s = await session();
      if (s.auth === "token" && !token.get()) await askToken();
      return true;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 401) {
        const saved = token.get();
        token.clear();
        await askToken(saved ? "The saved token was refused; the relay may have restarted with another." : "");
        return true;
      }
      if (err.status === 0) {
        showStatus("reconnecting");
        await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** attempt)));
        continue;
      }
      const closed = $("#closed");
      closed.textContent = `${err.message}${err.hint ? `. ${err.hint}.` : ""}`;
      closed.hidden = false;
      return false;
    }
  }
}

async function boot() {
  // Framed by another page, the buttons could be clicked through a disguise: refuse to run.
  if (window.top !== window.self) {
    document.body.replaceChildren(h("p", { class: "noscript" }, "The ClawLink dashboard does not run inside a frame. Open it in its own tab."));
    return;
  }
  setupTheme();
  setupViews();
  $<HTMLButtonElement>("#details-close").addEventListener("click", () => $<HTMLDialogElement>("#details").close());
  if (!(await admitted())) return;
  const start = () =>
    connect({
      frame: apply,
      status: showStatus,
      refused: async (message) => {
        token.clear();
        await askToken(message);
        start();
      },
    });
  start();
}

void boot();
