"""The track file: one recorded slot, append-only.

Layout::

    {"format": "dewan-rtp", "version": 1, "slot": ..., "kind": ..., "codec": ...,
     "clock_rate": ..., "payload_type": ..., "ssrc": ..., "created_at": ...}\\n
    record*

    record = magic b"DR" | length u16 | arrival f64 | crc32 u32   (little endian, 16 bytes)
             | RTP packet (length bytes, the recorder's rewritten header + payload)

``arrival`` is the wall-clock time (seconds since the epoch) the packet reached the relay;
``crc32`` covers arrival and packet. The writer appends whole batches and flushes them, so
after a crash (SIGKILL) the file is a prefix of what was written: a LAST record cut short is
expected and the reader stops there (``Reader.truncated_at``). Anything else that does not
parse (a bad marker, a bad checksum, a record cut short with more data after it cannot
happen) is damage: :class:`RecordingFileError` names the file and the byte offset.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Iterator, Optional

FORMAT = "dewan-rtp"
VERSION = 1
MAGIC = b"DR"
RECORD = struct.Struct("<2sHdI")
MAX_HEADER_BYTES = 4096
_REQUIRED = ("slot", "kind", "codec", "clock_rate", "payload_type", "ssrc")


class RecordingFileError(Exception):
    """A recording file that cannot be read: ``str()`` names the file and byte offset."""

    def __init__(self, path, offset: int, what: str, *, crash_tail: bool = False) -> None:
        self.path = str(path)
        self.offset = offset
        self.what = what
        #: True for what a crash can leave (a file created but its header not yet
        #: written out, or cut short): it holds no record, the export skips it
        self.crash_tail = crash_tail
        super().__init__(f"{self.path}: {what} at byte {offset}")


def header_line(info: dict) -> bytes:
    header = {"format": FORMAT, "version": VERSION, **info}
    data = json.dumps(header, separators=(",", ":")).encode() + b"\n"
    if len(data) > MAX_HEADER_BYTES:
        raise ValueError("track header too long")
    return data


def pack_record(arrival: float, packet: bytes) -> bytes:
    crc = zlib.crc32(packet, zlib.crc32(struct.pack("<d", arrival)))
    return RECORD.pack(MAGIC, len(packet), arrival, crc) + packet


class Reader:
    """Reads one track file: ``header`` at once, records by iterating.

    After the iteration ends, ``truncated_at`` is the offset of a last record cut short
    (None: the file ended cleanly) and ``records`` the number read."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.truncated_at: Optional[int] = None
        self.records = 0
        self.offset = 0  # bytes read so far (progress)
        try:
            self._file = open(self.path, "rb")
        except OSError as exc:
            raise RecordingFileError(self.path, 0, f"cannot open ({exc.strerror})") from None
        line = self._file.readline(MAX_HEADER_BYTES + 1)
        if not line.endswith(b"\n"):
            self._file.close()
            if len(line) > MAX_HEADER_BYTES:
                raise RecordingFileError(self.path, 0, "header line too long")
            what = "empty file" if not line else "header line cut short"
            raise RecordingFileError(self.path, 0, what, crash_tail=True)
        try:
            header = json.loads(line)
        except ValueError:
            self._file.close()
            raise RecordingFileError(self.path, 0, "header is not JSON") from None
        if (not isinstance(header, dict) or header.get("format") != FORMAT
                or any(k not in header for k in _REQUIRED)):
            self._file.close()
            raise RecordingFileError(self.path, 0, "not a Dewan track file header")
        if header.get("version") != VERSION:
            self._file.close()
            raise RecordingFileError(self.path, 0,
                                     f"unsupported version {header.get('version')!r}")
        self.header = header
        self.data_offset = self.offset = len(line)

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        """(arrival, RTP packet) per record, in file order."""
        f = self._file
        offset = self.data_offset
        size = RECORD.size
        try:
            while True:
                head = f.read(size)
                if not head:
                    return
                if len(head) < size:
                    self.truncated_at = offset
                    return
                magic, length, arrival, crc = RECORD.unpack(head)
                if magic != MAGIC:
                    raise RecordingFileError(self.path, offset, "bad record marker")
                packet = f.read(length)
                if len(packet) < length:
                    self.truncated_at = offset
                    return
                if zlib.crc32(packet, zlib.crc32(head[4:12])) != crc:
                    raise RecordingFileError(self.path, offset, "record checksum mismatch")
                if length < 12 or packet[0] >> 6 != 2:
                    raise RecordingFileError(self.path, offset, "record is not an RTP packet")
                self.records += 1
                offset += size + length
                self.offset = offset
                yield arrival, packet
        finally:
            f.close()

    def close(self) -> None:
        self._file.close()
