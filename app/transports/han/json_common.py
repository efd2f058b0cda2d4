"""What the JSON dialects (CONEXA M2M, EMH CASA) share: field readers that turn wrong types into
:class:`HanProtocolError` naming the field, the reading of error answers, the self-test answer
and paging through a log by index.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from app.domain import ServerId
from app.errors import InvalidValue, Text
from app.transports.han.base import LogEntry, Progress, SelfTestResult, report
from app.transports.han.errors import (
    HanLockedOut,
    HanNotEnabled,
    HanProtocolError,
    HanSessionBusy,
)
from app.transports.han.http import HanResponse

_COUNTDOWN = re.compile(
    r"(?:(\d{1,9})\s*(?:minuten|minute|min)\w*\.?\s*(?:und|and)?\s*)?(\d{1,9})\s*(?:sekunden|seconds|s)\b",
    re.IGNORECASE,
)

# --- field readers -------------------------------------------------------------------------------


def wrong_type(path: str, expected: str, value: Any) -> HanProtocolError:
    """``'path' should be <expected>, got <type>``."""
    got = type(value).__name__ if value is not None else "nothing"
    return HanProtocolError(
        Text(f"'{path}' should be {expected}, got {got}.",
             f"'{path}' sollte {expected} sein, erhalten: {got}."),
        field=path,
    )


def as_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise wrong_type(path, "an object", value)
    return value


def as_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise wrong_type(path, "a list", value)
    return value


def as_text(value: Any, path: str) -> str:
    """Text; a whole number is taken as its digits (firmware sends either)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise wrong_type(path, "text", value)
    return str(value)


def opt_text(value: Any, path: str, *, blank_is_none: bool = False) -> str | None:
    if value is None or (blank_is_none and value == ""):
        return None
    return as_text(value, path)


def as_int(value: Any, path: str) -> int:
    """A whole number, also as text (``"42"``)."""
    if isinstance(value, bool):
        raise wrong_type(path, "a whole number", value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,40}\s*", value):
        return int(value)
    raise wrong_type(path, "a whole number", value)


def opt_int(value: Any, path: str) -> int | None:
    return None if value is None or value == "" else as_int(value, path)


def server_id_text(raw: str) -> tuple[str, str | None]:
    """``(text, hex)`` of a meter id; a name that is no server ID stays as it is (hex ``None``)."""
    try:
        parsed = ServerId.parse(raw)
    except InvalidValue:
        return raw, None
    return parsed.text, parsed.hex


def json_body(response: HanResponse, context: str) -> Any:
    """The answer's JSON; :class:`HanProtocolError` if it is none."""
    try:
        return json.loads(response.body)
    except (ValueError, RecursionError) as exc:
        raise HanProtocolError(
            Text(f"the answer to '{context}' is not valid JSON.",
                 f"die Antwort auf '{context}' ist kein gültiges JSON."),
            field=context,
        ) from exc


# --- error answers -------------------------------------------------------------------------------


def error_code(response: HanResponse) -> str:
    """The ``error`` field of a JSON error answer, lower case (``""`` if there is none)."""
    try:
        data = json.loads(response.body)
    except (ValueError, RecursionError):
        return ""
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"]).lower()
    return ""


def countdown_seconds(response: HanResponse) -> float | None:
    """Remaining seconds from ``Retry-After``, a JSON field or a German/English countdown."""
    retry = response.headers.get("Retry-After", "").strip()
    if retry.isascii() and retry.isdigit() and len(retry) <= 9:
        return float(retry)
    try:
        data = json.loads(response.body)
        if isinstance(data, dict):
            for key in ("remaining-seconds", "retry-after"):
                if isinstance(data.get(key), (int, float)) and not isinstance(data[key], bool):
                    return float(data[key])
    except (ValueError, RecursionError, OverflowError):
        pass
    match = _COUNTDOWN.search(response.text())
    if match:
        return int(match.group(1) or 0) * 60.0 + int(match.group(2))
    return None


_STATUS_MEANING = {
    400: Text("the gateway rejected the request as malformed",
              "das Gateway hat die Anfrage als fehlerhaft abgelehnt"),
    404: Text("the gateway does not know this address",
              "das Gateway kennt diese Adresse nicht"),
    405: Text("the gateway does not allow this HTTP method",
              "das Gateway erlaubt diese HTTP-Methode nicht"),
    500: Text("the gateway reported an internal error",
              "das Gateway hat einen internen Fehler gemeldet"),
}


def unexpected(response: HanResponse, context: str) -> HanProtocolError:
    """An answer with a status the call does not expect, with what the status means."""
    meaning = _STATUS_MEANING.get(response.status,
                                  Text("unexpected answer", "unerwartete Antwort"))
    snippet = response.text(200).strip().replace("\n", " ")
    return HanProtocolError(
        Text(f"{meaning.en} (HTTP {response.status} for '{context}'). {snippet}".rstrip(),
             f"{meaning.de} (HTTP {response.status} für '{context}'). {snippet}".rstrip()),
        field=context,
    )


def self_test_result(response: HanResponse, context: str,
                     refusal: Callable[[HanResponse, str], Exception]) -> SelfTestResult:
    """200: started; 403: the repeat lock (or a login refusal, raised); else unexpected."""
    if response.status == 200:
        return SelfTestResult(True, None, Text(
            "The gateway runs its self-test; the result appears in the log.",
            "Das Gateway führt den Selbsttest aus; das Ergebnis erscheint im Log."))
    if response.status == 403:
        refused = refusal(response, context)
        if isinstance(refused, (HanLockedOut, HanSessionBusy, HanNotEnabled)):
            raise refused
        return SelfTestResult(False, countdown_seconds(response), Text(
            "The gateway allows one self-test every 10 minutes.",
            "Das Gateway erlaubt einen Selbsttest alle 10 Minuten."))
    raise unexpected(response, context)


# --- logs ----------------------------------------------------------------------------------------

#: ``fetch(count, from_index)``: one request for at most ``count`` entries from ``from_index``
LogPage = Callable[[int, int | None], Awaitable[list[LogEntry]]]


async def read_log_pages(fetch: LogPage, *, page_size: int, from_index: int | None,
                         count: int | None, context: str, progress: Progress | None
                         ) -> list[LogEntry]:
    """Entries in index order, asking for ``page_size`` at a time from the index after the last
    one received, until a short page or ``count`` entries. A gateway that sends more than asked
    for or starts again below the index asked for is a protocol error (no endless paging)."""
    entries: list[LogEntry] = []
    next_index = from_index
    while count is None or len(entries) < count:
        page = page_size if count is None else min(page_size, count - len(entries))
        batch = await fetch(page, next_index)
        if len(batch) > page:
            raise HanProtocolError(
                Text(f"the gateway sent {len(batch)} log entries, {page} were asked for.",
                     f"das Gateway hat {len(batch)} Logeinträge gesendet, angefragt waren "
                     f"{page}."),
                field=context)
        if not batch:
            break
        top = max(e.index for e in batch)
        if next_index is not None and top < next_index:
            raise HanProtocolError(
                Text("the gateway repeats log entries instead of paging on.",
                     "das Gateway wiederholt Logeinträge, statt weiterzublättern."),
                field=context)
        entries.extend(sorted(batch, key=lambda e: e.index))
        report(progress, len(entries) / count if count else None,
               Text(f"{len(entries)} log entries read", f"{len(entries)} Logeinträge gelesen"))
        if len(batch) < page:
            break
        next_index = top + 1
    return entries
