"""CRC-16 of the SML transport layer (*Prüfsumme*, SML 1.04 ch. 8; TR-03109-1 Anlage IV b).

SML uses CRC-16/X.25 (reflected polynomial 0x1021, init 0xFFFF, xor-out 0xFFFF, check value
0x906E) over the whole SML file and over each SML message. Meters transmit the file CRC low
byte first; the message ``crc16`` is an Unsigned16 whose big-endian value is the byte-swapped
CRC, so on the wire it is also low byte first. Some meters deviate (Holley DTZ541 and some Itron
OpenWay units use CRC-16/KERMIT, which has init 0 and no xor-out, sent high byte first; other
implementations swap the byte order), so :func:`match_crc` tries the known variants and names
the one that matched.

The computation runs at C speed: a reflected CRC equals the bit-reversed result of the
non-reflected CRC (``binascii.crc_hqx``, polynomial 0x1021) over bit-reversed input bytes.
"""

from __future__ import annotations

import binascii
from enum import Enum

__all__ = ["CrcVariant", "crc16_kermit", "crc16_x25", "match_crc"]

_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _reflect16(value: int) -> int:
    return _REVERSED[value & 0xFF] << 8 | _REVERSED[value >> 8]


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/X.25 (a.k.a. CRC-16/IBM-SDLC) of ``data``; ``crc16_x25(b"123456789") == 0x906E``."""
    return _reflect16(binascii.crc_hqx(bytes(data).translate(_REVERSED), 0xFFFF)) ^ 0xFFFF


def crc16_kermit(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/KERMIT of ``data``; ``crc16_kermit(b"123456789") == 0x2189``."""
    return _reflect16(binascii.crc_hqx(bytes(data).translate(_REVERSED), 0))


class CrcVariant(Enum):
    """Which CRC algorithm and byte order a frame or message used."""

    X25 = "x25"  # CRC-16/X.25, low byte first: the standard (SML 1.04, TR-03109-1)
    X25_SWAPPED = "x25-swapped"  # CRC-16/X.25, high byte first
    KERMIT = "kermit"  # CRC-16/KERMIT, high byte first (Holley DTZ541, some Itron)
    KERMIT_SWAPPED = "kermit-swapped"  # CRC-16/KERMIT, low byte first


def _swap(value: int) -> int:
    return (value & 0xFF) << 8 | value >> 8


def match_crc(data: bytes | bytearray | memoryview, received: int) -> CrcVariant | None:
    """The variant whose CRC over ``data`` equals ``received``, or None.

    ``received`` is the transmitted CRC read big-endian (first byte high), i.e. for the file CRC
    ``frame[-2] << 8 | frame[-1]`` and for a message the Unsigned16 value of its ``crc16``.
    """
    x25 = crc16_x25(data)
    if received == _swap(x25):
        return CrcVariant.X25
    if received == x25:
        return CrcVariant.X25_SWAPPED
    kermit = crc16_kermit(data)
    if received == kermit:
        return CrcVariant.KERMIT
    if received == _swap(kermit):
        return CrcVariant.KERMIT_SWAPPED
    return None


def x25_wire_bytes(data: bytes | bytearray | memoryview) -> bytes:
    """The two CRC bytes a standard sender appends (CRC-16/X.25, low byte first)."""
    return crc16_x25(data).to_bytes(2, "little")
