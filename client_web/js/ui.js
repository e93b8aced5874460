// Small DOM helpers shared by the pages.
import { t, lang } from "./i18n.js";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function pointName(state, id) {
  if (!id) return state?.points?.find((p) => p.kind === "hall")?.names?.[lang()] || t("floor.hall");
  const p = state?.points?.find((x) => x.id === id);
  return p ? (p.names[lang()] || p.names.vi) : id;
}

export function formatClock(seconds) {
  const s = Math.max(0, Math.round(Math.abs(seconds)));
  const text = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  return seconds < 0 ? `+${text}` : text;
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const node = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  box.append(node);
  setTimeout(() => node.remove(), kind === "error" ? 8000 : 4000);
}

// A refusal in one sentence in the page's language: the server's stable key when the
// catalog knows it, else the server's own sentence, else the error code's words.
export function refusalText(ack) {
  const key = ack?.key && `refusal.${ack.key}`;
  if (key && t(key) !== key) return t(key, ack.details || {});
  return ack?.message || t(`error.${ack?.error}`);
}

// Shows an action's result: a confirmation, or the refusal.
export function announce(ack, okMessage) {
  if (ack.ok) { if (okMessage) toast(okMessage, "ok"); }
  else toast(`${t("action.refused")} ${refusalText(ack)}`, "error");
  return ack;
}

export function bindConnection(conn) {
  const status = document.getElementById("conn-status");
  const banner = document.getElementById("banner");
  conn.on("status", ({ status: s, message, key }) => {
    status.dataset.state = s;
    status.textContent = t(`conn.${s}`);
    if (s === "replaced" || s === "refused") {
      banner.hidden = false;
      const reason = s === "refused" ? refusalText({ key, message }) : "";
      banner.textContent = `${t(`conn.${s}.long`)} ${reason}`;
    }
  });
  conn.on("change", () => {
    const rec = document.getElementById("rec-indicator");  // every page: shown while recording runs
    if (rec) rec.hidden = !conn.state?.recording?.active;
    const c = conn.state?.conference;
    if (!c) return;
    document.getElementById("conference-title").textContent = c.title || "";
    const badge = document.getElementById("conference-status");
    badge.dataset.status = c.status;
    badge.textContent = t(`conference.status.${c.status}`);
  });
}

// Re-renders the floor countdown every 200 ms from the server-clock deadline.
export function startCountdown(conn, node, warningNode) {
  const tick = () => {
    const remaining = conn.remaining();
    const holder = conn.state?.floor?.holder;
    if (!holder || remaining === null) {
      node.textContent = "";
      node.dataset.state = "idle";
    } else {
      node.textContent = formatClock(remaining);
      const warn = conn.state.floor.warning_s ?? 30;
      node.dataset.state = remaining <= 0 ? "overtime" : remaining <= warn ? "warning" : "running";
      node.dataset.remaining = remaining.toFixed(2);
    }
    if (warningNode) {
      const st = node.dataset.state;
      warningNode.hidden = !(st === "warning" || st === "overtime");
      warningNode.textContent = st === "overtime" ? t("floor.overtime") : t("floor.warning");
    }
  };
  tick();
  return setInterval(tick, 200);
}
