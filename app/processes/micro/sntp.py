"""Time synchronisation packets (spec ch. 5.13): SNTP version 4 (RFC 4330), sans-I/O.

The gateway sends a client request to the ``time`` address of the GWA profile; the GWA's time
service answers. The client checks that the answer is a server answer to *its* request (the
originate timestamp echoes its transmit timestamp) and computes the clock offset
``((T2 - T1) + (T3 - T4)) / 2`` and the round-trip delay.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
from dataclasses import dataclass

from app.errors import InvalidValue, Text

PACKET = struct.Struct("!BBbbII4sQQQQ")
NTP_EPOCH = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
MODE_CLIENT = 3
MODE_SERVER = 4
VERSION = 4


def to_ntp(moment: dt.datetime) -> int:
    """A UTC time as a 64-bit NTP timestamp (seconds since 1900 in 32.32 fixed point)."""
    delta = moment.astimezone(dt.UTC) - NTP_EPOCH
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return (micros << 32) // 1_000_000


def from_ntp(value: int) -> dt.datetime:
    """Inverse of :func:`to_ntp` (microsecond resolution)."""
    micros = (value * 1_000_000) >> 32
    return NTP_EPOCH + dt.timedelta(microseconds=micros)


def _refused(en: str, de: str) -> InvalidValue:
    return InvalidValue(Text(en, de), field="time_server")


@dataclass(frozen=True)
class SntpRequest:
    """A client request; keep it to check the answer."""

    transmit: int

    def to_bytes(self) -> bytes:
        return PACKET.pack((VERSION << 3) | MODE_CLIENT, 0, 0, 0, 0, 0, b"\0\0\0\0", 0, 0, 0,
                           self.transmit)


def new_request(now: dt.datetime) -> SntpRequest:
    """A request stamped with ``now``; the low 16 bits are random so answers cannot be guessed."""
    stamp = (to_ntp(now) & ~0xFFFF) | int.from_bytes(os.urandom(2), "big")
    return SntpRequest(stamp)


def answer(request: bytes, *, received: dt.datetime, transmitted: dt.datetime,
           stratum: int = 1, reference_id: bytes = b"GWA\0") -> bytes:
    """The server's answer to a client request (``received``/``transmitted`` = server clock)."""
    if len(request) < PACKET.size:
        raise _refused("The time request is too short.", "Die Zeitanfrage ist zu kurz.")
    first, *_rest = PACKET.unpack_from(request)
    version, mode = (first >> 3) & 0x7, first & 0x7
    if mode != MODE_CLIENT or version not in (3, 4):
        raise _refused("The datagram is not an SNTP client request.",
                       "Das Datagramm ist keine SNTP-Client-Anfrage.")
    client_transmit = PACKET.unpack_from(request)[-1]
    return PACKET.pack((version << 3) | MODE_SERVER, stratum, 4, -20, 0, 0, reference_id,
                       to_ntp(transmitted), client_transmit, to_ntp(received),
                       to_ntp(transmitted))


@dataclass(frozen=True)
class SntpResult:
    """What one exchange measured: offset = gateway clock - reference, both in seconds."""

    offset: float
    delay: float
    server_time: dt.datetime


def evaluate(request: SntpRequest, data: bytes, *, sent: dt.datetime,
             arrived: dt.datetime) -> SntpResult:
    """Check an answer to ``request`` and compute the offset (``sent``/``arrived`` = own clock)."""
    if len(data) < PACKET.size:
        raise _refused("The time server's answer is too short.",
                       "Die Antwort des Zeitservers ist zu kurz.")
    first, stratum, _poll, _prec, _rd, _rdisp, _ref, _reft, origin, recv, xmit = (
        PACKET.unpack_from(data))
    mode = first & 0x7
    if mode != MODE_SERVER:
        raise _refused("The time server's answer is not a server answer.",
                       "Die Antwort des Zeitservers ist keine Server-Antwort.")
    if origin != request.transmit:
        raise _refused("The time server's answer does not belong to this request.",
                       "Die Antwort des Zeitservers gehört nicht zu dieser Anfrage.")
    if not 1 <= stratum <= 15 or xmit == 0:
        raise _refused("The time server is not synchronised.",
                       "Der Zeitserver ist nicht synchronisiert.")
    t1, t4 = sent.timestamp(), arrived.timestamp()
    t2, t3 = from_ntp(recv).timestamp(), from_ntp(xmit).timestamp()
    theta = ((t2 - t1) + (t3 - t4)) / 2
    delay = (t4 - t1) - (t3 - t2)
    return SntpResult(offset=-theta, delay=max(0.0, delay), server_time=from_ntp(xmit))
