"""The three WAN channels (spec ch. 5.2-5.7): paths, content type, statuses and timers.

Written down in ``docs/protocol/05-02-channels.md``; what that page leaves open is decided in
``docs/protocol/channels-implementation.md``. No I/O here.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.errors import InvalidValue, Text

#: Content type of every MANAGEMENT and INFO-REPORT body (CMS, docs/protocol/05-10).
CONTENT_TYPE_CMS = "application/cms"

#: Upper bound for a CMS body on MANAGEMENT and INFO-REPORT (XML is capped at 4 MiB).
MAX_BODY_BYTES = 5 * 1024 * 1024

#: Path of a session start, relative to the ``management`` address.
SESSION_PATH = "/session"

#: Path of the event report, relative to the ``info-report`` address.
EVENTS_PATH = "/events"

#: Path prefix of content, relative to the ``admin-service`` address.
CONTENT_PATH = "/content"

#: Default base paths the reference GWA serves (the communication profile carries full URLs).
MANAGEMENT_BASE = "/management/v1"
INFO_REPORT_BASE = "/info-report/v1"
ADMIN_SERVICE_BASE = "/admin-service/v1"

#: Nil UUID: the ``requestId`` of an answer to a request whose ID could not be read.
NIL_REQUEST_ID = uuid.UUID(int=0)

#: How many answered request IDs the gateway remembers (docs/protocol/04-02-03).
REMEMBERED_REQUESTS = 64

#: At most this many events in one report (docs/protocol/04-02-06).
MAX_EVENTS_PER_REPORT = 100

_CONTENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class Channel(enum.StrEnum):
    """The WAN channels between gateway and GWA."""

    MANAGEMENT = "management"
    INFO_REPORT = "info-report"
    ADMIN_SERVICE = "admin-service"


def session_path(session_id: uuid.UUID) -> str:
    """``/session/{sessionId}``: where the gateway POSTs a result."""
    return f"{SESSION_PATH}/{session_id}"


def content_path(content_id: str) -> str:
    """``/content/{contentId}`` on the ADMIN-SERVICE channel."""
    check_content_id(content_id)
    return f"{CONTENT_PATH}/{content_id}"


def check_content_id(content_id: str) -> str:
    """A content ID is 1-128 characters of ``[A-Za-z0-9._-]`` (no path separators)."""
    if not isinstance(content_id, str) or not _CONTENT_ID.fullmatch(content_id):
        raise InvalidValue(
            Text(f"The content ID {content_id!r} is not valid: use 1-128 letters, digits, '.', "
                 "'_' or '-', starting with a letter or digit.",
                 f"Die Inhalts-ID {content_id!r} ist ungültig: 1-128 Buchstaben, Ziffern, '.', "
                 "'_' oder '-', beginnend mit Buchstabe oder Ziffer."),
            field="content_id",
        )
    return content_id


@dataclass(frozen=True)
class Endpoint:
    """A parsed ``https://host:port/path`` address of a communication profile."""

    host: str
    port: int
    path: str

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 443 else f"{host}:{self.port}"


def parse_endpoint(url: str, *, field: str = "address") -> Endpoint:
    """Split an ``https://`` address of a communication profile into host, port and path."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidValue(
            Text(f"The address {url!r} is not an https:// address with a host.",
                 f"Die Adresse {url!r} ist keine https://-Adresse mit Host."),
            field=field,
        )
    try:
        port = parts.port or 443
    except ValueError:
        raise InvalidValue(
            Text(f"The address {url!r} has an invalid port.",
                 f"Die Adresse {url!r} hat einen ungültigen Port."),
            field=field,
        ) from None
    return Endpoint(parts.hostname, port, parts.path.rstrip("/"))


def parse_ntp_address(url: str, *, field: str = "time") -> tuple[str, int]:
    """``ntp://host:port`` -> (host, port); port 123 if none is given."""
    parts = urlsplit(url)
    if parts.scheme != "ntp" or not parts.hostname:
        raise InvalidValue(
            Text(f"The time server address {url!r} is not an ntp:// address with a host.",
                 f"Die Zeitserver-Adresse {url!r} ist keine ntp://-Adresse mit Host."),
            field=field,
        )
    try:
        return parts.hostname, parts.port or 123
    except ValueError:
        raise InvalidValue(
            Text(f"The time server address {url!r} has an invalid port.",
                 f"Die Zeitserver-Adresse {url!r} hat einen ungültigen Port."),
            field=field,
        ) from None


@dataclass(frozen=True)
class ChannelTimers:
    """Timers of docs/protocol/05-02-channels.md (seconds). Tests shorten them."""

    connect: float = 30.0
    """TCP + TLS connect."""
    answer: float = 60.0
    """HTTP answer to a POST (the GWA may hold a POST while the next request is prepared)."""
    backoff_initial: float = 30.0
    """First reconnect delay after a failure."""
    backoff_max: float = 3600.0
    """Longest reconnect delay."""
    backoff_jitter: float = 0.2
    """Random spread of every delay, as a fraction (0.2 = ±20 %)."""
    event_batch_delay: float = 2.0
    """How long a new event waits so that a burst goes in one report (at most 5 s)."""
    contact_interval: float | None = 86400.0
    """The gateway's own contact schedule (reason ``schedule``); None: no scheduled contact."""
    method_grace: float = 30.0
    """Added to a method call's timeout for the GWA's idle timer."""

    def __post_init__(self) -> None:
        if self.event_batch_delay > 5.0:
            raise InvalidValue(
                Text("Events wait at most 5 s before they are sent.",
                     "Ereignisse warten höchstens 5 s, bevor sie gesendet werden."),
                field="event_batch_delay",
            )
