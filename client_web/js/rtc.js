// One media connection per page to Dewan's relay (an SFU on aiortc). No DOM building here,
// only the <video>/<audio> elements a page binds to a stream id.
//
// The relay is ALWAYS the offerer: we send `rtc:start`, it emits `rtc:offer`, we answer with
// `rtc:answer` once ICE gathering is complete (no trickle). Publishing pages (kinds "point",
// "hall") put their camera/mic on the publish m-lines, which the relay offers "recvonly":
// `transceiver.sender.replaceTrack(track)` + `transceiver.direction = "sendonly"`.
// Receive slots carry msid stream ids: hall, floor, presentation, preview, tile-<point>.
// Recovery always builds a NEW connection (aiortc cannot restart ICE): `rtc:start` again.
// The ICE servers (TURN with fresh credentials) come with every offer (`offer.iceServers`).
// No working pair NO_PAIR_MS after the offer: `media.unreachable` is set (the page says
// "media cannot connect — tell the technician", the stats report tells the technicians)
// until a connection succeeds.

import { slotStats, statsSummary } from "./rtc_stats.js";
import { CAMERA, cameraOverride, setHighLayer, tunePublish } from "./rtc_layers.js";

export { CAMERA, LAYERS } from "./rtc_layers.js";

const ICE_GATHER_TIMEOUT_MS = 2500;   // cap: an unreachable TURN server never completes gathering
const RELAY_GRACE_MS = 300;           // after the first relay candidate, wait this long for others
const NO_PAIR_MS = 6000;
const OFFER_TIMEOUT_MS = 10000;
const CONNECT_TIMEOUT_MS = 15000;
const DISCONNECTED_GRACE_MS = 3000;
const STATS_INTERVAL_MS = 2000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];

// m-sections of an SDP: [{mid, kind, direction, streamId, trackId}]
export function parseSections(sdp) {
  const parts = sdp.split(/\r?\nm=/).slice(1);
  return parts.map((part) => {
    const kind = part.split(" ", 1)[0];
    const mid = /\na=mid:(\S+)/.exec(part)?.[1] ?? null;
    const direction = /\na=(sendrecv|sendonly|recvonly|inactive)\b/.exec(part)?.[1] ?? "sendrecv";
    const msid = /\na=msid:(\S+)(?: (\S+))?/.exec(part);
    return { mid, kind, direction, streamId: msid?.[1] ?? null, trackId: msid?.[2] ?? null };
  });
}

export class MediaClient extends EventTarget {
  /**
   * @param conn    protocol.js Connection
   * @param kind    "point" | "hall" | "chair" | "observer" | "technician"
   * @param options {publish: bool, camera: {width,height,frameRate}}
   */
  constructor(conn, kind, options = {}) {
    super();
    this.conn = conn;
    this.kind = kind;
    this.publish = options.publish ?? (kind === "point" || kind === "hall");
    this.camera = cameraOverride(options.camera || CAMERA[kind] || CAMERA.point);
    this.pc = null;
    this.state = "idle";          // idle | media | starting | connecting | connected | retrying | stopped
    this.pcState = "new";
    this.generation = 0;          // one per rtc:start; stale callbacks compare against it
    this.attempt = 0;             // consecutive failures (backoff)
    this.local = { audio: null, video: null, low: null, screen: null };
    // the high layer: always on at the hall; a point turns it on while it holds the floor
    this.highOn = options.high ?? kind === "hall";
    this.publishers = { video: null, low: null, screen: null };  // RTCRtpSenders
    this.mediaError = null;       // why the camera/mic could not be opened
    this.slots = new Map();       // mid -> {streamId, kind}
    this.tracks = new Map();      // streamId -> {video: track, audio: track}
    this.bindings = new Map();    // streamId -> {video: element, audio: element}
    this.audioBlocked = false;
    this.soundEnabled = options.sound ?? true;
    this._timers = new Set();
    this._stats = { last: null, at: 0 };
    this._statsUnsupported = false;
    this.unreachable = false;     // no working pair NO_PAIR_MS after an offer (until connected)
    this.joinTimes = [];          // ms from rtc:start to "connected", per connection
    this._startedAt = 0;

    conn.on("rtc:offer", (offer) => this._onOffer(offer));
    conn.on("status", ({ status }) => {
      if (status === "replaced" || status === "refused") this.stop(status);
      else if (status === "connected" && this.started && this.state !== "stopped") {
        // a socket reconnect: the relay dropped our peer with the old socket
        this._restart("socket", 0);
      } else if (status === "reconnecting" && this.pc) {
        this._setState("retrying");
      }
    });
    this._statsTimer = setInterval(() => { this._checkAudio(); this._report(); }, STATS_INTERVAL_MS);
  }

  // ---- public API ------------------------------------------------------------------
  /** Open camera/mic (publishing kinds) and the media connection; recovers by itself. */
  start() {
    if (this.state === "stopped" || this.started) return;
    this.started = true;
    this._restart("start", 0);
    this.attempt = 0;
  }

  stop(reason = "stopped") {
    this._clearTimers();
    this._closePc();
    this._setState("stopped", { reason });
    clearInterval(this._statsTimer);
    // free the camera and microphone for the window that took over this station
    for (const track of Object.values(this.local)) track?.stop();
  }

  /** Show stream `streamId` ("hall", "floor", "tile-vinh", ...) in these elements. */
  bind(streamId, { video = null, audio = null } = {}) {
    this.bindings.set(streamId, { video, audio });
    this._apply(streamId);
  }

  /** Start or stop the hall's screen share (needs a NEW connection for the m-line). */
  async shareScreen(on) {
    if (on) {
      const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false });
      const track = stream.getVideoTracks()[0];
      track.contentHint = "detail";
      track.addEventListener("ended", () => { if (this.local.screen === track) this.shareScreen(false); });
      this.local.screen = track;
    } else {
      this.local.screen?.stop();
      this.local.screen = null;
    }
    this.dispatchEvent(new CustomEvent("screen", { detail: { sharing: !!this.local.screen } }));
    this._restart("screen", 0);
    return !!this.local.screen;
  }

  /** After a user gesture: play every bound audio element (autoplay with sound was blocked). */
  async enableSound() {
    this.soundEnabled = true;
    this.audioBlocked = false;
    for (const [id] of this.bindings) this._apply(id);
    this.dispatchEvent(new CustomEvent("audio", { detail: { blocked: this.audioBlocked } }));
  }

  setSound(on) {
    this.soundEnabled = on;
    for (const { audio } of this.bindings.values()) if (audio) audio.muted = !on;
    if (on) this.enableSound();
  }

  // ---- devices ---------------------------------------------------------------------
  openDevices() {
    if (!this._devices) this._devices = this._openDevices().finally(() => { this._devices = null; });
    return this._devices;
  }

  async _openDevices() {
    const live = (t) => t && t.readyState === "live";
    if (live(this.local.audio) && live(this.local.video)) return;
    const c = this.camera;
    this._setState("media");
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: live(this.local.audio) ? false : { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        video: live(this.local.video) ? false : {
          width: { ideal: c.width }, height: { ideal: c.height }, frameRate: { ideal: c.frameRate },
        },
      });
      for (const track of stream.getTracks()) {
        if (track.kind === "video") track.contentHint = "motion";
        this.local[track.kind] = track;
      }
      if (live(this.local.video) && !live(this.local.low)) this.local.low = this.local.video.clone();
      this.mediaError = null;
    } catch (err) {
      this.mediaError = err?.name || "Error";
      // Try each device alone: a room with a camera but no microphone still shows itself.
      for (const kind of ["video", "audio"]) {
        if (live(this.local[kind])) continue;
        try {
          const s = await navigator.mediaDevices.getUserMedia({ [kind]: true });
          this.local[kind] = s.getTracks()[0];
        } catch { /* reported through mediaError */ }
      }
      if (live(this.local.video) && !live(this.local.low)) this.local.low = this.local.video.clone();
    }
    this.dispatchEvent(new CustomEvent("devices", { detail: {
      audio: live(this.local.audio), video: live(this.local.video), error: this.mediaError } }));
  }

  localStream() {
    return new MediaStream([this.local.video, this.local.audio].filter(Boolean));
  }

  // ---- negotiation -----------------------------------------------------------------
  _sendStart() {
    const gen = ++this.generation;
    this._clearTimers();
    this._closePc();
    this._setState("starting");
    this._startedAt = performance.now();
    this._timer(() => {
      if (gen === this.generation && this.state === "starting") this._restart("no_offer");
    }, OFFER_TIMEOUT_MS);
    this.conn.request("rtc:start", {}).then((ack) => {
      if (gen !== this.generation || ack.ok) return;
      this.lastError = ack.message || ack.error;
      if (ack.key === "not_owner") this.conn.relocate?.();  // another process hosts the media now
      this._restart("start_refused");
    });
  }

  async _onOffer(offer) {
    if (this.state === "stopped" || !offer?.sdp) return;
    const gen = this.generation;
    this._closePc();
    const iceServers = Array.isArray(offer.iceServers) ? offer.iceServers : [];
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
    this.pc = pc;
    this.pcState = "new";
    this.slots.clear();
    this.tracks.clear();
    this._stats.last = null;
    this._setState("connecting");
    pc.addEventListener("track", (event) => this._onTrack(pc, event));
    pc.addEventListener("connectionstatechange", () => this._onPcState(pc, gen));
    this._timer(() => {
      if (pc === this.pc && pc.connectionState !== "connected" && !this.unreachable) {
        this.unreachable = true;
        this._setState(this.state, { reason: "unreachable" });
      }
    }, NO_PAIR_MS);
    try {
      const sections = parseSections(offer.sdp);
      sections.forEach((s, i) => this.slots.set(s.mid ?? String(i), s));
      await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
      if (pc !== this.pc) return;
      this._attachPublish(pc, sections);
      await pc.setLocalDescription(await pc.createAnswer());
      await this._tunePublish();
      await this._gathered(pc);
      if (pc !== this.pc) return;
      const ack = await this.conn.request("rtc:answer", { sdp: pc.localDescription.sdp });
      if (pc !== this.pc) return;
      if (!ack.ok) {
        this.lastError = ack.message || ack.error;
        this._restart("answer_refused");
        return;
      }
      this._timer(() => {
        if (pc === this.pc && pc.connectionState !== "connected") this._restart("connect_timeout");
      }, CONNECT_TIMEOUT_MS);
    } catch (err) {
      console.warn("dewan rtc: negotiation failed", err);
      this.lastError = String(err?.message || err);
      if (pc === this.pc) this._restart("negotiation");
    }
  }

  // Publish m-lines are the ones the relay offers "recvonly": audio, then video: the
  // camera's high layer, its low layer, then (hall) the presentation. Both camera m-lines
  // send from the start; the high one is toggled with encodings[0].active (no new offer).
  _attachPublish(pc, sections) {
    const byMid = new Map(pc.getTransceivers().map((t) => [t.mid, t]));
    const videoRoles = ["video", "low", "screen"];
    let videoIndex = 0;
    this.publishers = { video: null, low: null, screen: null };
    for (const s of sections) {
      if (s.direction !== "recvonly") continue;
      const t = byMid.get(s.mid);
      if (!t) continue;
      const role = s.kind === "audio" ? "audio" : videoRoles[videoIndex++];
      const track = this.publish ? this.local[role] : null;
      if (track && track.readyState === "live") {
        t.sender.replaceTrack(track);
        t.direction = "sendonly";
        if (role !== "audio") this.publishers[role] = t.sender;
      } else {
        t.direction = "inactive";
      }
    }
  }

  // After the answer is set: bitrates, the low layer's scale, the high layer (rtc_layers.js).
  _tunePublish() { return tunePublish(this); }

  /** Turn the camera's high layer on or off (a point: while it holds the floor). */
  setHighLayer(on) { return setHighLayer(this, on); }

  // Complete gathering, or RELAY_GRACE_MS after the first relay candidate, or the cap:
  // no trickle (the answer carries the candidates), and no stall on a dead TURN server.
  _gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      let finished = false;
      const done = () => {
        if (finished) return;
        finished = true;
        pc.removeEventListener("icegatheringstatechange", check);
        pc.removeEventListener("icecandidate", onCandidate);
        resolve();
      };
      const check = () => { if (pc.iceGatheringState === "complete") done(); };
      const onCandidate = (e) => { if (e.candidate?.type === "relay") setTimeout(done, RELAY_GRACE_MS); };
      pc.addEventListener("icegatheringstatechange", check);
      pc.addEventListener("icecandidate", onCandidate);
      setTimeout(done, ICE_GATHER_TIMEOUT_MS);  // send what we have
    });
  }

  _onTrack(pc, event) {
    if (pc !== this.pc) return;
    const mid = event.transceiver?.mid;
    const slot = this.slots.get(mid);
    const streamId = event.streams?.[0]?.id || slot?.streamId;
    if (!streamId) return;
    if (slot) slot.trackId = event.track.id;
    const entry = this.tracks.get(streamId) || {};
    entry[event.track.kind] = event.track;
    this.tracks.set(streamId, entry);
    this._apply(streamId);
    this.dispatchEvent(new CustomEvent("track", { detail: { streamId, kind: event.track.kind } }));
  }

  _apply(streamId) {
    const el = this.bindings.get(streamId);
    const tr = this.tracks.get(streamId);
    if (!el || !tr) return;
    for (const kind of ["video", "audio"]) {
      const node = el[kind];
      const track = tr[kind];
      if (!node || !track) continue;
      if (node.srcObject?.getTracks?.()[0] !== track) node.srcObject = new MediaStream([track]);
      if (kind === "audio") node.muted = !this.soundEnabled;
      this._play(node, kind);
    }
  }

  // play() an element; an audio element refused for lack of a user gesture raises the
  // "audio blocked" event once (the page then shows its one big "Enable sound" button).
  _play(node, kind) {
    const played = node.play();
    if (!played) return;
    played.then(() => {
      if (kind === "audio" && this.audioBlocked
          && [...this.bindings.values()].every((b) => !b.audio || !b.audio.srcObject || !b.audio.paused)) {
        this.audioBlocked = false;
        this.dispatchEvent(new CustomEvent("audio", { detail: { blocked: false } }));
      }
    }).catch((err) => {
      if (kind === "audio" && err?.name === "NotAllowedError" && !this.audioBlocked) {
        this.audioBlocked = true;
        this.dispatchEvent(new CustomEvent("audio", { detail: { blocked: true } }));
      }
    });
  }

  // Every 2 s: a paused sound (a refused autoplay, a play() aborted by a new stream) is
  // tried again, so the kiosk never stays silent without showing why.
  _checkAudio() {
    if (!this.soundEnabled) return;
    for (const { audio } of this.bindings.values()) {
      if (audio && audio.srcObject && audio.paused) this._play(audio, "audio");
    }
  }

  _onPcState(pc, gen) {
    if (pc !== this.pc) return;
    this.pcState = pc.connectionState;
    if (pc.connectionState === "connected") {
      this.attempt = 0;
      this.lastError = null;
      this.unreachable = false;
      if (this._startedAt) this.joinTimes.push(Math.round(performance.now() - this._startedAt));
      this.connectedAt ??= performance.now();  // since the page's navigation started
      this._startedAt = 0;
      this._setState("connected");
    } else if (pc.connectionState === "failed") {
      this._restart("failed", 0);
    } else if (pc.connectionState === "disconnected") {
      this._setState("retrying");
      this._timer(() => {
        if (pc === this.pc && ["disconnected", "failed"].includes(pc.connectionState)) this._restart("disconnected", 0);
      }, DISCONNECTED_GRACE_MS);
    } else if (pc.connectionState === "closed") {
      this._restart("closed");
    }
    this.dispatchEvent(new CustomEvent("pcstate", { detail: { state: pc.connectionState, gen } }));
  }

  // Close the connection and send a NEW rtc:start after a backoff.
  _restart(reason, delay) {
    if (this.state === "stopped") return;
    this._clearTimers();
    this._closePc();
    const wait = delay ?? BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.lastReason = reason;
    this._setState("retrying", { reason });
    const gen = ++this.generation;
    this._timer(async () => {
      if (gen !== this.generation || this.state === "stopped") return;
      if (this.publish) await this.openDevices();
      if (gen !== this.generation) return;
      if (this.conn.status === "connected") this._sendStart();
      else this._setState("retrying", { reason: "socket" });  // the socket's "connected" restarts us
    }, wait);
  }

  _closePc() {
    const pc = this.pc;
    this.pc = null;
    if (pc) {
      try { pc.close(); } catch { /* already closed */ }
    }
  }

  _timer(fn, ms) {
    const id = setTimeout(() => { this._timers.delete(id); fn(); }, ms);
    this._timers.add(id);
  }

  _clearTimers() {
    for (const id of this._timers) clearTimeout(id);
    this._timers.clear();
  }

  _setState(state, detail = {}) {
    const changed = this.state !== state;
    this.state = state;
    if (changed || detail.reason) this.dispatchEvent(new CustomEvent("state", { detail: { state, ...detail } }));
  }

  // ---- statistics (rtc_stats.js) --------------------------------------------------
  /** Per receive slot (by stream id): inbound video and audio figures, for tests and UI. */
  stats() { return slotStats(this); }

  /** The BrowserStatsReport summary (server/health/report.py), with bitrates from deltas. */
  summary() { return statsSummary(this); }

  async _report() {
    if (!this.pc || this._statsUnsupported || this.conn.status !== "connected" || this.state === "stopped") return;
    let summary;
    try { summary = await this.summary(); } catch { return; }
    if (!summary) return;
    this.lastSummary = summary;
    const ack = await this.conn.request("stats:report", summary);
    this.lastReportAck = ack;
    this.reportsSent = (this.reportsSent || 0) + (ack.ok ? 1 : 0);
    if (!ack.ok && !this._reportWarned) {
      this._reportWarned = true;
      console.warn("dewan rtc: stats:report refused:", ack.error, ack.message);
    }
    if (!ack.ok && ack.error === "bad_request" && /Unknown event/.test(ack.message || "")) {
      this._statsUnsupported = true;  // this server does not take reports yet
    }
  }
}

export { mediaStateKey, showMediaStatus, watchSlots } from "./rtc_stats.js";
