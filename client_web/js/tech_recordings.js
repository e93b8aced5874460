// Recordings panel (technician page; chairs and technicians hold `recording.view`):
// the list (title, start, duration, size), an export per session with its progress, and the
// exported files as short-lived signed download links.
// HTTP: GET /api/recordings, POST|GET /api/recordings/{id}/export (Authorization: Bearer <token>).
import { t, lang } from "./i18n.js";
import { $, el, formatClock, toast } from "./ui.js";

const POLL_MS = 1000;
const REFRESH_MS = 10000;

export function bindRecordings(conn) {
  const panel = $("#recordings-panel");
  if (!panel) return;
  const headers = { Authorization: `Bearer ${conn.config.token}` };
  const base = conn.config.signal_url || "";
  const jobs = new Map();   // session id -> export job
  let sessions = [];

  async function call(method, path) {
    const res = await fetch(base + path, { method, headers });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.message || `HTTP ${res.status}`);
    return body;
  }

  const size = (bytes) => new Intl.NumberFormat(lang(), { maximumFractionDigits: 1 }).format(bytes / 1e6) + " MB";
  const when = (s) => (s ? new Date(s * 1000).toLocaleString(lang(), { hour12: false }) : "");

  function exportCell(s) {
    const job = jobs.get(s.id) || s.export;
    const cell = el("td", { class: "rec-export" });
    const button = el("button", { class: "rec-export-btn", disabled: job?.state === "running",
      onclick: () => startExport(s.id) }, t(job?.state === "done" ? "recordings.export_again" : "recordings.export"));
    cell.append(button);
    if (job?.state === "running") {
      cell.append(el("progress", { max: 1, value: job.progress, "aria-label": t("recordings.progress") }),
        el("span", { class: "rec-pct" }, `${Math.round(job.progress * 100)} %`));
    } else if (job?.state === "failed") {
      cell.append(el("span", { class: "rec-error", role: "alert" }, `${t("recordings.failed")} ${job.error || ""}`));
    } else if (job?.state === "done") {
      cell.append(el("ul", { class: "rec-files" }, job.files.map((f) =>
        el("li", {}, el("a", { href: base + f.url, download: f.name }, f.name), ` (${size(f.size)})`))));
    }
    return cell;
  }

  function render() {
    const body = $("#recordings");
    body.replaceChildren(...sessions.map((s) => el("tr", { dataset: { id: s.id } },
      el("td", {}, s.title || s.id, s.recording ? el("span", { class: "rec-indicator" }, t("recording.indicator")) : null,
        s.error ? el("div", { class: "rec-error" }, s.error) : null),
      el("td", {}, when(s.started_at)),
      el("td", { class: "num" }, formatClock(s.duration_s || 0)),
      el("td", { class: "num" }, size(s.size_bytes || 0)),
      exportCell(s))));
    $("#recordings-empty").hidden = sessions.length > 0;
  }

  async function refresh() {
    try {
      sessions = (await call("GET", "/api/recordings")).recordings;
      render();
    } catch (err) {
      $("#recordings-empty").hidden = false;
      $("#recordings-empty").textContent = `${t("recordings.unavailable")} ${err.message}`;
    }
  }

  async function poll(id) {
    try {
      const { export: job } = await call("GET", `/api/recordings/${encodeURIComponent(id)}/export`);
      jobs.set(id, job);
      render();
      if (job.state === "running") setTimeout(() => poll(id), POLL_MS);
      else toast(t(job.state === "done" ? "recordings.done" : "recordings.failed"), job.state === "done" ? "ok" : "error");
    } catch (err) {
      toast(`${t("recordings.failed")} ${err.message}`, "error");
    }
  }

  async function startExport(id) {
    try {
      const { export: job } = await call("POST", `/api/recordings/${encodeURIComponent(id)}/export`);
      jobs.set(id, job);
      render();
      setTimeout(() => poll(id), POLL_MS);
    } catch (err) {
      toast(`${t("recordings.failed")} ${err.message}`, "error");
    }
  }

  conn.on("recording", refresh);
  setInterval(refresh, REFRESH_MS);
  refresh();
  window.dewan = { ...(window.dewan || {}), recordings: { refresh, jobs } };
}
