// Hall station: the PC wired to the hall's cameras and mixer.
import { connect } from "./protocol.js";
import { t } from "./i18n.js";
import { $, el, pointName, bindConnection, startCountdown } from "./ui.js";

const conn = connect();
window.dewan = { conn };
bindConnection(conn);
startCountdown(conn, $("#countdown"), $("#floor-warning"));

function render() {
  const state = conn.state;
  const status = $("#big-status");
  status.textContent = conn.status === "connected" && state ? t(`point.status.${state.conference.status}`) : t(`conn.${conn.status}`);
  if (!state) return;
  const f = state.floor;
  $("#floor-holder").textContent = f.holder ? pointName(state, f.holder) : t("floor.hall");
  $("#floor-screen").hidden = !f.holder;
  $("#floor-caption").textContent = f.holder ? pointName(state, f.holder) : "";
  const online = new Set(state.roster.online);
  $("#tiles").replaceChildren(...state.points.filter((p) => p.kind === "district").map((p) =>
    el("div", { class: "tile", dataset: { point: p.id, state: online.has(p.id) ? "online" : "offline" } },
      el("div", { class: "tile-name" }, pointName(state, p.id)))));
}
conn.on("change", render);
conn.on("status", render);
