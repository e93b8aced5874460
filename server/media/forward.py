"""Tap and rewrite: the packet path of the relay (no decoding, no encoding).

* :class:`Producer` is one relay-side ``RTCRtpReceiver``. Its packets normally come from the
  peer's :class:`~.ingress.Ingress` (decrypted datagram -> :meth:`Producer.on_rtp`, in the
  socket's callback); the producer parses only what it forwards, feeds the receiver's own
  statistics and NACK generator (so aiortc's receiver reports and NACKs to the publisher
  stay right), unwraps RTX, and hands the packet to its consumers. The receiver's jitter
  buffer is replaced by :class:`TapJitterBuffer`, so the packets aiortc's own path still
  carries (the first of a new SSRC) reach the producer too and no frame ever reaches a
  decoder. The stock REMB estimator is switched off; the router sends the relay's own
  REMB once a second instead.
* :class:`Consumer` owns one negotiated relay-side ``RTCRtpSender`` (one slot of one
  subscriber). The sender is parked on a track that never yields (no encoder, no polling);
  the consumer rewrites SSRC, sequence number, timestamp, payload type, header extensions
  (mid, abs-send-time, audio level) and the VP8 picture ID / TL0PICIDX, protects the packet
  with the connection's SRTP session and writes it to the selected ICE pair's socket.
  Subscriber NACKs are answered from the consumer's own cache (as RTX when negotiated);
  PLI/FIR become a throttled PLI to the producer; RR gives RTT and loss; the consumer sends
  its own sender reports (on the stock sender's RTCP timer) once it has forwarded something.

The hot path (``Producer.on_rtp`` -> ``Consumer.forward``) is synchronous (no task, no
coroutine per packet), logs nothing and allocates only the outgoing packet and its cache
entry.

Modules: :mod:`.producer` (``Producer``, ``InPacket``, ``TapJitterBuffer``),
:mod:`.consumer` (``Consumer``), :mod:`.runtime` (``spawn``, ``run_now``, ``log_once``,
``route_rtx_by_ssrc``, ``ParkedTrack``). This module re-exports them.
"""

from .consumer import Consumer
from .producer import InPacket, Producer, TapJitterBuffer
from .runtime import ParkedTrack, log_once, route_rtx_by_ssrc, run_now, spawn

__all__ = ["Consumer", "InPacket", "ParkedTrack", "Producer", "TapJitterBuffer",
           "log_once", "route_rtx_by_ssrc", "run_now", "spawn"]
