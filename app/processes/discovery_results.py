"""What discovery reports: gateways, open ports without HAN TLS, warnings, progress events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.errors import SmgwctError, Text
from app.processes.discovery_identify import CertificateFacts
from app.transports.netinfo import NetworkInterface

if TYPE_CHECKING:
    from app.transports.han.base import MeterInfo


@dataclass(frozen=True)
class GatewayCandidate:
    """A TLS endpoint on the HAN link that looks like a gateway."""

    host: str
    port: int
    source: str
    vendor: str | None
    confidence: float
    smgw_id: str | None
    sha256: str | None
    tls_group: str | None = None
    certificate: CertificateFacts | None = field(default=None, repr=False)
    reasons: tuple[Text, ...] = ()
    interface: str | None = None
    names: tuple[str, ...] = ()
    #: LMN meters, filled in later through the HAN adapter (needs credentials); ``None``: not read
    meters: tuple[MeterInfo, ...] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}" if self.port != 443 else f"https://{host}"

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "host": self.host, "port": self.port, "vendor": self.vendor,
            "smgw_id": self.smgw_id, "sha256": self.sha256, "source": self.source,
            "confidence": self.confidence, "tls_group": self.tls_group,
            "interface": self.interface, "names": list(self.names),
            "subject": self.certificate.subject if self.certificate else None,
            "not_after": self.certificate.not_after.isoformat() if self.certificate else None,
            "reasons": [r.get(lang) for r in self.reasons],
            "meters": None if self.meters is None else [m.to_dict() for m in self.meters],
        }


@dataclass(frozen=True)
class OpenPort:
    """An open TCP port that gave no usable HAN TLS handshake."""

    host: str
    port: int
    source: str
    #: ``timeout``, ``tls`` (no handshake with any HAN group, or not TLS) or ``tcp``
    kind: str
    message: Text

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "source": self.source, "kind": self.kind,
                "message": self.message.get(lang)}


@dataclass(frozen=True)
class DiscoveryWarning:
    """Something the technician should fix or know (code, text, adapter)."""

    code: str
    message: Text
    interface: str | None = None

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {"code": self.code, "interface": self.interface,
                "message": self.message.get(lang), "en": self.message.en,
                "de": self.message.de}


@dataclass(frozen=True)
class DiscoveryProgress:
    """A progress event: phase, fraction 0..1 (or ``None``), message, a gateway just found."""

    phase: str
    fraction: float | None
    message: Text
    gateway: GatewayCandidate | None = None
    elapsed: float = 0.0


@dataclass
class DiscoveryReport:
    """What :func:`discover` found, warned about and reported on the way."""

    gateways: list[GatewayCandidate]
    warnings: list[DiscoveryWarning]
    interfaces: list[NetworkInterface]
    unidentified: list[OpenPort] = field(default_factory=list)
    events: list[DiscoveryProgress] = field(default_factory=list)
    #: adapters whose subnets were swept
    swept: list[str] = field(default_factory=list)
    probed_hosts: int = 0
    elapsed: float = 0.0
    #: ``False`` when the deadline stopped discovery before every probe had finished
    complete: bool = True

    @property
    def found(self) -> bool:
        return bool(self.gateways)

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "gateways": [g.to_dict(lang) for g in self.gateways],
            "warnings": [w.to_dict(lang) for w in self.warnings],
            "interfaces": [i.to_dict() for i in self.interfaces],
            "unidentified": [p.to_dict(lang) for p in self.unidentified],
            "swept": list(self.swept),
            "probed_hosts": self.probed_hosts,
            "elapsed_seconds": round(self.elapsed, 3),
            "complete": self.complete,
        }


class ProbeError(SmgwctError):
    """An endpoint gave no certificate; ``kind`` is ``tcp``, ``timeout`` or ``tls``."""

    def __init__(self, kind: str, message: Text) -> None:
        super().__init__(message, field="host")
        self.kind = kind




__all__ = [
    "DiscoveryProgress", "DiscoveryReport", "DiscoveryWarning", "GatewayCandidate", "OpenPort",
    "ProbeError",
]
