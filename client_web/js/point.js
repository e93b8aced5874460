// Point page (a district room's kiosk, also the observers' page): the hall full-screen with
// its sound, the floor holder beside it, slides when the hall shares them, one big button.
// It starts camera, microphone and media by itself and recovers by itself.
import { connect } from "./protocol.js";
import { t } from "./i18n.js";
import { $, pointName, toast, refusalText, bindConnection, startCountdown } from "./ui.js";
import { MediaClient, showMediaStatus, watchSlots } from "./rtc.js";

const conn = connect();
const kind = conn.config.role === "observer" ? "observer" : "point";
const media = new MediaClient(conn, kind);
window.dewan = { conn, rtc: media };
bindConnection(conn);
startCountdown(conn, $("#countdown"), $("#floor-warning"));
const me = conn.config.point;

media.bind("hall", { video: $("#video-hall"), audio: $("#audio-hall") });
media.bind("floor", { video: $("#video-floor"), audio: $("#audio-floor") });
media.bind("presentation", { video: $("#video-presentation") });
showMediaStatus(media, $("#media-status"), t);
// the relay's choice for this page's weak link: the low picture, or sound only, in words
conn.on("layers", (layer) => {
  window.dewan.layer = layer;
  const node = $("#layer-status");
  node.dataset.video = layer.video;
  node.hidden = layer.video === "high";
  node.textContent = layer.video === "off" ? t("layer.audio_only") : t("layer.low");
});
media.addEventListener("devices", ({ detail }) => {
  const self = $("#video-self");
  if (self) self.srcObject = media.localStream();
  const caption = $("#self-caption");
  if (caption) {
    caption.textContent = !detail.video ? t("media.no_camera") : !detail.audio ? t("media.no_microphone") : t("media.self");
    caption.dataset.problem = String(!detail.video || !detail.audio);
  }
});
media.addEventListener("audio", ({ detail }) => { $("#btn-sound").hidden = !detail.blocked; });
$("#btn-sound").addEventListener("click", () => { media.enableSound(); $("#btn-sound").hidden = true; });

let presenting = false;
watchSlots(media, ["presentation"], (id, active) => { presenting = active; render(); });

function bigStatus() {
  const node = $("#big-status");
  let key;
  if (conn.status === "replaced" || conn.status === "refused") key = `conn.${conn.status}`;
  else if (conn.status !== "connected") key = "conn.reconnecting";
  else if (!conn.state) key = "conn.connecting";
  else if (me && conn.state.floor.holder === me) key = "point.status.speaking";
  else key = `point.status.${conn.state.conference.status}`;
  node.textContent = t(key);
  node.dataset.state = key.split(".").pop();
}

function render() {
  const state = conn.state;
  bigStatus();
  if (!state) return;
  const f = state.floor;
  // the camera's high layer goes on air with the floor, and off after (the low one stays)
  if (kind === "point") media.setHighLayer(Boolean(me) && f.holder === me);
  const other = f.holder && f.holder !== me;
  $("#floor-holder").textContent = f.holder ? pointName(state, f.holder) : t("floor.hall");
  $("#floor-screen").hidden = !other;   // never our own floor slot
  $("#floor-caption").textContent = other ? pointName(state, f.holder) : "";
  $("#presentation-screen").hidden = !presenting;
  $("#stage").dataset.layout = [other ? "floor" : "", presenting ? "presentation" : ""].filter(Boolean).join("-") || "hall";
  const request = $("#btn-request");
  if (!request) return;
  const entries = state.queue.entries;
  const index = entries.findIndex((e) => e.point === me);
  const live = state.conference.status === "open" || state.conference.status === "paused";
  const speaking = f.holder === me;
  request.hidden = index >= 0 || speaking;
  request.disabled = !live || conn.status !== "connected";
  request.title = live ? "" : t("point.request_closed");
  $("#btn-cancel").hidden = index < 0;
  $("#topic").hidden = index >= 0 || speaking;
  $("#queue-position").textContent = speaking ? t("point.you_speak")
    : index >= 0 ? t("point.position", { position: index + 1, total: entries.length })
      : live ? "" : t("point.request_closed");
}

// an action's result: a confirmation, or the server's one-sentence reason
function announce(ack, okMessage) {
  if (ack.ok) toast(okMessage, "ok");
  else toast(`${t("action.refused")} ${refusalText(ack)}`, "error");
  return ack;
}

conn.on("change", render);
conn.on("status", render);
$("#btn-request")?.addEventListener("click", async () => {
  const button = $("#btn-request");
  button.disabled = true;
  const ack = await conn.request("floor:request", { topic: $("#topic").value.trim() || null });
  announce(ack, t("point.requested"));
  if (ack.ok) $("#topic").value = "";
  render();
});
$("#btn-cancel")?.addEventListener("click", async () => announce(await conn.request("floor:cancel", {}), t("point.cancelled")));
conn.on("message", (msg) => {
  $("#message-text").textContent = msg.text;
  $("#message-time").textContent = new Date((msg.at || conn.serverNow()) * 1000 - conn.offsetMs).toLocaleTimeString();
  $("#message-box").hidden = false;
});
$("#message-dismiss").addEventListener("click", () => { $("#message-box").hidden = true; });

// Nobody listens in silently: while a technician previews this room, the page says so.
let previewedBy = [];
function showPreview() {
  const box = $("#preview-box");
  box.hidden = previewedBy.length === 0;
  box.textContent = previewedBy.length ? t("preview.watching", { names: previewedBy.join(", ") }) : "";
}
conn.on("state", (state) => { previewedBy = state.previewed_by || []; showPreview(); });
conn.on("notice", (n) => {
  if (n.type !== "preview" || n.point !== me) return;
  previewedBy = n.previewed_by || [];
  showPreview();
});

// An unattended kiosk: start everything on our own.
media.start();
