/** Messages per second over the last five minutes, as an SVG area; seconds before counting began are shaded. */
import type { Throughput } from "../protocol/admin";
import { formatClock, h, setText } from "./dom";

const NS = "http://www.w3.org/2000/svg";
const W = 300;
const H = 100;

const svg = <K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string> = {}) => {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
};

export function throughputChart() {
  const area = svg("path", { class: "chart-area" });
  const line = svg("path", { class: "chart-line" });
  const uncounted = svg("rect", { class: "chart-uncounted", x: "0", y: "0", height: String(H), width: "0" });
  const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", "aria-hidden": "true" });
  plot.append(uncounted, area, line);
  const peak = h("span", { class: "chart-peak" });
  const stats = h("p", { class: "chart-stats" });
  const figure = h("figure", { class: "chart", role: "img" }, h("div", { class: "chart-plot" }, plot, peak, h("span", { class: "chart-left" }, "5 min ago"), h("span", { class: "chart-right" }, "now")), stats);

  return {
    el: figure,
    draw(t: Throughput | null) {
      if (!t) return;
      const counts = t.counts;
      const max = Math.max(1, ...counts);
      // A round top for the scale, so it does not jump with every second.
      const top = [1, 2, 5].flatMap((m) => [1, 10, 100, 1000, 10000, 100000].map((p) => m * p)).sort((a, b) => a - b).find((v) => v >= max) ?? max;
      const step = W / Math.max(1, counts.length - 1);
      const points = counts.map((c, i) => `${(i * step).toFixed(1)},${(H - (c / top) * (H - 4)).toFixed(1)}`);
      line.setAttribute("d", `M${points.join("L")}`);
      area.setAttribute("d", `M0,${H}L${points.join("L")}L${W},${H}Z`);
      const before = Math.max(0, Math.min(counts.length, Math.ceil((Date.parse(t.since) - (Date.parse(t.end) - counts.length * 1000)) / 1000)));
      uncounted.setAttribute("width", String(before * step));
      setText(peak, `${top}/s`);
      const now = counts[counts.length - 1] ?? 0;
      const counted = counts.slice(before);
      const avg = counted.length ? counted.reduce((a, b) => a + b, 0) / counted.length : 0;
      const since = before > 0 ? ` · counted since ${formatClock(t.since)}` : "";
      const text = `now ${now}/s · peak ${Math.max(0, ...counts)}/s · average ${avg.toFixed(1)}/s · ${counts.reduce((a, b) => a + b, 0)} in 5 min${since}`;
      setText(stats, text);
      figure.setAttribute("aria-label", `Messages per second over the last 5 minutes: ${text}`);
    },
  };
}
