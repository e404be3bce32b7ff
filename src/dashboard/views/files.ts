/** Files: keys, versions and authors, leases counting down, releasing one, and a diff between two versions. */
import type { FileDiff } from "../../protocol/admin";
import type { FileHistory, FileInfo } from "../../protocol/schemas";
import { ApiError, keyPath, request } from "../api";
import { confirmAction, field, showDetails, showing } from "../dialogs";
import { byText, count, formatBytes, formatDateTime, formatSpan, h, setText } from "../dom";
import { VirtualList } from "../list";
import { relayNow, state } from "../state";
import type { View } from "./view";

export const leaseText = (f: FileInfo) => (f.lock ? `${f.lock.holder} · ${formatSpan(Date.parse(f.lock.until) - relayNow())} left` : "");

const errorText = (err: unknown) => (err instanceof ApiError ? `${err.message}${err.hint ? ` (${err.hint})` : ""}` : String(err));

export function filesView(): View {
  const summary = h("p", { class: "summary" });
  const list = new VirtualList<FileInfo>({
    id: "files",
    label: "Shared files",
    empty: "No shared file yet. Agents share one with `clawlink file-put --key KEY --file PATH`.",
    key: (f) => f.key,
    open: (f) => open(f.key),
    columns: [
      { label: "Key", cls: "c-key", text: (f) => f.key },
      { label: "Version", cls: "c-num", text: (f) => `v${f.version}` },
      { label: "Size", cls: "c-size", text: (f) => formatBytes(f.size) },
      { label: "Updated by", cls: "c-author", text: (f) => f.updated_by },
      { label: "Updated", cls: "c-time", text: (f) => `${formatSpan(relayNow() - Date.parse(f.updated_at))} ago`, title: (f) => formatDateTime(f.updated_at) },
      { label: "Lease", cls: "c-lease", text: leaseText, tone: (f) => (f.lock ? "locked" : "free") },
    ],
  });

  const draw = () => {
    const files = [...state.files.values()].sort((a, b) => byText(a.key, b.key));
    list.set(files);
    setText(summary, `${count(files.length, "file")} · ${files.filter((f) => f.lock).length} leased`);
  };

  let openKey: string | undefined;
  let lease: HTMLElement | undefined;
  let latest: HTMLElement | undefined;

  const fillLease = () => {
    const f = openKey === undefined ? undefined : state.files.get(openKey);
    if (!lease || !latest) return;
    if (!f) {
      latest.replaceChildren(h("p", {}, "This file was deleted."));
      lease.replaceChildren();
      return;
    }
    latest.replaceChildren(...field("Latest version", String(f.version)), ...field("Size", formatBytes(f.size)), ...field("Written by", f.updated_by), ...field("Written", formatDateTime(f.updated_at)), ...field("sha256", f.sha256));
    const text = f.lock ? `Leased by ${f.lock.holder} since ${formatDateTime(f.lock.since)}: ${formatSpan(Date.parse(f.lock.until) - relayNow())} left.` : "No lease: any agent may write it.";
    const note = lease.querySelector("p") ?? lease.appendChild(h("p", { class: "lease-note" }));
    setText(note, text);
    const button = lease.querySelector("button");
    if (f.lock && !button) {
      const { key } = f;
      lease.append(
        h("button", {
          type: "button",
          class: "danger",
          onclick: () =>
            confirmAction({
              title: `Release the lease on ${key}?`,
              text: `${state.files.get(key)?.lock?.holder ?? "Its holder"} loses the sole right to write it, and every agent is told.`,
              action: "Release lease",
              done: `The lease on ${key} was released.`,
              run: () => request("DELETE", `/v1/admin/file-locks/${keyPath(key)}`),
            }),
        }, "Release lease…"),
      );
    } else if (!f.lock && button) button.remove();
  };

  const diffView = (history: FileHistory) => {
    const versions = history.versions.map((v) => v.version);
    const pick = (id: string, chosen: number) => {
      const select = h("select", { id }, ...versions.map((v) => h("option", { value: v }, `version ${v}`)));
      select.value = String(chosen);
      return select;
    };
    const from = pick("diff-from", versions[1] ?? versions[0] ?? 1);
    const to = pick("diff-to", versions[0] ?? 1);
    const out = h("pre", { class: "diff", "aria-live": "polite" });
    const show = async () => {
      out.replaceChildren("Loading…");
      try {
        const d = await request<FileDiff>("GET", `/v1/admin/file-diff/${keyPath(history.key)}?from=${from.value}&to=${to.value}`);
        if (d.binary) out.replaceChildren("These versions are binary: there is no line diff to show.");
        else if (d.too_large) out.replaceChildren("These versions are too large for a diff in the page.");
        else if (!d.hunks.length) out.replaceChildren("No difference.");
        else
          out.replaceChildren(
            ...d.hunks.flatMap((hunk) => [
              h("span", { class: "hunk" }, `@@ version ${d.from} line ${hunk.from_start}, version ${d.to} line ${hunk.to_start} @@\n`),
              ...hunk.lines.map((l) => h("span", { class: l.op === "+" ? "add" : l.op === "-" ? "del" : "same" }, `${l.op} ${l.text}\n`)),
            ]),
          );
      } catch (err) {
        out.replaceChildren(errorText(err));
      }
    };
    return [
      h("div", { class: "toolbar diff-pick" }, h("label", { for: "diff-from" }, "From"), from, h("label", { for: "diff-to" }, "to"), to, h("button", { type: "button", onclick: show }, "Show diff")),
      out,
    ];
  };

  const open = (key: string) => {
    openKey = key;
    latest = h("dl", { class: "fields" });
    lease = h("div", { class: "lease" });
    const versions = h("div", { class: "versions" }, h("p", {}, "Loading versions…"));
    fillLease();
    showDetails(`file:${key}`, key, latest, h("h3", {}, "Lease"), lease, h("h3", {}, "Versions"), versions);
    request<FileHistory>("GET", `/v1/admin/file-history/${keyPath(key)}`).then(
      (history) =>
        versions.replaceChildren(
          h("table", { class: "history" },
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Version"), h("th", { scope: "col" }, "Author"), h("th", { scope: "col" }, "Size"), h("th", { scope: "col" }, "Written"))),
            h("tbody", {}, ...history.versions.map((v) => h("tr", {}, h("td", {}, String(v.version)), h("td", {}, v.author), h("td", {}, formatBytes(v.size)), h("td", {}, formatDateTime(v.created_at))))),
          ),
          h("h3", {}, "Diff"),
          ...diffView(history),
        ),
      (err) => versions.replaceChildren(h("p", { class: "error" }, errorText(err))),
    );
  };

  return {
    id: "files",
    title: "Files",
    panel: h("section", {}, h("div", { class: "toolbar" }, summary), list.el),
    badge: () => String(state.files.size),
    render(changed) {
      if (changed.has("files")) draw();
      else if (changed.has("clock")) list.render();
      if (openKey !== undefined && showing(`file:${openKey}`) && (changed.has("files") || changed.has("clock"))) fillLease();
    },
  };
}
