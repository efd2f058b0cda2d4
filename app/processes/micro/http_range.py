"""HTTP ``Range`` for the ADMIN-SERVICE channel (spec ch. 5.4, RFC 9110 §14), sans-I/O.

Only single byte ranges are served (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``): a gateway resumes
a download from its last stored byte and never needs multipart answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


class RangeNotSatisfiable(ValueError):  # noqa: N818 - the HTTP status name
    """The range lies outside the content (answer 416)."""


@dataclass(frozen=True)
class ByteRange:
    """Inclusive byte range ``first``..``last`` of content of ``size`` bytes."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range asked for; None for no (or an unusable) header: then the whole content is sent.

    Raises :class:`RangeNotSatisfiable` when the range starts beyond the end.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header)
    if match is None:
        return None  # multiple ranges or another unit: RFC 9110 allows ignoring the header
    start, end = match.groups()
    if not start and not end:
        return None
    if not start:
        suffix = int(end)
        if suffix == 0:
            raise RangeNotSatisfiable(header)
        first = max(0, size - suffix)
        return ByteRange(first, size - 1, size) if size else _unsatisfiable(header)
    first = int(start)
    last = int(end) if end else size - 1
    if end and last < first:
        return None  # invalid range: ignored (RFC 9110 §14.1.1)
    if first >= size:
        raise RangeNotSatisfiable(header)
    return ByteRange(first, min(last, size - 1), size)


def _unsatisfiable(header: str) -> ByteRange:
    raise RangeNotSatisfiable(header)


def parse_content_range(header: str | None) -> ByteRange | None:
    """``bytes a-b/size`` from a 206 answer; None if absent or not of that form."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+)\s*", header)
    if match is None:
        return None
    first, last, size = (int(g) for g in match.groups())
    return ByteRange(first, last, size) if first <= last < size else None
