"""Dewan's media relay: an SFU on aiortc that forwards RTP packets, never decodes or encodes.

Public interface (everything else in this package is internal)::

    from server.media import Router, MediaSettings, MediaError, selfcheck

    router = Router(conference_id, hall_id, point_ids, MediaSettings(), on_event)
    offer_sdp = await router.start_peer(sid, kind, point_id)   # rtc:start -> rtc:offer
    await router.accept_answer(sid, answer_sdp)                 # rtc:answer
    router.set_floor(point_id | None); router.set_muted(point_id, True)
    router.set_queue([point_id, ...])                           # the speaker queue, in order
    router.set_tiles(sid, page=1, pinned=[point_id, ...])      # tiles:view -> the view
    router.tile_view(sid)
    router.set_preview(technician_sid, point_id | None)
    router.link_stats(); router.counters(); router.layer_report()
    router.add_sink(sink); router.remove_sink(sink)             # the recorder's slots
    await router.close_peer(sid, reason); await router.close()
    await selfcheck()                                            # once at start-up

``on_event(name, payload)`` is called with:

* ``"peer_state"``  ``{"participant", "point", "kind", "state"}``; state is one of
  ``connecting``, ``connected``, ``failed``, ``closed`` (aiortc's connectionState; a
  peer that fails or that aiortc closes by itself is closed by the relay, followed by
  ``peer_closed`` with reason ``failed``/``closed``; the client sends ``rtc:start`` again);
* ``"peer_closed"`` ``{"participant", "point", "kind", "reason"}``;
* ``"producer"``    ``{"point", "track": "audio"|"video"|"low"|"presentation",
  "state": "added"|"removed"}``;
* ``"tiles"``       ``{"participant", "slots": {"tile-0": point_id | None, ...}, "count",
  "page", "pages", "per_page", "pinned"}`` whenever a console's tile slots change (the
  server sends it, without ``participant``, to that console as the ``tiles`` event);
* ``"layers"``      ``{"participant", "point", "video": "high"|"low"|"off", "reason":
  "no_estimate"|"fits"|"estimate_low"|"audio_only", "budget_kbps", "need_kbps"}`` when a
  viewer's layer choice or its reason changes (sent, without ``participant``, to that page
  as the ``layers`` event; ``off`` = sound only, and the point page says so in words).
  ``layer_report()`` -> ``{point_id: {...same...}}`` for every point's own page (the
  dashboard's ``health`` broadcast carries it as ``layers``).

Per-viewer layers
-----------------
Each viewer's video slots get layers from that viewer's own feedback (``.layers``,
``.viewers``): its REMB when it sends one (Chrome's is one estimate per connection, split
by priority floor > hall > presentation > tiles, audio kept aside first), else an estimate
from its receiver reports: congested = above 10 % loss (from the reports' cumulative
counters, over the last second) or a round trip 150 ms above the lowest of the last minute
(a queue); two congested readings: one step down; clean for a hold (8 s, doubling after a
failed try, at most 12 s): one choice up, at most every 2 s, which is the probe. Down at
once, up when the better choice
fits with 15 % to spare for 3 s; the switch happens at the new layer's key frame. When not
even the low layer fits, the viewer's video slots carry nothing (sound only). A slot whose
publisher has one layer is never cut. Viewers held low on a REMB estimate get RTX padding
(copies of recent packets) in 1.5 s bursts every 6 s, so the estimate can climb back.
transport-cc is not negotiated (the relay does not estimate from it, and with it Chrome
stops sending REMB).

Tile slots
----------
Chair consoles, the hall station and technician dashboards get ``MediaSettings.tile_slots``
(config ``media.tile_slots``, default 25) video m-lines, ``tile-0`` ... ``tile-<N-1>``,
however many points the conference has. The relay re-points them like the floor slots (no
renegotiation; make before break on a key frame). Each console's slots are filled with, in
order: the floor holder and the queue; the points that console pinned; the rest of the
points (configuration order), a page at a time (``per_page`` = slots left after the first
two groups; ``pages`` = how many pages the rest needs). A point that stays in view keeps its
slot. Paging and pinning: the client event ``tiles:view {page?: int >= 0, pinned?: [point
id, ...] (at most 64)}``; its ack carries ``{"tiles": <the view>}``; a page beyond the last
is clamped. A new ``rtc:start`` keeps the console's page and pins.

Statistics
----------
``link_stats()`` -> ``{point_id: {...}}`` for every point (hall included), from the point's
publishing connection; every value is None when unknown: ``ice_state``, ``dtls_state``,
``candidate_type`` (remote candidate of the selected pair: host/srflx/prflx/relay),
``rtt_ms`` (RTCP RR on the relay's sending legs), ``loss_up`` (publisher -> relay before
repair, over the last ~2 s), ``loss_down`` (worst RR fraction lost of its receive slots),
``jitter_ms`` (inbound), ``bitrate_up_kbps``, ``bitrate_down_kbps``, ``fps_up`` (~2 s
windows, sampled once a second), ``media_silence_s``, ``packets_up``, ``packets_down``.

``counters()`` -> totals since start: ``packets_forwarded``, ``bytes_forwarded``,
``packets_received``, ``bytes_received``, ``plis_sent``, ``plis_received``,
``nacks_received``, ``retransmissions``, ``keyframes`` (consumer restarts on a key
frame), ``send_dropped`` (the socket's send buffer was full), and gauges ``peers``, ``producers``, ``consumers_active``.

Test-only fault hook: ``Router.impair(point_id, drop_up=0.05, drop_down=0.05)`` drops that
fraction of the point's RTP on the relay's datagram path (upstream before the relay reads
it, so the relay NACKs; downstream after the NACK cache, so the client's NACKs are
answered); ``Router.impair_participant(sid, drop_down)`` for non-publishers.

Negotiation
-----------
The relay is ALWAYS the offerer. ``start_peer`` returns one offer with every m-line of the
participant's kind, BUNDLEd, mids "0", "1", ... in the order below. Audio m-lines offer
Opus only, video m-lines VP8 (+ rtx) only. The browser answers (no trickle: send the
answer when ICE gathering is complete). A new ``rtc:start`` always builds a NEW
RTCPeerConnection on both sides (aiortc cannot restart ICE).

How a browser publishes (kinds ``point`` and ``hall``): the publish m-lines are offered
``recvonly`` by the relay. After ``setRemoteDescription(offer)`` take
``pc.getTransceivers()`` and, for the publish m-lines (matched by ``transceiver.mid``),
call ``transceiver.sender.replaceTrack(track)`` and set
``transceiver.direction = "sendonly"``; then ``createAnswer()``. The hall's presentation
m-line (mid "3") may stay ``inactive`` (direction "inactive" or no track) until a screen
is shared; sharing later needs a new ``rtc:start``.

Two layers (aiortc has no simulcast): the camera goes out twice, ``publish.video`` = the
high layer (the hall: 720p at up to 1.5 Mbit/s; a point: its camera at up to 1 Mbit/s) and
``publish.low`` = the low layer (~180p, 200-250 kbit/s: a clone of the camera track with
``scaleResolutionDownBy``). Both are ``sendonly`` in the answer from the start; the high one
is switched with ``sender.setParameters`` (``encodings[0].active``), never with a new
``rtc:start``: the hall keeps it on; a point turns it on while it holds the floor and off
after. The relay picks a layer per slot: floor, hall and preview slots take the high layer
while it is on (packets within the last second), else the low one; tile slots take the low
layer (else the high one). A producer that starts or resumes wakes the router, so a grant
reaches the floor slots' viewers on the high layer at its first key frame. A publisher with
one video m-line (aiortc peers, older pages) is used for everything. Receive slots are offered
``sendonly``; leave their transceivers as they are (``recvonly``).

Receive slots: each slot group has its own msid stream id, so ``ontrack``'s
``event.streams[0].id`` names the screen element and audio/video of a group lip-sync:
stream ids ``hall``, ``floor``, ``presentation``, ``preview``, ``tile-<i>``; track ids
``<stream>-audio`` / ``<stream>-video`` (e.g. ``hall-audio``, ``tile-0-video``).
``event.transceiver.mid`` with the table below gives the same answer.

m-line order per kind (``<tiles>`` = the ``tile_slots`` tile video m-lines, ``tile.0.video``
... in index order; see "Tile slots" above):

=============  =====================================================================
kind           m-lines (mid 0, 1, ...)
=============  =====================================================================
point          publish audio, publish video (high), publish low (video), hall.audio,
               hall.video, floor.audio, floor.video, presentation.video
hall           publish audio, publish video (high), publish low (video), publish
               presentation (video), floor.audio, floor.video, <tiles>
chair          hall.audio, hall.video, floor.audio, floor.video, presentation.video,
               <tiles>
technician     hall.video, <tiles>, preview.audio, preview.video
observer       hall.audio, hall.video, floor.audio, floor.video, presentation.video
precheck       publish audio, publish video, echo.audio, echo.video (the pre-join check:
               the page's own camera and microphone come back, forwarded; nobody else
               receives them)
=============  =====================================================================

``server.media.slots.layout(kind, tile_slots)`` returns this list as data.

Forwarding rules (enforced here whatever a browser does)
--------------------------------------------------------
* Only the hall's audio and the floor holder's audio ever reach points; a district's
  audio reaches nobody unless it holds the floor (a technician's preview is the one
  exception: it reaches only that technician). A muted point's audio reaches nobody.
* Floor slots carry nothing to the floor holder itself (no echo) and nothing while the
  hall holds the floor (``set_floor(None)`` or ``set_floor(hall_id)``).
* ``set_floor`` re-points every floor slot at the new holder without renegotiation: same
  SSRC, continuous sequence numbers, timestamps and VP8 picture IDs. A video slot keeps
  forwarding the previous speaker until the new one's key frame arrives (one PLI,
  throttled to one per producer per ``pli_min_interval_s``), then switches on it: make
  before break, so the viewer never sees a frozen or black picture during a switch.
* A tile slot carries the video of the point its console's view gives it (see "Tile
  slots"); ``presentation`` carries the hall's screen.
"""

from .errors import MediaError
from .router import Router
from .selfcheck import selfcheck
from .settings import MediaSettings
from .slots import layout

__all__ = ["MediaError", "MediaSettings", "Router", "layout", "selfcheck"]
