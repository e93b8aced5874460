// Media statistics of a MediaClient (rtc.js): per-slot inbound figures, the summary the page
// reports to the server (stats:report), and the small status helpers built on them.

/** Per receive slot (by stream id): inbound video and audio figures, for tests and UI. */
export async function slotStats(media) {
  const pc = media.pc;
  const out = {};
  if (!pc) return out;
  const report = await pc.getStats();
  const slotByTrack = new Map();
  const slotByMid = new Map();
  for (const [mid, s] of media.slots) {
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
export async function statsSummary(media) {
  const pc = media.pc;
  if (!pc) return null;
  const report = await pc.getStats();
  const now = performance.now();
  const last = media._stats.last;
  const dt = last ? (now - media._stats.at) / 1000 : 0;
  const rate = (id, bytes) => {
    const prev = last?.get(id);
    if (!prev || dt <= 0 || bytes == null || prev.bytes == null) return undefined;
    return Math.max(0, ((bytes - prev.bytes) * 8) / 1000 / dt);
  };
  const mainStream = media.kind === "point" || media.kind === "chair" || media.kind === "observer" || media.kind === "technician"
    ? "hall" : "floor";
  const mainMids = new Set([...media.slots].filter(([, s]) => s.streamId === mainStream).map(([mid]) => mid));
  const mainTracks = new Set([...media.slots.values()].filter((s) => s.streamId === mainStream).map((s) => s.trackId));
  const isMain = (r) => (r.mid != null ? mainMids.has(String(r.mid)) : mainTracks.has(r.trackIdentifier));
  const pubVideo = [...media.slots].filter(([, s]) => s.direction === "recvonly" && s.kind === "video")
    .map(([mid]) => mid).slice(0, 2);  // the camera's high and low layers
  const seen = new Map();
  const result = { ice_state: pc.iceConnectionState, connection_state: pc.connectionState };
  if (media.unreachable) result.media_unreachable = true;
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
  media._stats = { last: seen, at: now };
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
