"""Server-sent events (``text/event-stream``, WHATWG HTML §9.2): an incremental parser and the
writer the reference GWA uses. Sans-I/O: bytes in, events out.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

MEDIA_TYPE = "text/event-stream"
MAX_EVENT_CHARS = 1024 * 1024


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event; ``id`` is the stream's last event ID at dispatch time."""

    event: str
    data: str
    id: str | None


class SseError(ValueError):
    """The stream breaks the format (an event larger than the cap)."""


class SseParser:
    """Feed chunks as they arrive; get complete events back."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._started = False
        self._data: list[str] = []
        self._size = 0
        self._event = ""
        self.last_id: str | None = None
        self.retry_ms: int | None = None

    def feed(self, chunk: bytes) -> list[SseEvent]:
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        self._buffer += text
        out: list[SseEvent] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                break
            line, rest = cut
            self._buffer = rest
            event = self._line(line)
            if event is not None:
                out.append(event)
        if len(self._buffer) > MAX_EVENT_CHARS:
            raise SseError("server-sent event line exceeds the size cap")
        return out

    def _line(self, line: str) -> SseEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._size += len(value) + 1
            if self._size > MAX_EVENT_CHARS:
                raise SseError("server-sent event exceeds the size cap")
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_id = value
        elif name == "retry" and value.isascii() and value.isdigit() and len(value) <= 9:
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        data, event = self._data, self._event
        self._data, self._event, self._size = [], "", 0
        if not data:
            return None
        return SseEvent(event or "message", "\n".join(data), self.last_id)


def _line_end(buffer: str) -> tuple[str, str] | None:
    for i, ch in enumerate(buffer):
        if ch == "\n":
            return buffer[:i], buffer[i + 1 :]
        if ch == "\r":
            if i + 1 == len(buffer):
                return None  # wait: maybe CR LF split across chunks
            skip = 2 if buffer[i + 1] == "\n" else 1
            return buffer[:i], buffer[i + skip :]
    return None


def format_event(data: str, *, event: str | None = None, event_id: str | int | None = None,
                 retry_ms: int | None = None) -> bytes:
    """One event block; multi-line ``data`` becomes several ``data:`` lines."""
    lines: list[str] = []
    if retry_ms is not None:
        lines.append(f"retry: {int(retry_ms)}")
    if event is not None:
        lines.append(f"event: {_one_line(event)}")
    if event_id is not None:
        lines.append(f"id: {_one_line(str(event_id))}")
    lines.extend(f"data: {part}" for part in data.replace("\r\n", "\n").replace("\r", "\n")
                 .split("\n"))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def format_comment(text: str = "") -> bytes:
    """A comment line (keeps idle connections alive; ignored by every client)."""
    return f": {_one_line(text)}\n\n".encode()


def _one_line(value: str) -> str:
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError("an SSE field value must be one line")
    return value
