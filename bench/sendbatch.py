"""Per-packet send cost on the relay's shared UDP socket: one ``sendto`` per datagram
(uvloop) against Linux ``sendmmsg(2)`` batches through ctypes (Python 3.11 has no
``socket.sendmmsg``), in isolation. The datagrams one callback sends (a packet's copies for
every subscriber) are queued and handed to the kernel in one call at the end of the loop
iteration. It measured MORE CPU per datagram than plain sendto (ctypes field writes cost
more than the syscalls saved), so the relay does not use it: see bench/README.md.

    .venv/bin/python -m bench.sendbatch [--fanout 20] [--packets 200000] [--runs 3]

Each "packet" is sent to ``--fanout`` subscribers (one loop iteration, as the relay's
fan-out does); a child process drains the receiving sockets. The figure is this process's
CPU time (user + system) per datagram; median of ``--runs`` alternating runs.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ipaddress
import multiprocessing
import os
import selectors
import socket
import statistics
import struct
import time
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


def drain(ports_q, stop, fanout: int) -> None:
    socks = []
    sel = selectors.DefaultSelector()
    for _ in range(fanout):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    ports_q.put([s.getsockname()[1] for s in socks])
    while not stop.is_set():
        for key, _ in sel.select(0.2):
            try:
                while True:
                    key.fileobj.recv(2048)
            except BlockingIOError:
                pass


async def run(mode: str, addrs: list, packets: int) -> float:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    send = BatchSender(loop, transport).sendto if mode == "batched" else transport.sendto
    payload = bytes(1200)
    sent = 0
    cpu0 = time.process_time()
    while sent < packets:
        for addr in addrs:
            send(payload, addr)
        sent += len(addrs)
        await asyncio.sleep(0)  # the loop iteration ends: the batch is flushed
        if sent % (len(addrs) * 50) == 0:
            await asyncio.sleep(0.001)  # pace a little: the drain must keep up
    await asyncio.sleep(0.01)
    cpu = time.process_time() - cpu0
    transport.close()
    return cpu / sent * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fanout", type=int, default=20)
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import uvloop

    q, stop = multiprocessing.Queue(), multiprocessing.Event()
    child = multiprocessing.Process(target=drain, args=(q, stop, args.fanout), daemon=True)
    child.start()
    addrs = [("127.0.0.1", p) for p in q.get(timeout=10)]
    results: dict[str, list[float]] = {"sendto": [], "batched": []}
    try:
        for _ in range(args.runs):
            for mode in results:
                results[mode].append(uvloop.run(run(mode, addrs, args.packets)))
    finally:
        stop.set()
        child.join(2)
    for mode, values in results.items():
        print(f"{mode:8s} CPU us per datagram: median {statistics.median(values):.2f} "
              f"(runs {', '.join(f'{v:.2f}' for v in values)})")
    ratio = statistics.median(results["batched"]) / statistics.median(results["sendto"])
    print(f"batched / sendto: {ratio:.2f}  (fan-out {args.fanout}, load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
