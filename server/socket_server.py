"""The socket.io server, with one guard python-socketio lacks: a client may send an event
named like a reserved one ("connect", "disconnect"), and python-socketio hands it to the
namespace exactly as it hands the real ones, so a client could make the server run its
disconnect handling (the station marked gone) while its socket stays open. Such events are
refused here with a clear `bad_request` ack, before the namespace sees them."""

from __future__ import annotations

import socketio

from signaling.errors import BadRequest


class DewanSocketServer(socketio.AsyncServer):
    async def _handle_event(self, eio_sid, namespace, id, data):
        if data and isinstance(data[0], str) and data[0] in self.reserved_events:
            if id is not None:
                ack = BadRequest(f"{data[0]!r} is a reserved name, not an event a client may send.").to_ack()
                await self._send_packet(eio_sid, self.packet_class(
                    socketio.packet.ACK, namespace=namespace or "/", id=id, data=[ack]))
            return
        return await super()._handle_event(eio_sid, namespace, id, data)
