// The technician dashboard's number formats (in the page's language), reason texts and charts
// (sparklines and the rating strip of a point's last hour): pure functions, no page state.
import { t, lang } from "./i18n.js";

export const nf0 = new Intl.NumberFormat(lang(), { maximumFractionDigits: 0 });
export const nf1 = new Intl.NumberFormat(lang(), { maximumFractionDigits: 1 });
export const isNum = (v) => typeof v === "number" && Number.isFinite(v);
export const dash = "–";

export function pct(v) {
  if (!isNum(v)) return dash;
  const p = v * 100;
  return `${p > 0 && p < 10 ? nf1.format(p) : nf0.format(p)} %`;
}
export const ms = (v) => (isNum(v) ? `${nf0.format(v)} ms` : dash);
export const kbps = (v) => (isNum(v) ? nf0.format(v) : dash);
export const num0 = (v) => (isNum(v) ? nf0.format(v) : dash);
export const secs = (v) => (isNum(v) ? `${nf0.format(v)} s` : dash);

export function timeOf(seconds) {
  return isNum(seconds) ? new Date(seconds * 1000).toLocaleTimeString(lang(), { hour12: false }) : "";
}

function reasonValue(r) {
  const v = r.value;
  switch (r.code) {
    case "loss_up": case "loss_down": return pct(v);
    case "rtt": case "jitter": case "jitter_down": return ms(v);
    case "fps": return num0(v);
    default: return isNum(v) ? secs(v) : "";
  }
}

export function reasonText(r) {
  return t(`tech.reason.${r.code}`, { value: reasonValue(r), limit: r.limit ?? "", state: r.state ?? "" });
}

export function reasonsText(snap) {
  if (!snap) return t("tech.no_data");
  if (!snap.reasons?.length) return snap.rating === "good" ? t("tech.all_good") : "";
  return snap.reasons.map(reasonText).join(" · ");
}

const SVG = "http://www.w3.org/2000/svg";
const RATING_NAMES = ["good", "degraded", "poor", "down"];

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

// The time span shown: the history so far, at least 2 minutes, at most the hour kept.
export function chartSpan(times, end) {
  if (!times.length) return 3600;
  const last = end ?? times[times.length - 1];
  return Math.min(3600, Math.max(120, last - times[0]));
}

// One sparkline: x by time over the span (gaps stay gaps), y from 0 to the max.
export function sparkline(times, values, { width = 300, height = 48, end = null, span = chartSpan(times, end) } = {}) {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "spark", preserveAspectRatio: "none",
    role: "img" });
  const finite = values.filter(isNum);
  if (!times.length || !finite.length) return root;
  const last = end ?? times[times.length - 1];
  const first = last - span;
  const max = (Math.max(...finite) || 1) * 1.15;  // from 0, with a little headroom
  const x = (tt) => ((tt - first) / span) * width;
  const y = (v) => height - 2 - (v / max) * (height - 4);
  let d = "";
  let pen = false;
  for (let i = 0; i < times.length; i += 1) {
    const v = values[i];
    const gap = i > 0 && times[i] - times[i - 1] > Math.max(30, span / 60);
    if (!isNum(v) || times[i] < first || gap) pen = false;
    if (!isNum(v) || times[i] < first) continue;
    d += `${pen ? "L" : "M"}${x(times[i]).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  }
  root.append(svg("path", { d, class: "spark-line", fill: "none" }));
  return root;
}

export function ratingStrip(times, ratings, { width = 300, height = 10, end = null, span = chartSpan(times, end) } = {}) {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "strip", preserveAspectRatio: "none" });
  if (!times.length) return root;
  const last = end ?? times[times.length - 1];
  const first = last - span;
  for (let i = 0; i < times.length; i += 1) {
    if (!isNum(ratings[i]) || times[i] < first) continue;
    const x0 = ((i > 0 ? times[i - 1] : times[i] - 10) - first) / span * width;
    const x1 = (times[i] - first) / span * width;
    root.append(svg("rect", { x: Math.max(0, x0).toFixed(1), y: 0, width: Math.max(0.5, x1 - x0).toFixed(1),
      height, class: `r-${RATING_NAMES[ratings[i]] || "good"}` }));
  }
  return root;
}
