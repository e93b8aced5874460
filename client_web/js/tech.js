// Technician dashboard: every point's link at a glance, sorted by trouble; alerts with a beep;
// a detail panel per point (last hour as sparklines, incidents, message, preview).
//
// Server events used: `state` (points + roster), `roster`, `health` every 2 s
//   {points: {<id>: snapshot}, alerts: [alert], server_time}, `message`, `notice`.
// Requests: `health:history {point, max_points}` -> {ok, history: {point, t, series, incidents}},
//   `message:send {point, text}`, `preview:set {point|null}`, `rtc:start` / `rtc:answer {sdp}`
//   (rtc.js MediaClient of kind "technician": a receive-only connection whose "preview"
//   slots carry the chosen point).
import { connect } from "./protocol.js";
import { t } from "./i18n.js";
import { $, el, pointName, announce, bindConnection, toast } from "./ui.js";
import { MediaClient } from "./rtc.js";
import { bindRecordings } from "./tech_recordings.js";
import { chartSpan, dash, isNum, kbps, ms, nf0, num0, pct, ratingStrip, reasonText, reasonsText, secs, sparkline, timeOf } from "./tech_format.js";

export { reasonText, sparkline } from "./tech_format.js";

const conn = connect();
bindConnection(conn);
bindRecordings(conn);

const RANK = { down: 0, poor: 1, degraded: 2, unknown: 3, good: 4 };
const HISTORY_REFRESH_MS = 10000;
const STALE_HEALTH_S = 7;            // no `health` broadcast for this long: say so

const view = {
  health: null,            // the last `health` payload
  receivedAt: 0,           // Date.now() when it arrived
  seenAlerts: new Map(),   // alert id -> level already announced
  firstPayload: true,
  selected: null,          // point id of the detail panel
  history: null,
  historyTimer: null,
  messages: [],            // `message` events seen (technicians' room)
  notices: [],             // `notice` events (station replaced, precheck results)
  previewPoint: null,
};
window.dewan = { ...(window.dewan || {}), conn, view };

// ---------------------------------------------------------------------------- sound
let audioCtx = null;
function audio() {
  if (!audioCtx) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    audioCtx = new Ctx();
  }
  if (audioCtx.state === "suspended") audioCtx.resume().catch(() => {});
  return audioCtx;
}
// Browsers start audio only after a gesture: any click on the page unlocks it.
document.addEventListener("pointerdown", () => { if ($("#sound-on")?.checked) audio(); }, { once: true });

function beep(level = "degraded") {
  view.beeps = (view.beeps || 0) + 1;
  if (!$("#sound-on")?.checked) return;
  const ctx = audio();
  if (!ctx) return;
  const tones = level === "down" ? [880, 660, 880] : level === "poor" ? [880, 660] : [660];
  let at = ctx.currentTime + 0.02;
  for (const freq of tones) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "sine";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.18);
    osc.connect(gain).connect(ctx.destination);
    osc.start(at);
    osc.stop(at + 0.2);
    at += 0.22;
  }
}

function flash(node) {
  if (!node) return;
  node.classList.remove("flash");
  void node.offsetWidth;  // restart the animation
  node.classList.add("flash");
}

// ---------------------------------------------------------------------------- points
function knownPoints() {
  const listed = conn.state?.points || [];
  const ids = listed.map((p) => p.id);
  for (const id of Object.keys(view.health?.points || {})) if (!ids.includes(id)) ids.push(id);
  return ids;
}

function snapOf(id) {
  return view.health?.points?.[id] || null;
}

function ratingOf(id) {
  const s = snapOf(id);
  return s ? s.rating : "unknown";
}

function liveAge(snap) {
  if (!snap || !isNum(snap.last_stats_age_s)) return null;
  return snap.last_stats_age_s + (Date.now() - view.receivedAt) / 1000;
}

function sortedPoints() {
  const order = knownPoints();
  const hall = conn.state?.hall;
  return order.slice().sort((a, b) => (RANK[ratingOf(a)] - RANK[ratingOf(b)])
    || ((b === hall) - (a === hall)) || (order.indexOf(a) - order.indexOf(b)));
}

function figure(label, value, cls = "") {
  return el("span", { class: `f ${cls}`.trim() }, el("i", {}, label), " ", value);
}

function badCodes(snap) {
  const out = {};
  for (const r of snap?.reasons || []) out[r.code] = r.level;
  return out;
}

function mark(codes, ...names) {
  for (const n of names) if (codes[n]) return codes[n] === "degraded" ? "warn" : "bad";
  return "";
}

function tileBody(id, snap) {
  const f = snap?.figures || {};
  const codes = badCodes(snap);
  const rating = snap ? snap.rating : "unknown";
  const res = isNum(f.width) && isNum(f.height) ? `${f.width}×${f.height}` : dash;
  const level = isNum(f.audio_level) ? Math.round(Math.min(1, f.audio_level) * 100) : 0;
  const age = liveAge(snap);
  const head = [
    el("div", { class: "tt-head" },
      el("span", { class: "tt-name", title: pointName(conn.state, id) }, pointName(conn.state, id)),
      el("span", { class: "tt-badge" }, t(`tech.rating.${rating}`))),
    el("div", { class: "tt-reason" }, reasonsText(snap) + (snap?.recovering ? ` (${t("tech.recovering")})` : "")),
  ];
  if (!snap?.online) return head;  // offline: the name and the reason say it all
  return [...head,
    el("div", { class: "tt-figs" },
      figure(t("tech.fig.rtt"), ms(f.rtt_ms), mark(codes, "rtt")),
      figure(t("tech.fig.jitter"), ms(f.jitter_ms ?? f.jitter_down_ms), mark(codes, "jitter", "jitter_down")),
      figure(t("tech.fig.loss"), `${pct(f.loss_up)}↑ ${pct(f.loss_down)}↓`, mark(codes, "loss_up", "loss_down")),
      figure("kbit/s", `${kbps(f.bitrate_up_kbps)}↑ ${kbps(f.bitrate_down_kbps)}↓`),
      figure("fps", num0(f.fps), mark(codes, "fps")),
      figure("", res),
      figure("ICE", `${f.ice_state || dash}/${f.dtls_state || dash}`,
        mark(codes, "ice_failed", "dtls_failed", "connection_failed", "ice_disconnected")),
      figure("", f.candidate_type ? t(`tech.candidate.${f.candidate_type}`) : dash),
      f.quality_limitation && f.quality_limitation !== "none"
        ? figure(t("tech.fig.limit"), t(`tech.limit.${f.quality_limitation}`), "warn") : null,
      el("span", { class: `f age ${age !== null && age > 6 ? "warn" : ""}`.trim(), title: t("tech.fig.age") },
        "⟳ ", age === null ? dash : secs(age))),
    el("div", { class: "tt-meter", title: t("tech.fig.audio"), "aria-label": t("tech.fig.audio") },
      el("span", { style: `width:${level}%` })),
    layerLine(id),
  ];
}

// The layer the relay sends this point's page, and why (its own bandwidth estimate).
function layerLine(id) {
  const l = view.health?.layers?.[id];
  if (!l) return null;
  const why = t(`tech.layer_reason.${l.reason}`, { budget: l.budget_kbps ?? dash, need: l.need_kbps ?? dash });
  return el("div", { class: "tt-layer", dataset: { layer: l.video }, title: t("tech.fig.layer") },
    `${t("tech.fig.layer")}: ${t(`tech.layer.${l.video}`)} · ${why}`);
}

function renderTiles() {
  const box = $("#tech-tiles");
  const existing = new Map([...box.children].map((n) => [n.dataset.point, n]));
  const ids = sortedPoints();
  const nodes = ids.map((id) => {
    const snap = snapOf(id);
    let node = existing.get(id);
    if (!node) {
      node = el("div", { class: "tt", role: "listitem", tabindex: "0", dataset: { point: id },
        onclick: () => openDetail(id),
        onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openDetail(id); } } });
    }
    node.dataset.rating = snap ? snap.rating : "unknown";
    node.dataset.online = snap ? String(snap.online) : "false";
    node.classList.toggle("selected", id === view.selected);
    node.classList.toggle("has-alert", Boolean(snap?.alert));
    node.replaceChildren(...tileBody(id, snap));
    return node;
  });
  const same = nodes.length === box.children.length && nodes.every((n, i) => box.children[i] === n);
  if (!same) box.replaceChildren(...nodes);
  $("#tech-waiting").hidden = nodes.length > 0;
  renderSummary(ids);
}

function renderSummary(ids) {
  const counts = { down: 0, poor: 0, degraded: 0, good: 0, unknown: 0 };
  let online = 0;
  for (const id of ids) {
    counts[ratingOf(id)] += 1;
    if (snapOf(id)?.online) online += 1;
  }
  for (const [rating, n] of Object.entries(counts)) {
    const node = $(`#sum-${rating}`);
    if (node) { node.textContent = n; node.parentElement.dataset.zero = String(n === 0); }
  }
  $("#sum-online").textContent = t("tech.online_count", { online, total: ids.length });
  const open = (view.health?.alerts || []).filter((a) => !a.cleared_at).length;
  document.title = `${open ? `(${open}) ` : ""}${t("tech.title")} · Dewan`;
}

function renderAge() {
  const node = $("#health-age");
  if (!view.health) { node.textContent = t("tech.waiting"); node.dataset.stale = "true"; return; }
  const age = (Date.now() - view.receivedAt) / 1000;
  node.dataset.stale = String(age > STALE_HEALTH_S);
  node.textContent = age > STALE_HEALTH_S ? t("tech.health_stale", { age: nf0.format(age) })
    : t("tech.updated_at", { time: timeOf(view.health.server_time) });
  for (const tile of document.querySelectorAll("#tech-tiles .tt")) {
    const age2 = liveAge(snapOf(tile.dataset.point));
    const node = tile.querySelector(".tt-figs .age");
    if (node && age2 !== null) { node.textContent = `⟳ ${secs(age2)}`; node.classList.toggle("warn", age2 > 6); }
  }
}

// ---------------------------------------------------------------------------- alerts
function alertRow(a) {
  const open = !a.cleared_at;
  const level = open ? a.level : (a.peak || a.level);
  const reasons = open ? a.reasons : (a.peak_reasons || a.reasons);
  return el("li", { class: `alert ${open ? "open" : "cleared"}`, dataset: { level, id: a.id, point: a.point },
    onclick: () => openDetail(a.point) },
  el("span", { class: "al-badge" }, t(`tech.rating.${level}`)),
  el("span", { class: "al-name" }, pointName(conn.state, a.point)),
  el("time", {}, timeOf(a.raised_at)),
  el("span", { class: "al-state" }, open ? t("tech.alert_open")
    : t("tech.alert_cleared", { time: timeOf(a.cleared_at), duration: nf0.format(a.cleared_at - a.raised_at) })),
  el("div", { class: "al-reasons" }, (reasons || []).map(reasonText).join(" · ")));
}

function noticeRow(n) {
  const key = n.type === "precheck" ? `tech.notice.precheck.${n.result?.verdict || "unknown"}` : `tech.notice.${n.type}`;
  return el("li", { class: "alert notice", dataset: { type: n.type, point: n.point || "" },
    onclick: () => n.point && openDetail(n.point) },
  el("span", { class: "al-badge" }, t("tech.notice")),
  el("span", { class: "al-name" }, n.point ? pointName(conn.state, n.point) : ""),  // server-wide notices name no point
  el("time", {}, timeOf(n.at)),
  el("div", { class: "al-reasons" }, t(key, { point: pointName(conn.state, n.point) })));
}

function renderAlerts() {
  const alerts = view.health?.alerts || [];
  const open = alerts.filter((a) => !a.cleared_at);
  const rows = [...alerts.map(alertRow), ...view.notices.slice(-20).reverse().map(noticeRow)];
  $("#tech-alerts").replaceChildren(...rows);
  $("#alerts-empty").hidden = rows.length > 0;
  $("#alert-count").textContent = open.length ? `(${open.length})` : "";
}

function announceNewAlerts(alerts) {
  let worst = null;
  for (const a of alerts) {
    if (a.cleared_at) { view.seenAlerts.set(a.id, "cleared"); continue; }
    const before = view.seenAlerts.get(a.id);
    const peak = a.peak || a.level;
    if (before === undefined || (before !== "cleared" && RANK[peak] < RANK[before])) {
      view.seenAlerts.set(a.id, peak);
      if (!view.firstPayload) {
        if (!worst || RANK[peak] < RANK[worst.peak || worst.level]) worst = a;
        flash($(`#tech-tiles .tt[data-point="${CSS.escape(a.point)}"]`));
      }
    }
  }
  if (worst) {
    beep(worst.peak || worst.level);
    flash($("#tech-alerts-panel"));
    toast(`${pointName(conn.state, worst.point)}: ${(worst.reasons || []).map(reasonText).join(" · ")}`, "error");
  }
  if (view.firstPayload && alerts.some((a) => !a.cleared_at)) flash($("#tech-alerts-panel"));
  view.firstPayload = false;
}

// ---------------------------------------------------------------------------- detail panel
const CHARTS = [
  ["rtt_ms", "tech.fig.rtt", ms],
  ["loss_up", "tech.chart.loss_up", pct],
  ["loss_down", "tech.chart.loss_down", pct],
  ["jitter_ms", "tech.fig.jitter", ms],
  ["bitrate_up_kbps", "tech.chart.bitrate_up", (v) => `${kbps(v)} kbit/s`],
  ["bitrate_down_kbps", "tech.chart.bitrate_down", (v) => `${kbps(v)} kbit/s`],
  ["fps", "tech.fig.fps", num0],
];
function renderCharts() {
  const box = $("#detail-charts");
  const h = view.history;
  if (!h || h.point !== view.selected) { box.replaceChildren(el("p", { class: "muted" }, t("tech.loading"))); return; }
  if (h.error) { box.replaceChildren(el("p", { class: "error" }, `${t("tech.history_error")} ${t(`error.${h.error}`)}`)); return; }
  const end = view.health?.server_time ?? conn.serverNow();
  const rows = CHARTS.map(([key, label, fmt]) => {
    const values = h.series?.[key] || [];
    const finite = values.filter(isNum);
    const lastValue = [...values].reverse().find(isNum);
    return el("div", { class: "chart", dataset: { series: key } },
      el("div", { class: "chart-label" }, t(label)),
      el("div", { class: "chart-now" }, lastValue === undefined ? dash : fmt(lastValue)),
      el("div", { class: "chart-range muted" }, finite.length ? `${fmt(Math.min(...finite))} – ${fmt(Math.max(...finite))}` : ""),
      sparkline(h.t || [], values, { end }));
  });
  rows.push(el("div", { class: "chart", dataset: { series: "rating" } },
    el("div", { class: "chart-label" }, t("tech.chart.rating")), el("div"), el("div"),
    ratingStrip(h.t || [], h.series?.rating || [], { end })));
  const minutes = Math.round(chartSpan(h.t || [], end) / 60);
  box.replaceChildren(el("div", { class: "chart-axis muted" }, t("tech.chart.last_minutes", { minutes })), ...rows);
}

function renderIncidents() {
  const id = view.selected;
  const items = [];
  for (const i of view.history?.point === id ? view.history.incidents || [] : []) {
    items.push({ at: i.at, node: el("li", { dataset: { rating: i.rating } },
      el("time", {}, timeOf(i.at)), " ",
      el("span", { class: "al-badge" }, t(`tech.rating.${i.rating}`)), " ",
      (i.reasons || []).map(reasonText).join(" · ")) });
  }
  for (const m of view.messages.filter((x) => x.point === id)) {
    items.push({ at: m.at, node: el("li", { class: "msg" }, el("time", {}, timeOf(m.at)), " ",
      t("tech.message_log", { from: m.from || m.role || "", text: m.text })) });
  }
  for (const n of view.notices.filter((x) => x.point === id)) {
    const key = n.type === "precheck" ? `tech.notice.precheck.${n.result?.verdict || "unknown"}` : `tech.notice.${n.type}`;
    items.push({ at: n.at, node: el("li", { class: "notice" }, el("time", {}, timeOf(n.at)), " ", t(key, { point: pointName(conn.state, id) })) });
  }
  items.sort((a, b) => b.at - a.at);
  $("#detail-incidents").replaceChildren(...items.slice(0, 100).map((x) => x.node));
  $("#detail-incidents-empty").hidden = items.length > 0;
}

function renderDetail() {
  const id = view.selected;
  const panel = $("#tech-detail");
  if (!id) { panel.hidden = true; return; }
  panel.hidden = false;
  const snap = snapOf(id);
  panel.dataset.rating = snap ? snap.rating : "unknown";
  $("#detail-name").textContent = pointName(conn.state, id);
  $("#detail-rating").textContent = t(`tech.rating.${snap ? snap.rating : "unknown"}`);
  $("#detail-reasons").textContent = reasonsText(snap) + (snap?.recovering ? ` (${t("tech.recovering")})` : "");
  const f = snap?.figures || {};
  const rows = [
    ["tech.fig.rtt", ms(f.rtt_ms)],
    ["tech.chart.loss_up", pct(f.loss_up)], ["tech.chart.loss_down", pct(f.loss_down)],
    ["tech.fig.jitter", `${ms(f.jitter_ms)} / ${ms(f.jitter_down_ms)}`],
    ["tech.chart.bitrate_up", kbps(f.bitrate_up_kbps)], ["tech.chart.bitrate_down", kbps(f.bitrate_down_kbps)],
    ["tech.fig.available", kbps(f.available_outgoing_bitrate_kbps)],
    ["tech.fig.fps", `${num0(f.fps)} (${t("tech.fig.sent")} ${num0(f.fps_sent)})`],
    ["tech.fig.resolution", isNum(f.width) ? `${f.width}×${f.height}` : dash],
    ["tech.fig.inbound", `${num0(f.inbound_fps)} fps, ${isNum(f.inbound_width) ? `${f.inbound_width}×${f.inbound_height}` : dash}, ${t("tech.fig.freezes")} ${num0(f.freeze_count)}`],
    ["tech.fig.audio", isNum(f.audio_level) ? pct(f.audio_level) : dash],
    ["tech.fig.ice", `${f.ice_state || dash} / ${f.dtls_state || dash} / ${f.connection_state || dash}`],
    ["tech.fig.candidate", `${f.candidate_type || dash} → ${f.remote_candidate_type || dash}${f.relay_protocol ? ` (${f.relay_protocol})` : ""}`],
    ["tech.fig.limit", f.quality_limitation ? t(`tech.limit.${f.quality_limitation}`) : dash],
    ["tech.fig.silence", secs(f.media_silence_s)],
    ["tech.fig.packets", `${num0(f.packets_up)} ↑ ${num0(f.packets_down)} ↓`],
    ["tech.fig.age", secs(liveAge(snap))],
  ];
  $("#detail-figures").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, t(k)), el("dd", {}, v)]));
  $("#btn-preview").textContent = view.previewPoint === id ? t("tech.preview_stop") : t("tech.preview");
  renderIncidents();
}

async function loadHistory() {
  const id = view.selected;
  if (!id) return;
  // the server answers monitor.history(point, max_points=360): one value per 10 s
  const ack = await conn.request("health:history", { point: id });
  if (view.selected !== id) return;
  if (ack.ok) view.history = { point: id, ...(ack.history || ack) };
  else view.history = { point: id, t: [], series: {}, incidents: [], error: ack.error };
  renderCharts();
  renderIncidents();
}

function openDetail(id) {
  if (view.selected !== id) view.history = null;
  view.selected = id;
  renderTiles();
  renderDetail();
  renderCharts();
  clearInterval(view.historyTimer);
  loadHistory();
  view.historyTimer = setInterval(loadHistory, HISTORY_REFRESH_MS);
  $("#msg-text").focus({ preventScroll: true });
}

function closeDetail() {
  view.selected = null;
  clearInterval(view.historyTimer);
  renderDetail();
  renderTiles();
}

$("#detail-close").addEventListener("click", closeDetail);
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && view.selected) closeDetail(); });

$("#msg-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("#msg-text").value.trim();
  if (!text || !view.selected) return;
  const ack = await conn.request("message:send", { point: view.selected, text });
  announce(ack, ack.ok && ack.delivered === false ? null : t("tech.message_sent"));
  if (ack.ok && ack.delivered === false) toast(t("tech.message_not_delivered"), "error");
  if (ack.ok) $("#msg-text").value = "";
});

// ---------------------------------------------------------------------------- preview
// The technician's receive-only media connection (rtc.js): the relay points its "preview"
// slot pair at the chosen point with `preview:set`, which needs the connection to exist.
let media = null;

function ensureMedia() {
  if (!media) {
    media = new MediaClient(conn, "technician", { publish: false, sound: true });
    media.bind("preview", { video: $("#preview-video"), audio: $("#preview-audio") });
    media.start();
    window.dewan.rtc = media;
  }
  const ready = () => media.state === "connecting" || media.state === "connected";
  if (ready()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const check = () => { if (ready()) { media.removeEventListener("state", check); resolve(true); } };
    media.addEventListener("state", check);
    setTimeout(() => { media.removeEventListener("state", check); resolve(ready()); }, 15000);
  });
}

function showPreviewSound() {
  $("#preview-sound").textContent = media?.soundEnabled ? t("tech.preview_mute") : t("tech.preview_unmute");
}

$("#btn-preview").addEventListener("click", async () => {
  const id = view.selected;
  if (!id) return;
  if (view.previewPoint === id) {
    await conn.request("preview:set", { point: null });
    view.previewPoint = null;
    $("#preview-box").hidden = true;
    renderDetail();
    return;
  }
  if (!(await ensureMedia())) { toast(t("tech.preview_unavailable"), "error"); return; }
  const ack = await conn.request("preview:set", { point: id });
  announce(ack);
  if (!ack.ok) return;
  view.previewPoint = id;
  $("#preview-box").hidden = false;
  $("#preview-caption").textContent = pointName(conn.state, id);
  media.setSound(true);
  showPreviewSound();
  renderDetail();
});
$("#preview-sound").addEventListener("click", () => {
  if (media) media.setSound(!media.soundEnabled);
  showPreviewSound();
});

// The state store (Redis with several processes): down is shown in words, with since when.
function renderStore(store) {
  const node = $("#store-status");
  if (!node) return;
  const redis = store && store.backend === "redis";
  node.hidden = !redis;
  if (!redis) return;
  node.dataset.state = store.ok ? "ok" : "down";
  node.textContent = store.ok ? t("tech.store_ok", { owner: store.owner || "?" })
    : t("tech.store_down", { time: timeOf(store.down_since) });
}

// ---------------------------------------------------------------------------- events
function onHealth(payload) {
  if (!payload || typeof payload !== "object") return;
  view.health = { points: payload.points || {}, alerts: payload.alerts || [], server_time: payload.server_time,
    layers: payload.layers || {} };
  view.receivedAt = Date.now();
  renderStore(payload.store);
  announceNewAlerts(view.health.alerts);
  renderTiles();
  renderAlerts();
  if (view.selected) renderDetail();
  renderAge();
}

conn.on("health", onHealth);
conn.on("change", () => { renderTiles(); renderAlerts(); if (view.selected) renderDetail(); });
conn.on("message", (msg) => {
  view.messages.push(msg);
  if (view.messages.length > 500) view.messages.shift();
  if (view.selected === msg.point) renderIncidents();
});
conn.on("notice", (n) => {
  view.notices.push(n);
  if (view.notices.length > 200) view.notices.shift();
  if (n.type === "station_replaced" || n.type === "media_unreachable" || n.type.startsWith("recording_")
      || (n.type === "precheck" && n.result?.verdict !== "ready")) {
    beep("poor");
    flash($("#tech-alerts-panel"));
  }
  renderAlerts();
  if (view.selected === n.point) renderIncidents();
});

$("#sound-on").addEventListener("change", (e) => { if (e.target.checked) { audio(); beep("degraded"); } });
$("#btn-test-sound").addEventListener("click", () => { audio(); beep("poor"); });
setInterval(renderAge, 1000);
renderTiles();
renderAlerts();
renderAge();
