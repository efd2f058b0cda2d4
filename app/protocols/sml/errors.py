"""Error types of the SML codec."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import InvalidValue, Text

__all__ = ["SmlDecodeError", "SmlError"]


@dataclass(frozen=True, slots=True)
class SmlError:
    """One problem found in received SML bytes.

    ``offset`` is the byte position in the stream (for errors inside a frame: the frame start
    plus the position in the unescaped file body, exact unless escaped ``1B1B1B1B`` sequences
    precede it). ``kind`` is one of ``garbage``, ``crc``, ``message_crc``, ``parse``,
    ``structure``, ``truncated``, ``escape``, ``padding``, ``misaligned``, ``overflow``.
    """

    offset: int
    kind: str
    detail: str

    def to_json_dict(self) -> dict[str, object]:
        return {"offset": self.offset, "kind": self.kind, "detail": self.detail}


class SmlDecodeError(InvalidValue):
    """Received bytes are not valid SML (raised by the one-shot parsers, never by the stream)."""

    def __init__(self, offset: int, kind: str, detail: str) -> None:
        super().__init__(
            Text(
                f"Invalid SML data at byte {offset} ({kind}): {detail}",
                f"Ungültige SML-Daten bei Byte {offset} ({kind}): {detail}",
            ),
            field="sml",
            hint=Text(
                "Check the position of the optical read head and the serial settings "
                "(usually 9600 Bd 8N1), then read again.",
                "Lage des optischen Lesekopfs und die seriellen Einstellungen (meist "
                "9600 Bd 8N1) prüfen, dann erneut lesen.",
            ),
        )
        self.offset = offset
        self.kind = kind
        self.detail = detail

    def as_record(self, base: int = 0) -> SmlError:
        """This error as a :class:`SmlError` with ``base`` added to the offset."""
        return SmlError(base + self.offset, self.kind, self.detail)
