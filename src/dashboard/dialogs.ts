/** Native modal dialogs: one for a row's details, one to confirm an action; Escape closes either. */
import { ApiError } from "./api";
import { $, h } from "./dom";

let openKey: string | undefined;

/** Opens the details dialog on `key` (such as "task:t_…"); the view keeps what it built, to update it in place. */
export function showDetails(key: string, title: string, ...content: Node[]) {
  const dialog = $<HTMLDialogElement>("#details");
  openKey = key;
  $("#details-title").textContent = title;
  $("#details-body").replaceChildren(...content);
  if (!dialog.open) dialog.showModal();
}

/** Whether the details dialog is open on `key`. */
export function showing(key: string) {
  return openKey === key && $<HTMLDialogElement>("#details").open;
}

/** Asks before an action; runs it on yes, and shows its error in the dialog if it fails. */
export function confirmAction(opts: { title: string; text: string; action: string; run: () => Promise<unknown>; done: string }) {
  const dialog = $<HTMLDialogElement>("#confirm");
  const error = h("p", { class: "error", role: "alert" });
  const go = h("button", { class: "danger", type: "button" }, opts.action);
  const keep = h("button", { type: "button", autofocus: true }, "Keep it");
  keep.addEventListener("click", () => dialog.close());
  go.addEventListener("click", async () => {
    go.disabled = true;
    go.textContent = "Working…";
    try {
      await opts.run();
      dialog.close();
      toast(opts.done);
    } catch (err) {
      error.textContent = err instanceof ApiError ? `${err.message}${err.hint ? `: ${err.hint}` : ""}` : String(err);
      go.disabled = false;
      go.textContent = opts.action;
    }
  });
  $("#confirm-title").textContent = opts.title;
  $("#confirm-body").replaceChildren(h("p", {}, opts.text), error, h("div", { class: "actions" }, keep, go));
  dialog.showModal();
  keep.focus();
}

let toastTimer: ReturnType<typeof setTimeout> | undefined;

/** A short note in a fixed corner, read out by screen readers. */
export function toast(text: string) {
  const el = $("#toast");
  el.textContent = text;
  el.classList.add("shown");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("shown"), 4000);
}

export function field(label: string, value: Node | string) {
  return [h("dt", {}, label), h("dd", {}, value)];
}
