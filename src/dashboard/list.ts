/**
 * A virtualised list: only the rows in view are in the DOM, each of one fixed height, so a thousand
 * agents or a busy feed cost the same to draw as twenty, and nothing moves while data streams in.
 * Keyboard: a listbox with arrow keys, Page Up/Down, Home/End, and Enter to open a row.
 */
import { h, setText } from "./dom";
import { state } from "./state";

export interface Column<T> {
  label: string;
  /** Class of the cell, which sets its width and whether a narrow screen shows it. */
  cls: string;
  text(item: T): string;
  /** A modifier class for the cell (a status colour). */
  tone?(item: T): string;
  title?(item: T): string;
  /** Said after the value ("3 queued"): shown where a narrow screen drops the column headings, and always read out. */
  unit?: string;
}

export interface ListOptions<T> {
  id: string;
  label: string;
  columns: Column<T>[];
  key(item: T): string;
  open(item: T): void;
  empty: string;
}

/** Rows drawn beyond each edge of the view, so a fast scroll does not show blanks. */
const OVERSCAN = 6;

export class VirtualList<T> {
  readonly el: HTMLElement;
  private body: HTMLElement;
  private spacer: HTMLElement;
  private emptyNote: HTMLElement;
  private pool: { row: HTMLElement; cells: HTMLElement[]; values: (Element | Text)[] }[] = [];
  private items: T[] = [];
  private active = -1;
  private activeKey: string | undefined;
  private rowH = 36;
  private queued = false;

  constructor(private opts: ListOptions<T>) {
    const head = h("div", { class: "list-head", "aria-hidden": "true" }, ...opts.columns.map((c) => h("span", { class: `cell ${c.cls}` }, c.label)));
    this.spacer = h("div", { class: "list-spacer", role: "presentation" });
    this.emptyNote = h("div", { class: "list-empty" }, "Waiting for the relay…");
    this.body = h(
      "div",
      { class: "list-body", role: "listbox", tabindex: 0, "aria-label": opts.label, id: opts.id },
      this.spacer,
    );
    this.el = h("div", { class: `list list-${opts.id}` }, head, h("div", { class: "list-frame" }, this.body, this.emptyNote));
    this.body.addEventListener("scroll", () => this.schedule(), { passive: true });
    this.body.addEventListener("keydown", (ev) => this.key(ev));
    this.body.addEventListener("focus", () => {
      if (this.active < 0 && this.items.length) this.moveTo(this.firstVisible());
      else this.render();
    });
    this.body.addEventListener("click", (ev) => {
      const row = (ev.target as HTMLElement).closest<HTMLElement>("[data-index]");
      if (!row) return;
      this.moveTo(Number(row.dataset.index));
      this.openActive();
    });
    new ResizeObserver(() => {
      this.rowH = parseFloat(getComputedStyle(this.el).getPropertyValue("--row-h")) || 36;
      this.render();
    }).observe(this.body);
  }

  /** New contents; `added` items were put at the top, and a reader scrolled down keeps their place. */
  set(items: T[], added = 0) {
    const keep = this.body.scrollTop > 0 && added > 0;
    this.items = items;
    if (this.activeKey !== undefined) {
      this.active = items.findIndex((it) => this.opts.key(it) === this.activeKey);
      if (this.active < 0) this.activeKey = undefined;
    }
    this.spacer.style.height = `${items.length * this.rowH}px`;
    if (keep) this.body.scrollTop += added * this.rowH;
    this.emptyNote.hidden = items.length > 0;
    setText(this.emptyNote, state.loaded ? this.opts.empty : "Waiting for the relay…");
    this.render();
  }

  private schedule() {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => {
      this.queued = false;
      this.render();
    });
  }

  private firstVisible() {
    return Math.min(this.items.length - 1, Math.floor(this.body.scrollTop / this.rowH));
  }

  render() {
    const { columns } = this.opts;
    this.spacer.style.height = `${this.items.length * this.rowH}px`;
    const height = this.body.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.body.scrollTop / this.rowH) - OVERSCAN);
    const last = Math.min(this.items.length, Math.ceil((this.body.scrollTop + height) / this.rowH) + OVERSCAN);
    const count = Math.max(0, last - first);
    while (this.pool.length < count) {
      const values = columns.map((c) => (c.unit ? h("span") : document.createTextNode("")));
      const cells = columns.map((c, j) => h("span", { class: `cell ${c.cls}` }, values[j]!, c.unit ? h("span", { class: "unit" }, ` ${c.unit}`) : null));
      const row = h("div", { class: "row", role: "option", "aria-selected": "false" }, ...cells);
      this.spacer.append(row);
      this.pool.push({ row, cells, values });
    }
    for (let i = 0; i < this.pool.length; i++) {
      const { row, cells, values } = this.pool[i]!;
      if (i >= count) {
        row.hidden = true;
        row.removeAttribute("id");
        continue;
      }
      const index = first + i;
      const item = this.items[index]!;
      row.hidden = false;
      row.dataset.index = String(index);
      row.id = `${this.opts.id}-row-${index}`;
      row.style.transform = `translateY(${index * this.rowH}px)`;
      row.setAttribute("aria-posinset", String(index + 1));
      row.setAttribute("aria-setsize", String(this.items.length));
      const selected = index === this.active;
      row.setAttribute("aria-selected", String(selected));
      row.classList.toggle("active", selected);
      columns.forEach((c, j) => {
        const cell = cells[j]!;
        const text = c.text(item);
        const value = values[j]!;
        if (value.textContent !== text) value.textContent = text;
        const cls = `cell ${c.cls}${c.tone ? ` tone-${c.tone(item)}` : ""}`;
        if (cell.className !== cls) cell.className = cls;
        const title = c.title?.(item);
        if (title) cell.title = title;
        else if (cell.title) cell.removeAttribute("title");
      });
    }
    if (this.active >= 0 && this.active >= first && this.active < last) this.body.setAttribute("aria-activedescendant", `${this.opts.id}-row-${this.active}`);
    else this.body.removeAttribute("aria-activedescendant");
  }

  private moveTo(index: number) {
    if (!this.items.length) return;
    this.active = Math.max(0, Math.min(this.items.length - 1, index));
    this.activeKey = this.opts.key(this.items[this.active]!);
    const top = this.active * this.rowH;
    if (top < this.body.scrollTop) this.body.scrollTop = top;
    else if (top + this.rowH > this.body.scrollTop + this.body.clientHeight) this.body.scrollTop = top + this.rowH - this.body.clientHeight;
    this.render();
  }

  private openActive() {
    const item = this.items[this.active];
    if (item) this.opts.open(item);
  }

  private key(ev: KeyboardEvent) {
    const page = Math.max(1, Math.floor(this.body.clientHeight / this.rowH) - 1);
    const moves: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
    if (ev.key in moves) this.moveTo((this.active < 0 ? this.firstVisible() - 1 : this.active) + moves[ev.key]!);
    else if (ev.key === "Home") this.moveTo(0);
    else if (ev.key === "End") this.moveTo(this.items.length - 1);
    else if (ev.key === "Enter" || ev.key === " ") this.openActive();
    else return;
    ev.preventDefault();
  }
}
