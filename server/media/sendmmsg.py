"""Batched sends on the shared UDP socket: Linux ``sendmmsg(2)`` through ctypes (Python 3.11
has no ``socket.sendmmsg``). The datagrams one callback sends (a packet's copies for every
subscriber) are queued and handed to the kernel in one call at the end of the loop
iteration. Off by default (``media.send_batching``): see bench/README.md for what it
measured.
"""

from __future__ import annotations

import ctypes
import ipaddress
import logging
import socket
import struct

logger = logging.getLogger(__name__)
BATCH = 64


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_char_p), ("iov_len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(_IoVec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint)]


try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _sendmmsg = _libc.sendmmsg
    _sendmmsg.argtypes = [ctypes.c_int, ctypes.POINTER(_MMsgHdr), ctypes.c_uint, ctypes.c_int]
    _sendmmsg.restype = ctypes.c_int
except (OSError, AttributeError):  # pragma: no cover - not Linux/glibc
    _sendmmsg = None


def available() -> bool:
    return _sendmmsg is not None


def _sockaddr(addr) -> ctypes.Array:
    ip = ipaddress.ip_address(addr[0])
    if ip.version == 4:
        raw = struct.pack("=H", socket.AF_INET) + struct.pack("!H", addr[1]) + ip.packed + bytes(8)
    else:
        raw = struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", addr[1], 0) + ip.packed + bytes(4)
    return ctypes.create_string_buffer(raw, len(raw))


class BatchSender:
    """Queue ``(data, addr)``; send the queue with sendmmsg once per loop iteration."""

    def __init__(self, loop, transport) -> None:
        self.loop = loop
        self.transport = transport
        self.fd = transport.get_extra_info("socket").fileno()
        self.pending: list = []
        self._scheduled = False
        self._iov = (_IoVec * BATCH)()
        self._msgs = (_MMsgHdr * BATCH)()
        for i in range(BATCH):
            hdr = self._msgs[i].msg_hdr
            hdr.msg_iov = ctypes.pointer(self._iov[i])
            hdr.msg_iovlen = 1
        self._names: dict = {}  # addr -> (buffer, address, length)
        self.calls = 0
        self.sent = 0

    def sendto(self, data: bytes, addr) -> None:
        self.pending.append((data if type(data) is bytes else bytes(data), addr))
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self.flush)

    def _name(self, addr):
        entry = self._names.get(addr)
        if entry is None:
            if len(self._names) > 4096:
                self._names.clear()
            buf = _sockaddr(addr)
            entry = self._names[addr] = (buf, ctypes.addressof(buf), len(buf))
        return entry

    def flush(self) -> None:
        self._scheduled = False
        pending, self.pending = self.pending, []
        transport = self.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size():  # keep the order behind what uvloop buffered
            for data, addr in pending:
                transport.sendto(data, addr)
            return
        iov, msgs = self._iov, self._msgs
        start = 0
        while start < len(pending):
            chunk = pending[start:start + BATCH]
            for i, (data, addr) in enumerate(chunk):
                v = iov[i]
                v.iov_base = data
                v.iov_len = len(data)
                _, name, length = self._name(addr)
                hdr = msgs[i].msg_hdr
                hdr.msg_name = name
                hdr.msg_namelen = length
            sent = _sendmmsg(self.fd, msgs, len(chunk), 0)
            self.calls += 1
            if sent < 0:
                sent = 0
            self.sent += sent
            for data, addr in chunk[sent:]:  # EAGAIN or an error: uvloop's own path handles it
                transport.sendto(data, addr)
            start += len(chunk)
        for i in range(min(len(pending), BATCH)):
            iov[i].iov_base = None  # drop the references to the sent buffers
