// Chair console: open/close, the queue with waiting times, the floor, the points at a glance.
import { connect } from "./protocol.js";
import { t } from "./i18n.js";
import { $, el, pointName, formatClock, announce, bindConnection, startCountdown } from "./ui.js";

const conn = connect();
window.dewan = { conn };
bindConnection(conn);
startCountdown(conn, $("#countdown"), $("#floor-warning"));

const version = () => conn.state?.conference?.version;
const limit = () => Number($("#limit").value);

async function act(event, payload, okKey) {
  const ack = await conn.request(event, { ...payload, version: version() });
  announce(ack, okKey ? t(okKey) : null);
  if (!ack.ok && ack.error === "conflict") {
    const fresh = await conn.request("state:get", {});
    if (fresh.ok) conn._receive("state", fresh.state);
  }
  return ack;
}

$("#btn-open").addEventListener("click", () => act("conference:open", {}, "chair.opened"));
$("#btn-close").addEventListener("click", () => {
  if (confirm(t("chair.confirm_close"))) act("conference:close", {}, "chair.closed");
});
$("#btn-grant-next").addEventListener("click", () => act("floor:grant", { limit_s: limit() }, "chair.granted"));
$("#btn-revoke").addEventListener("click", () => act("floor:revoke", {}, "chair.revoked"));
$("#btn-extend").addEventListener("click", () => act("floor:extend", { seconds: 60 }, "chair.extended"));
$("#limit").value = String(conn.config.default_limit_s || 180);

function renderQueue(state) {
  const list = $("#queue");
  const entries = state.queue.entries;
  const now = conn.serverNow();
  list.replaceChildren(...entries.map((e, i) => el("li", { class: `entry ${e.status}`, dataset: { point: e.point } },
    el("span", { class: "pos" }, i + 1),
    el("span", { class: "name" }, pointName(state, e.point)),
    e.topic ? el("span", { class: "topic" }, e.topic) : null,
    el("span", { class: "wait", dataset: { since: e.requested_at } }, formatClock(now - e.requested_at)),
    e.status !== "waiting" ? el("span", { class: "badge" }, t(`queue.status.${e.status}`)) : null,
    el("span", { class: "actions" },
      el("button", { class: "primary grant", onclick: () => act("floor:grant", { point: e.point, limit_s: limit() }, "chair.granted") }, t("chair.grant")),
      el("button", { class: "up", disabled: i === 0, onclick: () => act("floor:move", { point: e.point, position: i }) }, "▲"),
      el("button", { class: "down", disabled: i === entries.length - 1, onclick: () => act("floor:move", { point: e.point, position: i + 2 }) }, "▼"),
      el("button", { class: "danger deny", onclick: () => {
        const reason = prompt(t("chair.deny_reason")) ?? null;
        if (reason !== null) act("floor:deny", { point: e.point, reason: reason || null }, "chair.denied");
      } }, t("chair.deny"))))));
  $("#queue-empty").hidden = entries.length > 0;
  $("#queue-count").textContent = entries.length ? `(${entries.length})` : "";
}

function renderTiles(state) {
  const online = new Set(state.roster.online);
  const queued = new Set(state.queue.entries.map((e) => e.point));
  const districts = state.points.filter((p) => p.kind === "district");
  const existing = new Map([...$("#tiles").children].map((n) => [n.dataset.point, n]));
  const tiles = districts.map((p) => {
    const node = existing.get(p.id) || el("div", { class: "tile", dataset: { point: p.id } },
      el("div", { class: "tile-video" }),
      el("div", { class: "tile-name" }, pointName(state, p.id)),
      el("div", { class: "tile-state" }),
      el("button", { class: "tile-grant", onclick: () => act("floor:grant", { point: p.id, limit_s: limit() }, "chair.granted") }, t("chair.give_floor")));
    const st = state.floor.holder === p.id ? "speaking" : queued.has(p.id) ? "requesting" : online.has(p.id) ? "online" : "offline";
    node.dataset.state = st;
    node.querySelector(".tile-state").textContent = t(`tile.${st}`);
    node.querySelector(".tile-grant").disabled = !online.has(p.id) || st === "speaking";
    return node;
  });
  $("#tiles").replaceChildren(...tiles);
  $("#online-count").textContent = `${districts.filter((p) => online.has(p.id)).length}/${districts.length}`;
}

function renderFloor(state) {
  const f = state.floor;
  $("#floor-holder").textContent = f.holder ? pointName(state, f.holder) : t("floor.hall");
  $("#btn-revoke").disabled = !f.holder;
  $("#btn-extend").disabled = !f.holder;
  const open = state.conference.status === "open" || state.conference.status === "paused";
  $("#btn-open").disabled = open;
  $("#btn-close").disabled = !open;
}

function render() {
  const state = conn.state;
  if (!state) return;
  renderQueue(state);
  renderTiles(state);
  renderFloor(state);
}

conn.on("change", render);
conn.on("log", ({ events }) => {
  const log = $("#log");
  for (const e of events) {
    log.prepend(el("li", {}, el("time", {}, new Date(e.at * 1000).toLocaleTimeString()), " ",
      t(`event.${e.type}`, { point: pointName(conn.state, e.data?.point) })));
  }
  while (log.children.length > 50) log.lastChild.remove();
});
setInterval(() => {  // waiting times
  const now = conn.serverNow();
  for (const node of document.querySelectorAll("#queue .wait")) node.textContent = formatClock(now - Number(node.dataset.since));
}, 1000);
