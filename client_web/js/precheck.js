// Pre-join check of a point's room PC: camera and microphone (preview + level meter), then a
// 10 s loopback media test through a real RTCPeerConnection to the relay (RTT, loss,
// achievable bitrate), and a plain verdict: ready / weak link / blocked.
//
// Protocol (namespace /conf; the socket connects with auth {token, mode: "precheck"} so that
// it does not replace the station's own page; only when the page config has
// `precheck_socket: true`):
//   precheck:start {}            -> {ok, sdp}  the relay's offer for a loopback connection
//                                               that echoes back what the page sends
//   precheck:answer {sdp}        -> {ok}       the page's complete answer (no trickle)
//   precheck:result {verdict, camera, microphone, rtt_ms, loss_up, loss_down, bitrate_kbps,
//                    candidate_type, problems}  -> {ok}  (the server tells the technicians)
//   precheck:stop {}             -> {ok}       closes the loopback connection
import { connect, readConfig } from "./protocol.js";
import { t, lang } from "./i18n.js";
import { $, el, bindConnection } from "./ui.js";

const TEST_S = 10;
const CONNECT_TIMEOUT_MS = 8000;
const LIMITS = { loss: 0.05, rtt_ms: 400, bitrate_kbps: 300, mic_level: 0.02 };

const config = readConfig();
// The link test needs a socket that does NOT count as the station joining: a second
// connection with the station's token replaces the kiosk page, which then stays down. The
// server says it accepts `auth.mode = "precheck"` sockets with `config.precheck_socket`;
// without it this page checks the devices only.
let conn = null;
if (config.precheck_socket) {
  conn = connect(config);
  if (conn.socket.auth && typeof conn.socket.auth === "object") conn.socket.auth.mode = "precheck";
  bindConnection(conn);
} else {
  const status = document.getElementById("conn-status");
  if (status) status.hidden = true;
}

const result = {
  camera: "checking", microphone: "checking", link: "idle",
  rtt_ms: null, loss_up: null, loss_down: null, bitrate_kbps: null, candidate_type: null,
  mic_peak: 0, problems: [], verdict: null,
};
window.dewan = { conn, result };

const nf0 = new Intl.NumberFormat(lang(), { maximumFractionDigits: 0 });
const nf1 = new Intl.NumberFormat(lang(), { maximumFractionDigits: 1 });
const isNum = (v) => typeof v === "number" && Number.isFinite(v);

let stream = null;
let audioCtx = null;
let meterTimer = null;
let pc = null;
let running = null;

$("#btn-join").href = config.join_url || "#";

function setCheck(id, status, word) {
  const box = $(`#check-${id}`);
  box.dataset.status = status;
  box.querySelector(".check-status").textContent = word;
}

// ------------------------------------------------------------------------------ devices
async function openDevices() {
  stopDevices();
  result.camera = "checking";
  result.microphone = "checking";
  const constraints = { video: { width: { ideal: 640 }, height: { ideal: 360 } }, audio: true };
  try {
    stream = await navigator.mediaDevices.getUserMedia(constraints);
  } catch (err) {
    // find out which one is missing or refused
    const tryOne = async (kind) => {
      try {
        const s = await navigator.mediaDevices.getUserMedia({ [kind]: constraints[kind] });
        return { stream: s, status: "ok" };
      } catch (e) {
        return { stream: null, status: e?.name === "NotAllowedError" || e?.name === "SecurityError" ? "denied" : "missing" };
      }
    };
    const [v, a] = navigator.mediaDevices ? [await tryOne("video"), await tryOne("audio")] : [{ status: "missing" }, { status: "missing" }];
    stream = new MediaStream([...(v.stream?.getTracks() || []), ...(a.stream?.getTracks() || [])]);
    result.camera = v.status;
    result.microphone = a.status;
  }
  const video = stream.getVideoTracks()[0];
  const audio = stream.getAudioTracks()[0];
  if (video) {
    result.camera = "ok";
    $("#camera-video").srcObject = new MediaStream([video]);
    const s = video.getSettings();
    $("#camera-info").textContent = `${video.label || ""} ${s.width ? `${s.width}×${s.height}` : ""}`.trim();
  } else if (result.camera === "checking") result.camera = "missing";
  if (audio) {
    result.microphone = "ok";
    startMeter(audio);
  } else if (result.microphone === "checking") result.microphone = "missing";
  renderDevices();
}

function renderDevices() {
  const word = (s) => t(`precheck.status.${s}`);
  setCheck("camera", result.camera === "ok" ? "ok" : result.camera === "checking" ? "checking" : "bad", word(result.camera));
  let mic = result.microphone;
  if (mic === "ok" && result.mic_peak < LIMITS.mic_level) mic = "silent";
  setCheck("mic", mic === "ok" ? "ok" : mic === "silent" ? "warn" : mic === "checking" ? "checking" : "bad", word(mic));
}

function startMeter(track) {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  audioCtx = new Ctx();
  audioCtx.resume().catch(() => {});
  const source = audioCtx.createMediaStreamSource(new MediaStream([track]));
  const analyser = audioCtx.createAnalyser();
  analyser.fftSize = 1024;
  source.connect(analyser);
  const buf = new Float32Array(analyser.fftSize);
  const bar = $("#level-bar");
  meterTimer = setInterval(() => {
    analyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const x of buf) sum += x * x;
    const rms = Math.sqrt(sum / buf.length);
    const level = Math.min(1, rms * 4);  // speech at a normal distance fills about half
    result.mic_level = level;
    if (level > result.mic_peak) {
      const wasSilent = result.mic_peak < LIMITS.mic_level;
      result.mic_peak = level;
      if (wasSilent && level >= LIMITS.mic_level) renderDevices();
    }
    bar.style.width = `${Math.round(level * 100)}%`;
    $("#level-meter").setAttribute("aria-valuenow", String(Math.round(level * 100)));
  }, 60);
}

function stopDevices() {
  clearInterval(meterTimer);
  audioCtx?.close().catch(() => {});
  audioCtx = null;
  for (const track of stream?.getTracks() || []) track.stop();
  stream = null;
}

// ------------------------------------------------------------------------------ link test
function waitConnected(peer, timeoutMs) {
  return new Promise((resolve) => {
    const check = () => {
      if (["connected", "completed"].includes(peer.iceConnectionState) || peer.connectionState === "connected") resolve(true);
      else if (peer.connectionState === "failed" || peer.iceConnectionState === "failed") resolve(false);
    };
    peer.addEventListener("iceconnectionstatechange", check);
    peer.addEventListener("connectionstatechange", check);
    setTimeout(() => resolve(false), timeoutMs);
    check();
  });
}

function gathered(peer) {
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    peer.addEventListener("icegatheringstatechange", () => { if (peer.iceGatheringState === "complete") resolve(); });
    setTimeout(resolve, 3000);
  });
}

async function sample(peer, prev) {
  const stats = await peer.getStats();
  const now = { at: performance.now(), sent: 0, recv: 0, lostDown: 0, gotDown: 0, lostUp: null, sentPackets: 0 };
  let pair = null;
  const byId = new Map();
  stats.forEach((s) => byId.set(s.id, s));
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId);
  });
  stats.forEach((s) => {
    if (!pair && s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
    if (s.type === "outbound-rtp") { now.sent += s.bytesSent || 0; now.sentPackets += s.packetsSent || 0; }
    if (s.type === "inbound-rtp") { now.recv += s.bytesReceived || 0; now.lostDown += s.packetsLost || 0; now.gotDown += s.packetsReceived || 0; }
    if (s.type === "remote-inbound-rtp" && isNum(s.packetsLost)) now.lostUp = (now.lostUp || 0) + s.packetsLost;
  });
  if (pair) {
    if (isNum(pair.currentRoundTripTime)) now.rtt_ms = pair.currentRoundTripTime * 1000;
    if (isNum(pair.availableOutgoingBitrate)) now.available_kbps = pair.availableOutgoingBitrate / 1000;
    const local = byId.get(pair.localCandidateId);
    if (local) now.candidate_type = local.candidateType;
  }
  if (prev) {
    const dt = (now.at - prev.at) / 1000;
    if (dt > 0) {
      now.send_kbps = ((now.sent - prev.sent) * 8) / 1000 / dt;
      now.recv_kbps = ((now.recv - prev.recv) * 8) / 1000 / dt;
    }
  }
  return now;
}

function showLink() {
  $("#link-rtt").textContent = isNum(result.rtt_ms) ? `${nf0.format(result.rtt_ms)} ms` : "–";
  const loss = [result.loss_up, result.loss_down].filter(isNum);
  $("#link-loss").textContent = loss.length
    ? `${nf1.format((result.loss_up ?? 0) * 100)} % ↑  ${nf1.format((result.loss_down ?? 0) * 100)} % ↓` : "–";
  $("#link-bitrate").textContent = isNum(result.bitrate_kbps) ? `${nf0.format(result.bitrate_kbps)} kbit/s` : "–";
  $("#link-candidate").textContent = result.candidate_type || "–";
}

async function linkTest() {
  result.link = "running";
  Object.assign(result, { rtt_ms: null, loss_up: null, loss_down: null, bitrate_kbps: null, candidate_type: null });
  setCheck("link", "checking", t("precheck.link.running"));
  $("#link-progress").value = 0;
  showLink();
  if (!conn) {
    result.link = "unavailable";
    setCheck("link", "warn", t("precheck.link.unavailable"));
    return;
  }
  if (conn.status !== "connected") {
    await new Promise((resolve) => {
      const done = () => { if (conn.status === "connected") resolve(); };
      conn.addEventListener("status", done);
      setTimeout(resolve, 5000);
    });
  }
  const ack = await conn.request("precheck:start", {});
  if (!ack.ok || !ack.sdp) {
    result.link = "unavailable";
    setCheck("link", "warn", t("precheck.link.unavailable"));
    return;
  }
  pc?.close();
  pc = new RTCPeerConnection({ iceServers: ack.iceServers || config.ice_servers || [] });
  pc.addEventListener("track", () => {});  // the echo; measured through getStats
  await pc.setRemoteDescription({ type: "offer", sdp: ack.sdp });
  for (const tr of pc.getTransceivers()) {
    const kind = tr.receiver.track?.kind;
    const track = kind === "video" ? stream?.getVideoTracks()[0] : kind === "audio" ? stream?.getAudioTracks()[0] : null;
    if (track) {
      tr.direction = "sendrecv";
      await tr.sender.replaceTrack(track);
    }
  }
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  const answered = await conn.request("precheck:answer", { sdp: pc.localDescription.sdp });
  if (!answered.ok || !(await waitConnected(pc, CONNECT_TIMEOUT_MS))) {
    result.link = "failed";
    setCheck("link", "bad", t("precheck.link.failed"));
    pc.close();
    return;
  }
  let prev = await sample(pc, null);
  const first = prev;
  const rtts = [];
  const rates = [];
  const available = [];
  for (let i = 1; i <= TEST_S; i += 1) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await sample(pc, prev);
    prev = now;
    if (isNum(now.rtt_ms)) rtts.push(now.rtt_ms);
    if (isNum(now.send_kbps) && i > 2) rates.push(now.send_kbps);  // skip the ramp-up
    if (isNum(now.available_kbps)) available.push(now.available_kbps);
    if (now.candidate_type) result.candidate_type = now.candidate_type;
    result.rtt_ms = rtts.length ? rtts.reduce((a, b) => a + b, 0) / rtts.length : null;
    const got = now.gotDown - first.gotDown;
    const lost = now.lostDown - first.lostDown;
    result.loss_down = got + lost > 0 ? Math.max(0, lost) / (got + lost) : null;
    const sentPk = now.sentPackets - first.sentPackets;
    result.loss_up = isNum(now.lostUp) && sentPk > 0 ? Math.max(0, now.lostUp - (first.lostUp || 0)) / sentPk : null;
    const measured = rates.length ? Math.max(...rates) : null;
    const estimate = available.length ? available[available.length - 1] : null;
    result.bitrate_kbps = [measured, estimate].filter(isNum).reduce((a, b) => Math.max(a, b), null);
    $("#link-progress").value = (i / TEST_S) * 100;
    showLink();
  }
  result.link = "done";
  pc.close();
  pc = null;
  await conn.request("precheck:stop", {});
}

// ------------------------------------------------------------------------------ verdict
function decide() {
  const p = [];
  if (result.camera === "denied") p.push("camera_denied");
  else if (result.camera !== "ok") p.push("no_camera");
  if (result.microphone === "denied") p.push("microphone_denied");
  else if (result.microphone !== "ok") p.push("no_microphone");
  else if (result.mic_peak < LIMITS.mic_level) p.push("mic_silent");
  if (result.link === "failed") p.push("link_failed");
  if (result.link === "unavailable") p.push("link_untested");
  const loss = Math.max(result.loss_up ?? 0, result.loss_down ?? 0);
  if (result.link === "done") {
    if (loss >= LIMITS.loss) p.push("high_loss");
    if (isNum(result.rtt_ms) && result.rtt_ms >= LIMITS.rtt_ms) p.push("high_rtt");
    if (isNum(result.bitrate_kbps) && result.bitrate_kbps < LIMITS.bitrate_kbps) p.push("low_bitrate");
  }
  const blocking = ["camera_denied", "no_camera", "microphone_denied", "no_microphone", "link_failed"];
  const verdict = p.some((x) => blocking.includes(x)) ? "blocked"
    : p.some((x) => ["mic_silent", "high_loss", "high_rtt", "low_bitrate"].includes(x)) ? "weak" : "ready";
  result.problems = p;
  result.verdict = verdict;
  return verdict;
}

function showVerdict(verdict) {
  const box = $("#verdict");
  box.dataset.verdict = verdict;
  $("#verdict-word").textContent = t(`precheck.verdict.${verdict}`);
  $("#verdict-problems").replaceChildren(...result.problems.map((x) => el("li", { dataset: { problem: x } },
    t(`precheck.problem.${x}`, { loss: nf1.format(Math.max(result.loss_up ?? 0, result.loss_down ?? 0) * 100),
      rtt: nf0.format(result.rtt_ms ?? 0), bitrate: nf0.format(result.bitrate_kbps ?? 0) }))));
  if (result.link === "done") setCheck("link", verdict === "ready" || !result.problems.some((x) => ["high_loss", "high_rtt", "low_bitrate"].includes(x)) ? "ok" : "warn", t("precheck.link.done"));
}

async function run() {
  if (running) return running;
  running = (async () => {
    $("#verdict").dataset.verdict = "checking";
    $("#verdict-word").textContent = t("precheck.verdict.checking");
    $("#verdict-problems").replaceChildren();
    $("#btn-retry").disabled = true;
    try {
      await openDevices();
      if (result.camera === "ok" || result.microphone === "ok") await linkTest();
      else { result.link = "failed"; setCheck("link", "bad", t("precheck.link.skipped")); }
    } catch (err) {
      console.error(err);
      if (result.link === "running") { result.link = "failed"; setCheck("link", "bad", t("precheck.link.failed")); }
    } finally {
      renderDevices();
      const verdict = decide();
      showVerdict(verdict);
      $("#btn-retry").disabled = false;
      const report = {
        verdict, camera: result.camera, microphone: result.microphone,
        mic_peak: Math.round(result.mic_peak * 1000) / 1000, link: result.link,
        rtt_ms: result.rtt_ms, loss_up: result.loss_up, loss_down: result.loss_down,
        bitrate_kbps: result.bitrate_kbps, candidate_type: result.candidate_type, problems: result.problems,
      };
      if (conn) await conn.request("precheck:result", report);
      running = null;
    }
  })();
  return running;
}

$("#btn-retry").addEventListener("click", () => run());
window.addEventListener("pagehide", () => { pc?.close(); stopDevices(); });
$("#btn-join").addEventListener("click", () => { pc?.close(); stopDevices(); });
run();
