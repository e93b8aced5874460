// Chair console: open/close, the queue with waiting times, the floor, the points at a glance
// (a page of live tiles, every point's name and link health), mutes; the hall, floor and
// slides as the points see them.
import { connect } from "./protocol.js";
import { t } from "./i18n.js";
import { $, el, pointName, formatClock, announce, toast, refusalText, bindConnection, startCountdown } from "./ui.js";
import { MediaClient, showMediaStatus, watchSlots } from "./rtc.js";
import { bindRecording } from "./chair_recording.js";
import { TileGrid } from "./tiles.js";

const conn = connect();
// The console sits in the hall: its loudspeaker stays off unless the chair turns it on.
const media = new MediaClient(conn, "chair", { sound: false });
window.dewan = { conn, rtc: media };
bindConnection(conn);
startCountdown(conn, $("#countdown"), $("#floor-warning"));
showMediaStatus(media, $("#media-status"), t);
media.bind("hall", { video: $("#video-hall"), audio: $("#audio-hall") });
media.bind("floor", { video: $("#video-floor"), audio: $("#audio-floor") });
media.bind("presentation", { video: $("#video-presentation") });

// The moderation version this console saw: conference, queue and floor events carry it (joins,
// health alerts and messages do not change it, so they never make an action "stale").
const version = () => Math.max(conn.state?.conference?.version ?? 0, conn.state?.queue?.version ?? 0,
  conn.state?.floor?.version ?? 0);
const limit = () => Number($("#limit").value);

// Actions that depend on the order the chair sees (grant the next, move) carry the version,
// so a queue that changed meanwhile is refused rather than acted on blindly. Actions that
// name their target (grant this point, deny, mute, revoke, ...) are checked by the server
// as they stand, so an unrelated event (a health alert, a join) never refuses them.
const ORDERED = new Set(["floor:move"]);
async function act(event, payload, okKey, okParams = {}) {
  const ordered = ORDERED.has(event) || (event === "floor:grant" && !payload.point);
  const ack = await conn.request(event, ordered ? { ...payload, version: version() } : payload);
  if (ack.ok) announce(ack, okKey ? t(okKey, okParams) : null);
  else toast(`${t("action.refused")} ${refusalText(ack)}`, "error");  // the server's one sentence
  if (!ack.ok && ack.error === "conflict") {
    const fresh = await conn.request("state:get", {});
    if (fresh.ok) conn._receive("state", fresh.state);
  }
  return ack;
}
const name = (id) => pointName(conn.state, id);
bindRecording(conn, act);

$("#btn-open").addEventListener("click", () => act("conference:open", {}, "chair.opened"));
$("#btn-close").addEventListener("click", () => {
  if (confirm(t("chair.confirm_close"))) act("conference:close", {}, "chair.closed");
});
$("#btn-grant-next").addEventListener("click", () => act("floor:grant", { limit_s: limit() }, "chair.granted"));
$("#btn-revoke").addEventListener("click", () => act("floor:revoke", {}, "chair.revoked"));
$("#btn-extend").addEventListener("click", () => act("floor:extend", { seconds: 60 }, "chair.extended"));

let soundOn = false;
$("#btn-sound").addEventListener("click", () => {
  soundOn = !soundOn;
  media.setSound(soundOn);
  $("#btn-sound").textContent = t(soundOn ? "chair.sound_on" : "chair.sound_off");
  $("#btn-sound").setAttribute("aria-pressed", String(soundOn));
});

let presenting = false;
watchSlots(media, ["presentation"], (id, active) => { presenting = active; render(); });

function renderQueue(state) {
  const list = $("#queue");
  const entries = state.queue.entries;
  const now = conn.serverNow();
  list.replaceChildren(...entries.map((e, i) => {
    const n = name(e.point);
    const position = el("select", { class: "move", "aria-label": t("chair.move_to", { point: n }),
      onchange: (ev) => act("floor:move", { point: e.point, position: Number(ev.target.value) }, "chair.moved", { point: n }) },
    entries.map((_, j) => el("option", { value: j + 1, selected: j === i }, j + 1)));
    return el("li", { class: `entry ${e.status}`, dataset: { point: e.point } },
      el("span", { class: "pos" }, i + 1),
      el("span", { class: "name" }, n),
      e.topic ? el("span", { class: "topic" }, e.topic) : null,
      el("span", { class: "wait", title: t("chair.waiting"), dataset: { since: e.requested_at } }, formatClock(now - e.requested_at)),
      e.status !== "waiting" ? el("span", { class: "badge" }, t(`queue.status.${e.status}`)) : null,
      el("span", { class: "actions" },
        el("button", { class: "primary grant", onclick: () => act("floor:grant", { point: e.point, limit_s: limit() }, "chair.granted_to", { point: n }) }, t("chair.grant")),
        el("button", { class: "up", "aria-label": t("chair.up", { point: n }), disabled: i === 0, onclick: () => act("floor:move", { point: e.point, position: i }, "chair.moved", { point: n }) }, "▲"),
        el("button", { class: "down", "aria-label": t("chair.down", { point: n }), disabled: i === entries.length - 1, onclick: () => act("floor:move", { point: e.point, position: i + 2 }, "chair.moved", { point: n }) }, "▼"),
        position,
        el("button", { class: "danger deny", onclick: () => {
          const reason = prompt(t("chair.deny_reason"));
          if (reason !== null) act("floor:deny", { point: e.point, reason: reason.trim() || null }, "chair.denied");
        } }, t("chair.deny"))));
  }));
  $("#queue-empty").hidden = entries.length > 0;
  $("#queue-count").textContent = entries.length ? `(${entries.length})` : "";
}

// The points' tiles: a fixed number of slots the relay re-points (tiles.js); the buttons act
// on the point the slot shows at the moment of the click.
const grid = new TileGrid(conn, media, { pinnable: true, actions: (node) => [
  el("button", { class: "tile-grant primary", onclick: () => {
    const id = node.dataset.point;
    if (id) act("floor:grant", { point: id, limit_s: limit() }, "chair.granted_to", { point: name(id) });
  } }, t("chair.give_floor")),
  el("button", { class: "tile-mute", "aria-pressed": "false", onclick: (ev) => {
    const id = node.dataset.point;
    if (!id) return;
    const muted = ev.currentTarget.getAttribute("aria-pressed") !== "true";
    act("audio:mute", { point: id, muted }, muted ? "chair.muted" : "chair.unmuted", { point: name(id) });
  } }, t("chair.mute")),
] });
window.dewan.tiles = grid;
grid.onRender = () => renderTiles(conn.state);

function renderTiles(state) {
  if (!state) return;
  const online = new Set(state.roster.online);
  const muted = new Set(state.floor.muted || []);
  const districts = state.points.filter((p) => p.kind === "district");
  for (const node of $("#tiles").children) {
    const id = node.dataset.point;
    if (!id) continue;
    const st = grid.stateOf(state, id);
    node.dataset.state = st;
    node.dataset.muted = String(muted.has(id));
    node.querySelector(".tile-state").textContent = t(`tile.${st}`) + (muted.has(id) ? ` · ${t("chair.muted_badge")}` : "");
    node.querySelector(".tile-grant").disabled = !online.has(id) || st === "speaking";
    const mute = node.querySelector(".tile-mute");
    mute.setAttribute("aria-pressed", String(muted.has(id)));
    mute.textContent = t(muted.has(id) ? "chair.unmute" : "chair.mute");
  }
  $("#online-count").textContent = `${districts.filter((p) => online.has(p.id)).length}/${districts.length}`;
}

function renderFloor(state) {
  const f = state.floor;
  $("#floor-holder").textContent = f.holder ? pointName(state, f.holder) : t("floor.hall");
  $("#btn-revoke").disabled = !f.holder;
  $("#btn-extend").disabled = !f.holder;
  $("#btn-grant-next").disabled = !state.queue.entries.some((e) => e.status === "waiting");
  const open = state.conference.status === "open" || state.conference.status === "paused";
  $("#btn-open").disabled = open;
  $("#btn-close").disabled = !open;
  $("#floor-screen").hidden = !f.holder;
  $("#floor-caption").textContent = f.holder ? pointName(state, f.holder) : "";
  $("#presentation-screen").hidden = !presenting;
}

function render() {
  const state = conn.state;
  if (!state) return;
  renderQueue(state);
  grid.render();
  renderTiles(state);
  renderFloor(state);
}

conn.on("change", render);
conn.on("state", () => {
  const limitNode = $("#limit");
  const wanted = String(conn.state?.settings?.default_limit_s || 180);
  if (!limitNode.dataset.touched) {
    if (![...limitNode.options].some((o) => o.value === wanted)) limitNode.append(el("option", { value: wanted }, formatClock(Number(wanted))));
    limitNode.value = wanted;
  }
});
$("#limit").addEventListener("change", () => { $("#limit").dataset.touched = "1"; });
conn.on("log", ({ events }) => {
  const log = $("#log");
  for (const e of events) {
    log.prepend(el("li", {}, el("time", {}, new Date(e.at * 1000).toLocaleTimeString()), " ",
      t(`event.${e.type}`, { point: pointName(conn.state, e.data?.point), title: e.data?.title ?? "" }),
      conn.state?.chairs?.[e.actor] ? el("span", { class: "who" }, ` · ${conn.state.chairs[e.actor].name}`) : null));
  }
  while (log.children.length > 50) log.lastChild.remove();
});
setInterval(() => {  // waiting times
  const now = conn.serverNow();
  for (const node of document.querySelectorAll("#queue .wait")) node.textContent = formatClock(now - Number(node.dataset.since));
}, 1000);
media.start();
