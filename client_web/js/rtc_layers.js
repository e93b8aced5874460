// The camera's two layers (aiortc has no simulcast): what each page kind publishes, the
// encodings' bitrates and scale, and turning the high layer on and off (rtc.js MediaClient).

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
export function cameraOverride(base) {
  const raw = new URLSearchParams(location.search).get("video");
  const m = raw && /^(\d{2,4})x(\d{2,4})(?:@(\d{1,2}))?$/.exec(raw);
  if (!m) return base;
  return { width: Number(m[1]), height: Number(m[2]), frameRate: Number(m[3] || base.frameRate) };
}

// After the answer is set (the encodings exist): bitrates, the low layer's scale, and
// whether the high layer is on.
export async function tunePublish(media) {
  const size = media.local.video?.getSettings?.() || {};
  const height = size.height || media.camera.height;
  const tune = async (sender, fn) => {
    if (!sender) return;
    try {
      const p = sender.getParameters();
      if (!p.encodings || !p.encodings.length) p.encodings = [{}];
      fn(p, p.encodings[0]);
      await sender.setParameters(p);
    } catch (err) { console.warn("dewan rtc: setParameters", err?.message || err); }
  };
  const kind = media.kind === "hall" ? "hall" : "point";
  await tune(media.publishers.video, (p, e) => {
    e.maxBitrate = LAYERS.high[kind]; e.active = media.highOn;
    p.degradationPreference = media.highOn ? "maintain-resolution" : "balanced";  // see setHighLayer
  });
  if (media.highOn) adaptHighLayerLater(media, media.publishers.video);
  await tune(media.publishers.low, (p, e) => {
    e.maxBitrate = LAYERS.low[kind]; e.active = true;
    e.scaleResolutionDownBy = Math.max(1, height / LAYERS.low.height);
  });
  await tune(media.publishers.screen, (p, e) => { e.maxBitrate = 1_500_000; p.degradationPreference = "maintain-resolution"; });
}

/** Turn the camera's high layer on or off (a point: while it holds the floor). */
export async function setHighLayer(media, on) {
  if (media.highOn === on) return;
  media.highOn = on;
  media.highChangedAt = Date.now();
  const sender = media.publishers.video;
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
    if (on) adaptHighLayerLater(media, sender);
  } catch (err) { console.warn("dewan rtc: high layer", err?.message || err); }
  media.dispatchEvent(new CustomEvent("layer", { detail: { high: on } }));
}

function adaptHighLayerLater(media, sender) {
  clearTimeout(media._adaptTimer);
  media._adaptTimer = setTimeout(() => adaptHighLayer(media, sender), HIGH_LAYER_RAMP_MS);
}

async function adaptHighLayer(media, sender) {
  if (!media.highOn || sender !== media.publishers.video) return;
  try {
    const p = sender.getParameters();
    p.degradationPreference = "balanced";
    await sender.setParameters(p);
  } catch (err) { console.warn("dewan rtc: high layer", err?.message || err); }
}
