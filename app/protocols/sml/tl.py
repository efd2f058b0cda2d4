"""SML type-length encoding (*TL-Feld*, SML 1.04 ch. 6.2; TR-03109-1 Anlage IV b).

A TL byte holds a continuation bit (0x80: another TL byte follows), three type bits and a
length nibble. With continuation the length is the concatenation of all length nibbles. For
octet strings and integers the length counts the TL bytes too; for lists it counts the
elements. ``00`` ends a message, ``01`` marks an absent optional value.

Decoded values map to Python as: octet string -> ``bytes``, boolean -> ``bool``, signed and
unsigned integers of any width 1..8 bytes (meters send odd widths such as 3, 5 or 7 bytes) ->
``int``, list -> ``list``, absent optional -> ``None``, end of message -> :data:`END`.
"""

from __future__ import annotations

from typing import Any, Final

from app.protocols.sml.errors import SmlDecodeError

__all__ = [
    "END",
    "MAX_DEPTH",
    "OPTIONAL",
    "EndOfMessage",
    "encode_bool",
    "encode_octets",
    "encode_signed",
    "encode_unsigned",
    "encode_value",
    "list_header",
    "read_value",
]

MAX_DEPTH: Final = 24
"""Deepest list nesting accepted (real telegrams nest about 6 deep)."""

_MAX_TL_BYTES: Final = 8

TYPE_OCTETS: Final = 0x00
TYPE_BOOL: Final = 0x40
TYPE_SIGNED: Final = 0x50
TYPE_UNSIGNED: Final = 0x60
TYPE_LIST: Final = 0x70


class EndOfMessage:
    """The end-of-message marker ``00`` (*endOfSmlMsg*)."""

    _instance: EndOfMessage | None = None

    def __new__(cls) -> EndOfMessage:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "END"


END: Final = EndOfMessage()
OPTIONAL: Final = b"\x01"


def read_value(buf: bytes, pos: int, end: int, depth: int = 0) -> tuple[Any, int]:
    """Decode the value starting at ``buf[pos]`` (not beyond ``end``); return it and the next
    position. Raises :class:`SmlDecodeError` on malformed or truncated input.

    Iterative (an explicit stack of open lists), so nesting costs no recursion.
    """
    lists: list[list[Any]] = []  # open lists, innermost last
    sizes: list[int] = []  # their element counts
    while True:
        if pos >= end:
            raise SmlDecodeError(pos, "parse", "data ends where a value was expected")
        tl = buf[pos]
        if tl == 0x01:
            value: Any = None
            pos += 1
        elif tl == 0x00:
            value = END
            pos += 1
        else:
            kind = tl & 0x70
            length = tl & 0x0F
            p = pos + 1
            if tl & 0x80:
                more = True
                while more:
                    if p >= end:
                        raise SmlDecodeError(pos, "parse", "data ends inside a multi-byte TL field")
                    b = buf[p]
                    p += 1
                    length = length << 4 | (b & 0x0F)
                    more = b > 0x7F
                    if p - pos > _MAX_TL_BYTES:
                        raise SmlDecodeError(pos, "parse", "TL field longer than 8 bytes")
            if kind == TYPE_LIST:
                if length > end - p:
                    raise SmlDecodeError(
                        pos, "parse", f"list of {length} elements but only {end - p} bytes follow"
                    )
                pos = p
                if length:
                    if len(lists) + depth >= MAX_DEPTH:
                        raise SmlDecodeError(pos, "parse", f"lists nested deeper than {MAX_DEPTH}")
                    lists.append([])
                    sizes.append(length)
                    continue
                value = []
            else:
                stop = pos + length
                if stop <= p:
                    raise SmlDecodeError(
                        pos,
                        "parse",
                        f"TL byte {tl:02x}: length {length} leaves no room for content",
                    )
                if stop > end:
                    raise SmlDecodeError(
                        pos, "parse", f"value of {length} bytes runs past the end of the data"
                    )
                if kind == TYPE_OCTETS:
                    value = buf[p:stop]
                elif kind == TYPE_UNSIGNED:
                    if stop - p > 8:
                        raise SmlDecodeError(
                            pos, "parse", f"integer of {stop - p} bytes (at most 8)"
                        )
                    value = int.from_bytes(buf[p:stop], "big")
                elif kind == TYPE_SIGNED:
                    if stop - p > 8:
                        raise SmlDecodeError(
                            pos, "parse", f"integer of {stop - p} bytes (at most 8)"
                        )
                    value = int.from_bytes(buf[p:stop], "big", signed=True)
                elif kind == TYPE_BOOL:
                    value = any(buf[p:stop])
                else:
                    raise SmlDecodeError(
                        pos, "parse", f"TL byte {tl:02x} has the reserved type {kind >> 4}"
                    )
                pos = stop
        # attach the value to the innermost open list; close the lists that are complete
        while lists:
            items = lists[-1]
            items.append(value)
            if len(items) < sizes[-1]:
                break
            lists.pop()
            sizes.pop()
            value = items
        else:
            return value, pos


# --- encoding -----------------------------------------------------------------------------


def _tl(kind: int, count: int, counts_tl: bool) -> bytes:
    """TL bytes for ``count`` content bytes (``counts_tl``) or ``count`` list elements."""
    n = 1
    while True:
        length = count + n if counts_tl else count
        if length < 16**n:
            break
        n += 1
    nibbles = [(length >> (4 * i)) & 0x0F for i in range(n - 1, -1, -1)]
    out = bytearray()
    for i, nibble in enumerate(nibbles):
        cont = 0x80 if i < n - 1 else 0
        out.append(cont | (kind if i == 0 else 0) | nibble)
    return bytes(out)


def list_header(count: int) -> bytes:
    """TL field of a list with ``count`` elements (``76`` for six)."""
    if count < 0:
        raise ValueError("list length must not be negative")
    return _tl(TYPE_LIST, count, counts_tl=False)


def encode_octets(data: bytes | bytearray | memoryview) -> bytes:
    """An octet string (``0b`` + 10 bytes for a server ID, ``83 02`` + 48 bytes for a key)."""
    data = bytes(data)
    return _tl(TYPE_OCTETS, len(data), counts_tl=True) + data


def encode_unsigned(value: int, width: int | None = None) -> bytes:
    """UnsignedN; ``width`` in bytes (1..8), default the smallest of 1, 2, 4, 8 that fits."""
    if value < 0:
        raise ValueError(f"unsigned value {value} is negative")
    if width is None:
        width = next(w for w in (1, 2, 4, 8, 9) if value < 1 << (8 * w))
    if not 1 <= width <= 8 or value >= 1 << (8 * width):
        raise ValueError(f"unsigned value {value} does not fit {width} bytes")
    return bytes((TYPE_UNSIGNED | (width + 1),)) + value.to_bytes(width, "big")


def encode_signed(value: int, width: int | None = None) -> bytes:
    """IntegerN; ``width`` in bytes (1..8), default the smallest of 1, 2, 4, 8 that fits."""
    if width is None:
        width = next(w for w in (1, 2, 4, 8, 9) if -(1 << (8 * w - 1)) <= value < 1 << (8 * w - 1))
    if not 1 <= width <= 8 or not -(1 << (8 * width - 1)) <= value < 1 << (8 * width - 1):
        raise ValueError(f"signed value {value} does not fit {width} bytes")
    return bytes((TYPE_SIGNED | (width + 1),)) + value.to_bytes(width, "big", signed=True)


def encode_bool(value: bool) -> bytes:
    """Boolean (``42 01`` / ``42 00``)."""
    return b"\x42\x01" if value else b"\x42\x00"


def encode_value(value: Any) -> bytes:
    """Generic encoding: None -> ``01``, bool, int (signed unless above the Integer64 range),
    bytes -> octet string, list/tuple -> list, :data:`END` -> ``00``."""
    if value is None:
        return OPTIONAL
    if value is END:
        return b"\x00"
    if isinstance(value, bool):
        return encode_bool(value)
    if isinstance(value, int):
        if value >= 1 << 63:
            return encode_unsigned(value)
        return encode_signed(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return encode_octets(value)
    if isinstance(value, list | tuple):
        return list_header(len(value)) + b"".join(encode_value(v) for v in value)
    raise TypeError(f"cannot encode {type(value).__name__} as SML")
