// Point page (a district room's kiosk): the hall and the floor full-screen, one big button.
import { connect } from "./protocol.js";
import { t } from "./i18n.js";
import { $, pointName, announce, bindConnection, startCountdown } from "./ui.js";

const conn = connect();
window.dewan = { conn };
bindConnection(conn);
startCountdown(conn, $("#countdown"), $("#floor-warning"));
const me = conn.config.point;

function bigStatus() {
  const node = $("#big-status");
  let key;
  if (conn.status === "replaced" || conn.status === "refused") key = `conn.${conn.status}`;
  else if (conn.status !== "connected") key = "conn.reconnecting";
  else if (!conn.state) key = "conn.connecting";
  else if (conn.state.floor.holder === me) key = "point.status.speaking";
  else key = `point.status.${conn.state.conference.status}`;
  node.textContent = t(key);
  node.dataset.state = key.split(".").pop();
}

function render() {
  const state = conn.state;
  bigStatus();
  if (!state) return;
  const f = state.floor;
  $("#floor-holder").textContent = f.holder ? pointName(state, f.holder) : t("floor.hall");
  $("#floor-screen").hidden = !f.holder || f.holder === me;
  $("#floor-caption").textContent = f.holder ? pointName(state, f.holder) : "";
  const request = $("#btn-request");
  if (!request) return;
  const entries = state.queue.entries;
  const index = entries.findIndex((e) => e.point === me);
  const live = state.conference.status === "open" || state.conference.status === "paused";
  request.hidden = index >= 0 || f.holder === me;
  request.disabled = !live;
  $("#btn-cancel").hidden = index < 0;
  $("#topic").hidden = index >= 0 || f.holder === me;
  $("#queue-position").textContent = f.holder === me ? t("point.you_speak")
    : index >= 0 ? t("point.position", { position: index + 1, total: entries.length }) : "";
}

conn.on("change", render);
conn.on("status", render);
$("#btn-request")?.addEventListener("click", async () => {
  const ack = await conn.request("floor:request", { topic: $("#topic").value || null });
  announce(ack, t("point.requested"));
  if (ack.ok) $("#topic").value = "";
});
$("#btn-cancel")?.addEventListener("click", async () => announce(await conn.request("floor:cancel", {}), t("point.cancelled")));
conn.on("message", (msg) => {
  $("#message-text").textContent = msg.text;
  $("#message-box").hidden = false;
});
$("#message-dismiss").addEventListener("click", () => { $("#message-box").hidden = true; });
