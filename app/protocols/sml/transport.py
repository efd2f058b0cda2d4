"""SML transport protocol version 1 (*SML-Transportprotokoll*, SML 1.04 ch. 8;
TR-03109-1 Anlage IV b).

An SML file on the wire::

    1B1B1B1B 01010101  <messages, escaped>  00*pad  1B1B1B1B 1A <pad> <crc lo> <crc hi>

The padding makes the whole file a multiple of four bytes, so the end sequence starts on a
4-byte boundary counted from the start sequence. A payload ``1B1B1B1B`` is sent twice.
Implementations differ on whether only 4-byte aligned occurrences are escaped (libsml's reader
looks for escapes on 4-byte steps) or every occurrence (sml-rs); the decoder accepts both and
the encoder escapes aligned occurrences (the only ones an aligned reader can see). The file CRC
covers everything from the start sequence up to and including ``<pad>``; see
:mod:`app.protocols.sml.crc` for the variants accepted.

:class:`SmlStreamDecoder` is sans-I/O: feed it whatever the serial port returned; it never
raises on input, does bounded work per byte, keeps at most ``max_frame_size`` bytes and
resynchronises on the next start sequence after garbage, lost bytes or a CRC error.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Final

from app.protocols.sml.crc import CrcVariant, crc16_x25, match_crc, x25_wire_bytes
from app.protocols.sml.errors import SmlError
from app.protocols.sml.messages import (
    SmlBody,
    SmlCloseResponse,
    SmlGetListResponse,
    SmlListEntry,
    SmlMessage,
    SmlOpenResponse,
    SmlTime,
    decode_messages,
    encode_message,
)

__all__ = [
    "ESCAPE",
    "START",
    "SmlCounters",
    "SmlFrameResult",
    "SmlStreamDecoder",
    "build_meter_file",
    "decode_frame",
    "encode_file",
    "encode_sml_file",
    "escape_body",
    "iter_list_entries",
]

ESCAPE: Final = b"\x1b\x1b\x1b\x1b"
VERSION_1: Final = b"\x01\x01\x01\x01"
START: Final = ESCAPE + VERSION_1
_DOUBLE_ESCAPE: Final = ESCAPE + ESCAPE
_END_MARK: Final = ESCAPE + b"\x1a"
_CHUNK: Final = 8192


@dataclass(slots=True)
class SmlFrameResult:
    """One SML file found in the stream and what could be decoded from it.

    ``messages`` holds every message that parsed, each with its own CRC verdict; ``errors`` the
    problems of this frame (file CRC, message CRC, parse errors, lost bytes).
    """

    offset: int
    raw: bytes
    crc_ok: bool
    crc_variant: CrcVariant | None
    messages: list[SmlMessage] = field(default_factory=list)
    errors: list[SmlError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """File CRC verified and nothing else went wrong."""
        return self.crc_ok and not self.errors

    @property
    def verified_messages(self) -> list[SmlMessage]:
        """Messages whose own crc16 verified (trustworthy even when the file CRC failed)."""
        return [m for m in self.messages if m.crc_variant is not None]

    @property
    def server_id(self) -> bytes | None:
        """Server ID of the first verified OpenResponse or GetListResponse."""
        for m in self.messages:
            if m.crc_variant is not None and isinstance(
                m.body, SmlOpenResponse | SmlGetListResponse
            ):
                return m.body.server_id
        return None


def iter_list_entries(frame: SmlFrameResult) -> Iterator[tuple[SmlGetListResponse, SmlListEntry]]:
    """``(response, entry)`` for every list entry of the frame's verified GetListResponses."""
    for m in frame.messages:
        if m.crc_variant is not None and isinstance(m.body, SmlGetListResponse):
            for entry in m.body.entries:
                yield m.body, entry


def decode_frame(raw: bytes, offset: int = 0, *, misaligned: bool = False) -> SmlFrameResult:
    """Decode one complete SML file (start sequence through CRC). Never raises.

    ``offset`` is added to every reported position; ``misaligned`` marks a file whose end
    sequence was not on a 4-byte boundary (bytes were lost or inserted on the line).
    """
    raw = bytes(raw)
    errors: list[SmlError] = []
    n = len(raw)
    if n < 16 or not raw.startswith(START) or raw[-8:-3] != _END_MARK:
        errors.append(SmlError(offset, "parse", "not an SML file (start or end sequence missing)"))
        return SmlFrameResult(offset, raw, False, None, [], errors)
    pad = raw[-3]
    received = raw[-2] << 8 | raw[-1]
    variant = match_crc(raw[:-2], received)
    if misaligned:
        errors.append(
            SmlError(
                offset + n - 8,
                "misaligned",
                f"end sequence {n - 8} bytes after the start is not on a 4-byte boundary: "
                "bytes were lost or inserted",
            )
        )
    if variant is None:
        errors.append(
            SmlError(
                offset + n - 2,
                "crc",
                f"file CRC {raw[-2]:02x}{raw[-1]:02x} does not match "
                f"(CRC-16/X.25 over {n - 2} bytes gives "
                f"{x25_wire_bytes(raw[:-2]).hex()}); frame dropped",
            )
        )
    body = raw[8:-8]
    if pad > 3 or pad > len(body):
        errors.append(SmlError(offset + n - 3, "padding", f"padding count {pad} is above 3"))
    elif pad:
        if any(body[-pad:]):
            errors.append(SmlError(offset + n - 8 - pad, "padding", "padding bytes are not 00"))
        body = body[:-pad]
    if _DOUBLE_ESCAPE in body:
        body = body.replace(_DOUBLE_ESCAPE, ESCAPE)
    messages, issues = decode_messages(body, offset + 8)
    errors.extend(issues)
    return SmlFrameResult(offset, raw, variant is not None, variant, messages, errors)


@dataclass(slots=True)
class SmlCounters:
    """Running totals of a :class:`SmlStreamDecoder`."""

    frames_total: int = 0
    frames_ok: int = 0  # file CRC verified
    crc_errors: int = 0  # file CRC mismatches
    message_crc_errors: int = 0
    parse_errors: int = 0  # frames in which a message did not parse
    truncated: int = 0  # frames cut off by a new start sequence, overflow or end of stream
    garbage_bytes: int = 0  # bytes outside any frame

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class SmlStreamDecoder:
    """Incremental SML decoder: ``feed(bytes) -> list[SmlFrameResult]``.

    Every problem is counted in :attr:`counters` and recorded in :attr:`errors` (the latest
    ``max_errors``, all if None) with its byte offset in the stream; frames with a bad file
    CRC are returned too (``crc_ok`` False) so the caller can show what was received.
    """

    def __init__(self, *, max_frame_size: int = 32 * 1024, max_errors: int | None = 1000) -> None:
        if max_frame_size < 64:
            raise ValueError("max_frame_size must be at least 64 bytes")
        self.max_frame_size = max_frame_size
        self.counters = SmlCounters()
        self.errors: deque[SmlError] = deque(maxlen=max_errors)
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        self._in_frame = False  # a start sequence sits at _buf[0]
        self._scan = 0  # where to continue looking for escape sequences
        self._garbage_at: int | None = None
        self._garbage_len = 0

    def drain_errors(self) -> list[SmlError]:
        """The errors recorded since the last call, oldest first (and forget them)."""
        drained = list(self.errors)
        self.errors.clear()
        return drained

    @property
    def position(self) -> int:
        """Number of stream bytes fed so far."""
        return self._base + len(self._buf)

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[SmlFrameResult]:
        """Add received bytes; return the frames completed by them (possibly none)."""
        out: list[SmlFrameResult] = []
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        for i in range(0, len(view), _CHUNK):
            self._buf += view[i : i + _CHUNK]
            self._run(out)
        return out

    def flush(self) -> list[SmlFrameResult]:
        """End of stream: report an unfinished frame or trailing garbage and reset."""
        if self._in_frame and self._buf:
            self._record(
                SmlError(
                    self._base,
                    "truncated",
                    f"stream ends {len(self._buf)} bytes into a frame (no end sequence)",
                )
            )
            self.counters.truncated += 1
        elif self._buf:
            self._add_garbage(len(self._buf))
        self._close_garbage()
        self._base += len(self._buf)
        self._buf.clear()
        self._in_frame = False
        self._scan = 0
        return []

    # internals ------------------------------------------------------------------------------

    def _record(self, error: SmlError) -> None:
        self.errors.append(error)

    def _add_garbage(self, count: int) -> None:
        if count <= 0:
            return
        if self._garbage_at is None:
            self._garbage_at = self._base
        self._garbage_len += count
        self.counters.garbage_bytes += count

    def _close_garbage(self) -> None:
        if self._garbage_at is not None:
            self._record(
                SmlError(
                    self._garbage_at,
                    "garbage",
                    f"{self._garbage_len} bytes outside an SML file skipped",
                )
            )
        self._garbage_at = None
        self._garbage_len = 0

    def _drop(self, count: int) -> None:
        del self._buf[:count]
        self._base += count

    def _run(self, out: list[SmlFrameResult]) -> None:
        buf = self._buf
        while True:
            if not self._in_frame:
                i = buf.find(START)
                if i == -1:
                    drop = len(buf) - (len(START) - 1)
                    if drop > 0:
                        self._add_garbage(drop)
                        self._drop(drop)
                    return
                if i:
                    self._add_garbage(i)
                    self._drop(i)
                self._close_garbage()
                self._in_frame = True
                self._scan = len(START)
            q = buf.find(ESCAPE, self._scan)
            if q == -1 or q + 8 > len(buf):
                self._scan = max(len(START), len(buf) - 3) if q == -1 else q
                if len(buf) > self.max_frame_size:
                    self._overflow()
                    continue
                return
            tail = buf[q + 4 : q + 8]
            if tail == ESCAPE:
                self._scan = q + 8
            elif tail == VERSION_1:
                self._record(
                    SmlError(
                        self._base,
                        "truncated",
                        f"frame interrupted after {q} bytes by a new start sequence "
                        "(bytes lost on the line)",
                    )
                )
                self.counters.truncated += 1
                self._drop(q)
                self._scan = len(START)
            elif tail[0] == 0x1A:
                frame = decode_frame(bytes(buf[: q + 8]), self._base, misaligned=q % 4 != 0)
                self._count(frame)
                out.append(frame)
                self._drop(q + 8)
                self._in_frame = False
            else:
                self._scan = q + 1

    def _overflow(self) -> None:
        drop = max(self._scan, len(START))
        self._record(
            SmlError(
                self._base,
                "overflow",
                f"no end sequence within {self.max_frame_size} bytes; {drop} bytes dropped",
            )
        )
        self.counters.truncated += 1
        self._drop(drop)
        self._in_frame = False

    def _count(self, frame: SmlFrameResult) -> None:
        c = self.counters
        c.frames_total += 1
        if frame.crc_ok:
            c.frames_ok += 1
        else:
            c.crc_errors += 1
        parse_failed = False
        for error in frame.errors:
            self._record(error)
            if error.kind == "message_crc":
                c.message_crc_errors += 1
            elif error.kind in ("parse", "structure"):
                parse_failed = True
        if parse_failed:
            c.parse_errors += 1


# --- encoding -------------------------------------------------------------------------------


def escape_body(data: bytes) -> bytes:
    """Double every ``1B1B1B1B`` that starts on a 4-byte boundary of the file body."""
    i = data.find(ESCAPE)
    if i == -1:
        return data
    out = bytearray()
    last = 0
    while i != -1:
        if i % 4 == 0:
            out += data[last : i + 4]
            out += ESCAPE
            last = i + 4
            i = data.find(ESCAPE, i + 4)
        else:
            i = data.find(ESCAPE, i + 1)
    out += data[last:]
    return bytes(out)


def encode_file(body: bytes) -> bytes:
    """Wrap encoded messages into an SML file: start, escaped body, padding, end, CRC."""
    escaped = escape_body(bytes(body))
    pad = -len(escaped) % 4
    head = START + escaped + b"\x00" * pad + _END_MARK + bytes((pad,))
    return head + crc16_x25(head).to_bytes(2, "little")


def encode_sml_file(
    bodies: Sequence[SmlBody], transaction_ids: Sequence[bytes] | None = None
) -> bytes:
    """An SML file holding one message per body (transaction IDs ``01``, ``02``, ... unless
    given)."""
    if transaction_ids is None:
        transaction_ids = [bytes((0, i + 1)) for i in range(len(bodies))]
    if len(transaction_ids) != len(bodies):
        raise ValueError("one transaction ID per message body is needed")
    return encode_file(
        b"".join(encode_message(b, t) for b, t in zip(bodies, transaction_ids, strict=True))
    )


def build_meter_file(
    server_id: bytes,
    entries: Sequence[SmlListEntry],
    *,
    file_id: bytes = b"\x00\x00\x00\x01",
    sec_index: int | None = None,
    list_name: bytes | None = b"\x01\x00\x62\x0a\xff\xff",
) -> bytes:
    """The telegram an eHZ pushes on its INFO interface: OpenResponse, GetListResponse with
    ``entries``, CloseResponse."""
    time = SmlTime("sec_index", sec_index) if sec_index is not None else None
    tid = bytes(file_id)
    return encode_sml_file(
        [
            SmlOpenResponse(server_id=server_id, req_file_id=tid, ref_time=time, sml_version=1),
            SmlGetListResponse(
                server_id=server_id,
                entries=tuple(entries),
                list_name=list_name,
                act_sensor_time=time,
            ),
            SmlCloseResponse(),
        ],
        [tid + b"\x01", tid + b"\x02", tid + b"\x03"],
    )
