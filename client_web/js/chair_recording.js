// Chair console: Record / Stop, why a recording stopped, and the current agenda item.
// Server: `recording:start|stop` -> ack {recording}; `recording {active, session, started_at,
// reason?}` broadcast (reason: chair, auto, conference_closed, disk_low, ...); `agenda:set {title}`.
import { t } from "./i18n.js";
import { $, formatClock, toast } from "./ui.js";
import { bindRecordings } from "./tech_recordings.js";

export function bindRecording(conn, act) {
  const startBtn = $("#btn-record");
  const stopBtn = $("#btn-record-stop");
  const status = $("#rec-status");

  function render() {
    const rec = conn.state?.recording;
    const active = !!rec?.active;
    const open = ["open", "paused"].includes(conn.state?.conference?.status);
    startBtn.hidden = active;
    startBtn.disabled = !open;
    stopBtn.hidden = !active;
    status.dataset.active = String(active);
    if (active) status.textContent = t("recording.running", { time: formatClock(conn.serverNow() - rec.started_at) });
    const item = conn.state?.conference?.agenda_item;
    $("#agenda-current").textContent = item ? t("agenda.current", { title: item.title }) : "";
  }

  conn.on("change", render);
  conn.on("recording", (rec) => {
    if (!rec.active && rec.reason) {
      const why = t(`recording.reason.${rec.reason}`, { free: rec.free_gb ?? "" });
      status.textContent = t("recording.stopped_because", { reason: why });
      if (rec.reason !== "chair") toast(status.textContent, "error");
    }
    render();
  });
  startBtn.addEventListener("click", () => act("recording:start", {}, "recording.started"));
  stopBtn.addEventListener("click", () => act("recording:stop", {}, "recording.stopped"));
  $("#agenda-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const title = $("#agenda-title").value.trim();
    if (!title) return;
    const ack = await act("agenda:set", { title }, "agenda.done", { title });
    if (ack.ok) $("#agenda-title").value = "";
  });
  setInterval(() => { if (conn.state?.recording?.active) render(); }, 1000);
  render();
  bindRecordings(conn);  // the recordings list and exports, as on the technician page
}
