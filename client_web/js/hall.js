// Hall station: the PC wired to the hall's cameras and mixer. Publishes the hall camera and
// microphone (and slides on request), plays the floor holder into the hall's sound system,
// and shows the districts.
import { connect } from "./protocol.js";
import { t } from "./i18n.js";
import { $, el, pointName, toast, bindConnection, startCountdown } from "./ui.js";
import { MediaClient, showMediaStatus } from "./rtc.js";

const conn = connect();
const media = new MediaClient(conn, "hall");
window.dewan = { conn, rtc: media };
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
  const online = new Set(state.roster.online);
  const queued = new Set(state.queue.entries.map((e) => e.point));
  const districts = state.points.filter((p) => p.kind === "district");
  const existing = new Map([...$("#tiles").children].map((n) => [n.dataset.point, n]));
  $("#tiles").replaceChildren(...districts.map((p) => {
    let node = existing.get(p.id);
    if (!node) {
      const video = el("video", { autoplay: true, playsinline: true, muted: true });
      video.muted = true;
      node = el("div", { class: "tile", dataset: { point: p.id } },
        el("div", { class: "tile-video" }, video),
        el("div", { class: "tile-name" }, pointName(state, p.id)),
        el("div", { class: "tile-state" }));
      media.bind(`tile-${p.id}`, { video });
    }
    const st = f.holder === p.id ? "speaking" : queued.has(p.id) ? "requesting" : online.has(p.id) ? "online" : "offline";
    node.dataset.state = st;
    node.querySelector(".tile-state").textContent = t(`tile.${st}`);
    return node;
  }));
  $("#online-count").textContent = `${districts.filter((p) => online.has(p.id)).length}/${districts.length}`;
}
conn.on("change", render);
conn.on("status", render);
renderShare();
media.start();
