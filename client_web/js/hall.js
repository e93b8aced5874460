// Hall station: the PC wired to the hall's cameras and mixer. Publishes the hall camera and
// microphone (and slides on request), plays the floor holder into the hall's sound system,
// and shows the points (a page of tile slots, every point's name at a glance).
import { connect } from "./protocol.js";
import { t } from "./i18n.js";
import { $, pointName, toast, bindConnection, startCountdown } from "./ui.js";
import { MediaClient, showMediaStatus } from "./rtc.js";
import { TileGrid } from "./tiles.js";

const conn = connect();
const media = new MediaClient(conn, "hall");
const grid = new TileGrid(conn, media);
window.dewan = { conn, rtc: media, tiles: grid };
bindConnection(conn);
startCountdown(conn, $("#countdown"), $("#floor-warning"));

media.bind("floor", { video: $("#video-floor"), audio: $("#audio-floor") });
showMediaStatus(media, $("#media-status"), t);
media.addEventListener("devices", ({ detail }) => {
  $("#video-self").srcObject = media.localStream();
  $("#self-caption").textContent = !detail.video ? t("media.no_camera") : !detail.audio ? t("media.no_microphone") : t("hall.camera");
});
media.addEventListener("audio", ({ detail }) => { $("#btn-sound").hidden = !detail.blocked; });
$("#btn-sound").addEventListener("click", () => { media.enableSound(); $("#btn-sound").hidden = true; });

// Slides: a screen share on the presentation m-line (a new connection negotiates it).
const share = $("#btn-share");
function renderShare() {
  const on = !!media.local.screen;
  share.textContent = t(on ? "hall.stop_share" : "hall.share");
  share.setAttribute("aria-pressed", String(on));
  share.classList.toggle("danger", on);
  share.classList.toggle("primary", !on);
  $("#share-status").textContent = on ? t("hall.sharing") : "";
  $("#presentation-screen").hidden = !on;
  $("#video-presentation").srcObject = on ? new MediaStream([media.local.screen]) : null;
}
media.addEventListener("screen", renderShare);
share.addEventListener("click", async () => {
  share.disabled = true;
  try {
    await media.shareScreen(!media.local.screen);
  } catch (err) {
    toast(`${t("hall.share_failed")} ${err?.name === "NotAllowedError" ? "" : (err?.message || "")}`, "error");
  } finally {
    share.disabled = false;
  }
});

function render() {
  const state = conn.state;
  const status = $("#big-status");
  status.textContent = conn.status === "connected" && state ? t(`point.status.${state.conference.status}`) : t(`conn.${conn.status}`);
  status.dataset.state = conn.status === "connected" && state ? state.conference.status : conn.status;
  if (!state) return;
  const f = state.floor;
  $("#floor-holder").textContent = f.holder ? pointName(state, f.holder) : t("floor.hall");
  $("#floor-screen").hidden = !f.holder;
  $("#floor-caption").textContent = f.holder ? pointName(state, f.holder) : "";
  grid.render();
}

function renderTileStates() {
  const state = conn.state;
  if (!state) return;
  const online = new Set(state.roster.online);
  const districts = state.points.filter((p) => p.kind === "district");
  for (const node of $("#tiles").children) {
    if (!node.dataset.point) continue;
    const st = grid.stateOf(state, node.dataset.point);
    node.dataset.state = st;
    node.querySelector(".tile-state").textContent = t(`tile.${st}`);
  }
  $("#online-count").textContent = `${districts.filter((p) => online.has(p.id)).length}/${districts.length}`;
}
grid.onRender = renderTileStates;
conn.on("change", render);
conn.on("status", render);
renderShare();
media.start();
