"""The working context of one tool instance: where the peers are and how the links stand.

``AppContext`` is what flows receive as their services: the HAN target (gateway address and pinned
certificate), the GWA link (URL, trust anchor, technician certificate), the optical port, and the
live status of each link, which the UI's connection panel shows. It knows nothing about Qt;
listeners are plain callables.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.errors import Text
from app.security.tls import CertificateChain


class Link(enum.StrEnum):
    """The three links of the tool (Verbindungen)."""

    HAN = "han"
    OPTICAL = "optical"
    GWA = "gwa"


class LinkState(enum.StrEnum):
    UNKNOWN = "unknown"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    FAILED = "failed"


@dataclass(frozen=True)
class LinkStatus:
    """What the connection panel shows for one link."""

    link: Link
    state: LinkState = LinkState.UNKNOWN
    peer: str | None = None
    fingerprint: str | None = None
    last_error: Text | None = None
    updated: dt.datetime | None = None


@dataclass
class HanTarget:
    """The gateway's HAN interface (HAN-Schnittstelle)."""

    host: str
    port: int = 443
    smgw_id: str | None = None
    vendor: str = "auto"
    user: str | None = None
    #: the pinned self-signed HAN certificate (PEM) and its SHA-256 fingerprint
    pinned_pem: bytes | None = None
    pin_sha256: str | None = None
    tls_group: str | None = None


@dataclass
class GwaTarget:
    """The Gateway Administrator's technician API (GWA-Anbindung)."""

    base_url: str
    trust_pem: bytes
    client: CertificateChain | None = None
    pin_sha256: str | None = None
    tls_group: str | None = None


@dataclass
class OpticalTarget:
    """The optical read head (optische Schnittstelle): a serial port or a pyserial URL."""

    port: str
    protocol: str = "auto"


Listener = Callable[[LinkStatus], None]


@dataclass
class AppContext:
    """Targets, link states and shared services of one running tool."""

    han: HanTarget | None = None
    gwa: GwaTarget | None = None
    optical: OpticalTarget | None = None
    data_dir: Path | None = None
    demo: Any = None  # the running embedded default, if any
    extras: dict[str, Any] = field(default_factory=dict)
    _links: dict[Link, LinkStatus] = field(default_factory=dict)
    _listeners: list[Listener] = field(default_factory=list)

    def __post_init__(self) -> None:
        for link in Link:
            self._links.setdefault(link, LinkStatus(link))

    def link(self, link: Link) -> LinkStatus:
        return self._links[link]

    def links(self) -> list[LinkStatus]:
        return [self._links[link] for link in Link]

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every link change; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def update_link(self, link: Link, **changes: Any) -> LinkStatus:
        """Change a link's status (state, peer, fingerprint, last_error) and notify listeners."""
        status = replace(self._links[link], updated=dt.datetime.now(dt.UTC), **changes)
        if status.state is LinkState.CONNECTED and "last_error" not in changes:
            status = replace(status, last_error=None)
        self._links[link] = status
        for listener in list(self._listeners):
            listener(status)
        return status
