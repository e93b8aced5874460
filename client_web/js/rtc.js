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

const ICE_GATHER_TIMEOUT_MS = 2500;   // cap: an unreachable TURN server never completes gathering
const RELAY_GRACE_MS = 300;           // after the first relay candidate, wait this long for others
const NO_PAIR_MS = 6000;
const OFFER_TIMEOUT_MS = 10000;
const CONNECT_TIMEOUT_MS = 15000;
const DISCONNECTED_GRACE_MS = 3000;
const STATS_INTERVAL_MS = 2000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const HIGH_LAYER_RAMP_MS = 4000;

// What each page kind publishes and how (the m-line order is in server/media/__init__.py).
export const CAMERA = {
  point: { width: 640, height: 360, frameRate: 30 },
  hall: { width: 1280, height: 720, frameRate: 30 },
};
// Two layers of the camera (aiortc has no simulcast): the high one on the first publish
// video m-line, the low one (tiles, weak links) on the second, ~180p.
export const LAYERS = {
  high: { point: 1_000_000, hall: 1_500_000 },     // maxBitrate
  low: { point: 200_000, hall: 250_000, height: 180 },
};

// Parse "?video=640x360@15" (tests and weak PCs may ask for a lighter camera).
function cameraOverride(base) {
  const raw = new URLSearchParams(location.search).get("video");
  const m = raw && /^(\d{2,4})x(\d{2,4})(?:@(\d{1,2}))?$/.exec(raw);
  if (!m) return base;
  return { width: Number(m[1]), height: Number(m[2]), frameRate: Number(m[3] || base.frameRate) };
}

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

  // After the answer is set (the encodings exist): bitrates, the low layer's scale, and
  // whether the high layer is on.
  async _tunePublish() {
    const size = this.local.video?.getSettings?.() || {};
    const height = size.height || this.camera.height;
    const tune = async (sender, fn) => {
      if (!sender) return;
      try {
        const p = sender.getParameters();
        if (!p.encodings || !p.encodings.length) p.encodings = [{}];
        fn(p, p.encodings[0]);
        await sender.setParameters(p);
      } catch (err) { console.warn("dewan rtc: setParameters", err?.message || err); }
    };
    const kind = this.kind === "hall" ? "hall" : "point";
    await tune(this.publishers.video, (p, e) => {
      e.maxBitrate = LAYERS.high[kind]; e.active = this.highOn;
      p.degradationPreference = this.highOn ? "maintain-resolution" : "balanced";  // see setHighLayer
    });
    if (this.highOn) this._adaptHighLayerLater(this.publishers.video);
    await tune(this.publishers.low, (p, e) => {
      e.maxBitrate = LAYERS.low[kind]; e.active = true;
      e.scaleResolutionDownBy = Math.max(1, height / LAYERS.low.height);
    });
    await tune(this.publishers.screen, (p, e) => { e.maxBitrate = 1_500_000; p.degradationPreference = "maintain-resolution"; });
  }

  /** Turn the camera's high layer on or off (a point: while it holds the floor). */
  async setHighLayer(on) {
    if (this.highOn === on) return;
    this.highOn = on;
    this.highChangedAt = Date.now();
    const sender = this.publishers.video;
    if (!sender) return;
    try {
      const p = sender.getParameters();
      if (!p.encodings?.length) return;
      p.encodings[0].active = on;
      // An encoder started while the connection's estimate is still low (a new connection,
      // or one that carried only the low layer) would start at a lower resolution
      // (libwebrtc's initial frame dropper) and stay there: the hall's 720p camera went
      // out at 360p for good. Hold the resolution while the estimate ramps up (~1-2 s),
      // then let it adapt to the uplink again.
      if (on) p.degradationPreference = "maintain-resolution";
      await sender.setParameters(p);
      if (on) this._adaptHighLayerLater(sender);
    } catch (err) { console.warn("dewan rtc: high layer", err?.message || err); }
    this.dispatchEvent(new CustomEvent("layer", { detail: { high: on } }));
  }

  _adaptHighLayerLater(sender) {
    clearTimeout(this._adaptTimer);
    this._adaptTimer = setTimeout(() => this._adaptHighLayer(sender), HIGH_LAYER_RAMP_MS);
  }

  async _adaptHighLayer(sender) {
    if (!this.highOn || sender !== this.publishers.video) return;
    try {
      const p = sender.getParameters();
      p.degradationPreference = "balanced";
      await sender.setParameters(p);
    } catch (err) { console.warn("dewan rtc: high layer", err?.message || err); }
  }

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

  // ---- statistics ------------------------------------------------------------------
  /** Per receive slot (by stream id): inbound video and audio figures, for tests and UI. */
  async stats() {
    const pc = this.pc;
    const out = {};
    if (!pc) return out;
    const report = await pc.getStats();
    const slotByTrack = new Map();
    const slotByMid = new Map();
    for (const [mid, s] of this.slots) {
      if (!s.streamId) continue;
      slotByMid.set(mid, s);
      if (s.trackId) slotByTrack.set(s.trackId, s);
    }
    report.forEach((r) => {
      if (r.type !== "inbound-rtp") return;
      const slot = (r.mid != null && slotByMid.get(String(r.mid))) || slotByTrack.get(r.trackIdentifier);
      if (!slot) return;
      const entry = out[slot.streamId] || (out[slot.streamId] = {});
      if (r.kind === "video") {
        entry.video = {
          mid: slot.mid, framesDecoded: r.framesDecoded ?? 0, keyFramesDecoded: r.keyFramesDecoded ?? 0,
          freezeCount: r.freezeCount ?? 0, frameWidth: r.frameWidth ?? 0, frameHeight: r.frameHeight ?? 0,
          framesPerSecond: r.framesPerSecond ?? 0, packetsReceived: r.packetsReceived ?? 0,
          packetsLost: r.packetsLost ?? 0, bytesReceived: r.bytesReceived ?? 0,
        };
      } else {
        entry.audio = {
          mid: slot.mid, totalAudioEnergy: r.totalAudioEnergy ?? 0, audioLevel: r.audioLevel ?? 0,
          packetsReceived: r.packetsReceived ?? 0, jitter: r.jitter ?? 0, bytesReceived: r.bytesReceived ?? 0,
        };
      }
    });
    return out;
  }

  /** The BrowserStatsReport summary (server/health/report.py), with bitrates from deltas. */
  async summary() {
    const pc = this.pc;
    if (!pc) return null;
    const report = await pc.getStats();
    const now = performance.now();
    const last = this._stats.last;
    const dt = last ? (now - this._stats.at) / 1000 : 0;
    const rate = (id, bytes) => {
      const prev = last?.get(id);
      if (!prev || dt <= 0 || bytes == null || prev.bytes == null) return undefined;
      return Math.max(0, ((bytes - prev.bytes) * 8) / 1000 / dt);
    };
    const mainStream = this.kind === "point" || this.kind === "chair" || this.kind === "observer" || this.kind === "technician"
      ? "hall" : "floor";
    const mainMids = new Set([...this.slots].filter(([, s]) => s.streamId === mainStream).map(([mid]) => mid));
    const mainTracks = new Set([...this.slots.values()].filter((s) => s.streamId === mainStream).map((s) => s.trackId));
    const isMain = (r) => (r.mid != null ? mainMids.has(String(r.mid)) : mainTracks.has(r.trackIdentifier));
    const pubVideo = [...this.slots].filter(([, s]) => s.direction === "recvonly" && s.kind === "video")
      .map(([mid]) => mid).slice(0, 2);  // the camera's high and low layers
    const seen = new Map();
    const result = { ice_state: pc.iceConnectionState, connection_state: pc.connectionState };
    if (this.unreachable) result.media_unreachable = true;
    let outVideo = null; let outAudio = null; let inVideo = null; let inAudio = null; let pair = null;
    const byId = new Map();
    report.forEach((r) => byId.set(r.id, r));
    report.forEach((r) => {
      if (r.bytesSent != null || r.bytesReceived != null) seen.set(r.id, { bytes: r.bytesSent ?? r.bytesReceived });
      if (r.type === "outbound-rtp" && r.kind === "video" && pubVideo.includes(String(r.mid ?? pubVideo[0]))
          && (!outVideo || (r.framesPerSecond || 0) > (outVideo.fps || 0))) {  // the busier camera layer
        outVideo = {
          fps: r.framesPerSecond, width: r.frameWidth, height: r.frameHeight, bitrate_kbps: rate(r.id, r.bytesSent),
          quality_limitation: r.qualityLimitationReason, packets_sent: r.packetsSent, frames_encoded: r.framesEncoded,
        };
      } else if (r.type === "outbound-rtp" && r.kind === "audio") {
        const src = r.mediaSourceId ? byId.get(r.mediaSourceId) : null;
        outAudio = { level: src?.audioLevel, bitrate_kbps: rate(r.id, r.bytesSent), packets_sent: r.packetsSent };
      } else if (r.type === "inbound-rtp" && isMain(r)) {
        if (r.kind === "video") {
          inVideo = {
            fps: r.framesPerSecond, width: r.frameWidth, height: r.frameHeight, frames_decoded: r.framesDecoded,
            freeze_count: r.freezeCount, bitrate_kbps: rate(r.id, r.bytesReceived), packets_lost: r.packetsLost,
            packets_received: r.packetsReceived,
          };
        } else {
          inAudio = {
            total_audio_energy: r.totalAudioEnergy, level: r.audioLevel, bitrate_kbps: rate(r.id, r.bytesReceived),
            packets_lost: r.packetsLost, packets_received: r.packetsReceived, jitter: r.jitter,
          };
        }
      } else if (r.type === "transport" && r.selectedCandidatePairId) {
        pair = byId.get(r.selectedCandidatePairId);
      }
    });
    if (!pair) report.forEach((r) => { if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") pair = r; });
    this._stats = { last: seen, at: now };
    const clean = (o) => {
      if (!o) return undefined;
      const c = {};
      for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && (typeof v !== "number" || Number.isFinite(v))) c[k] = v;
      return Object.keys(c).length ? c : undefined;
    };
    if (outVideo && outVideo.quality_limitation && !["none", "cpu", "bandwidth", "other"].includes(outVideo.quality_limitation)) {
      outVideo.quality_limitation = "other";
    }
    if (outAudio?.level != null) outAudio.level = Math.min(1, Math.max(0, outAudio.level));
    if (inAudio?.level != null) inAudio.level = Math.min(1, Math.max(0, inAudio.level));
    const outbound = clean({ video: clean(outVideo), audio: clean(outAudio) });
    const inbound = clean({ video: clean(inVideo), audio: clean(inAudio) });
    if (outbound) result.outbound = outbound;
    if (inbound) result.inbound = inbound;
    if (pair) {
      const local = byId.get(pair.localCandidateId);
      const remote = byId.get(pair.remoteCandidateId);
      const cp = clean({
        local_type: local?.candidateType, remote_type: remote?.candidateType, protocol: local?.protocol,
        relay_protocol: local?.candidateType === "relay" ? local?.relayProtocol : undefined,
        rtt_ms: pair.currentRoundTripTime != null ? Math.min(600000, pair.currentRoundTripTime * 1000) : undefined,
        available_outgoing_bitrate_kbps: pair.availableOutgoingBitrate != null ? pair.availableOutgoingBitrate / 1000 : undefined,
      });
      if (cp) result.candidate_pair = cp;
    }
    return result;
  }

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

/** Connection state of the media, in catalog keys ("media.state.<state>"). */
export function mediaStateKey(media) {
  return `media.state.${media.state}`;
}

/** Keep `node` showing the media connection's state in words (data-state for styling). */
export function showMediaStatus(media, node, t) {
  const render = () => {
    let key = mediaStateKey(media);
    if (media.state === "connected" && media.publish && media.mediaError) key = "media.state.connected_nodevice";
    else if (media.unreachable && media.state !== "connected") key = "media.state.unreachable";
    node.dataset.state = media.unreachable && media.state !== "connected" ? "unreachable" : media.state;
    node.textContent = t(key);
    node.title = media.lastError || "";
  };
  media.addEventListener("state", render);
  media.addEventListener("devices", render);
  render();
}

/** Calls `onChange(streamId, active)` when a slot starts or stops showing new frames
 * (a presentation being shared, the floor holder's picture arriving). */
export function watchSlots(media, streamIds, onChange, intervalMs = 1000, idleMs = 3000) {
  const seen = new Map();  // streamId -> {frames, at, active}
  const tick = async () => {
    let stats = {};
    try { stats = await media.stats(); } catch { /* no connection */ }
    const now = performance.now();
    for (const id of streamIds) {
      const frames = stats[id]?.video?.framesDecoded ?? 0;
      const prev = seen.get(id) || { frames: 0, at: 0, active: false };
      const at = frames > prev.frames ? now : (frames < prev.frames ? 0 : prev.at);
      const active = at > 0 && now - at < idleMs;
      seen.set(id, { frames, at, active });
      if (active !== prev.active) onChange(id, active);
    }
  };
  return setInterval(tick, intervalMs);
}
