"""The vendor-neutral HAN adapter interface and the data it returns.

Modelled on the idea of TRuDI's ``IHanAdapter``: one adapter per gateway vendor dialect, every
call bounded by a timeout, cancellable (plain asyncio cancellation) and reporting progress. The
public coroutines of :class:`HanAdapter` apply the timeout and map it to :class:`HanTimeout`;
vendor adapters implement the ``_``-prefixed hooks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from app.errors import Text
from app.security.pki import describe_certificate
from app.security.tls import CertificateChain
from app.transports.han.errors import HanAccessDenied, HanTimeout
from app.transports.han.state_code import GatewayState

T = TypeVar("T")

#: ``progress(fraction, message)``: ``fraction`` is 0..1 or ``None`` when the total is unknown.
Progress = Callable[[float | None, Text], None]

DEFAULT_TIMEOUT = 20.0

#: DLMS/COSEM unit codes (IEC 62056-6-2) seen at the HAN.
UNITS: dict[int, str] = {
    5: "h", 6: "min", 7: "s", 9: "°C", 13: "m³", 19: "l", 25: "J", 27: "W", 28: "VA",
    29: "var", 30: "Wh", 31: "VAh", 32: "varh", 33: "A", 35: "V", 44: "Hz", 255: "",
}


class LogKind(enum.StrEnum):
    """Which log: the system log (service technician) or the consumer log (Letztverbraucher)."""

    SYSTEM = "system"
    CONSUMER = "consumer"


class UserRole(enum.StrEnum):
    """HAN roles of TR-03109-1 the tool deals with."""

    CONSUMER = "consumer"  # IF_GW_CON, Letztverbraucher
    SERVICE_TECHNICIAN = "service_technician"  # IF_GW_SRV, Servicetechniker


@dataclass(frozen=True)
class HanCredentials:
    """Access data for one HAN account: a password (Digest) and/or a client certificate."""

    user: str
    password: str | None = field(default=None, repr=False)
    client_certificate: CertificateChain | None = field(default=None, repr=False)
    role: UserRole = UserRole.CONSUMER


@dataclass(frozen=True)
class FirmwareComponent:
    """One firmware component with its version and SHA-256 hash (Firmware-Prüfsumme)."""

    component: str
    version: str
    hash: str

    def to_dict(self) -> dict[str, str]:
        return {"component": self.component, "version": self.version, "hash": self.hash}


@dataclass(frozen=True)
class CertificateRecord:
    """A certificate the gateway reports (HAN TLS, WAN SIG, Sub-CA, ...)."""

    role: str
    pem: bytes = field(repr=False)
    sha256: str
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    #: ``guetesiegel`` / ``wirkzertifikat`` for WAN certificates, else ``None``
    state: str | None = None
    index: int | None = None

    @classmethod
    def from_pem(cls, role: str, pem: bytes, *, state: str | None = None,
                 index: int | None = None) -> CertificateRecord:
        """The record of a PEM certificate; ``ValueError`` if it does not parse."""
        info = describe_certificate(pem)
        return cls(role, pem, info.sha256, info.subject, info.issuer, info.not_before,
                   info.not_after, state, index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role, "subject": self.subject, "issuer": self.issuer,
            "not_before": self.not_before.isoformat(), "not_after": self.not_after.isoformat(),
            "sha256": self.sha256, "state": self.state, "index": self.index,
        }


@dataclass(frozen=True)
class GatewayIdentity:
    """Who the gateway is and how it stands (Technische Gerätedaten, identity part)."""

    vendor: str
    smgw_id: str
    firmware: tuple[FirmwareComponent, ...]
    state: GatewayState
    time: dt.datetime
    certificates: tuple[CertificateRecord, ...]
    model: str | None = None
    api_version: str | None = None

    def certificate(self, role: str) -> CertificateRecord | None:
        return next((c for c in self.certificates if c.role == role), None)

    def to_dict(self) -> dict[str, Any]:
        """The ``han info --json`` shape (without ``meters``)."""
        return {
            "vendor": self.vendor,
            "smgw_id": self.smgw_id,
            "firmware": [f.to_dict() for f in self.firmware],
            "state": self.state.raw,
            "state_text": self.state.describe().en,
            "time": self.time.isoformat(),
            "certificates": [c.to_dict() for c in self.certificates],
        }


@dataclass(frozen=True)
class MeterValue:
    """A register value of an LMN meter: ``raw × 10^scaler`` in ``unit``."""

    obis: str
    obis_hex: str
    raw: int
    scaler: int
    unit: int | None
    captured: dt.datetime | None = None

    @property
    def value(self) -> Decimal:
        return Decimal(self.raw).scaleb(self.scaler)

    @property
    def unit_text(self) -> str:
        return UNITS.get(self.unit, f"unit {self.unit}") if self.unit is not None else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "obis": self.obis, "value": str(self.value), "unit": self.unit_text,
            "raw": self.raw, "scaler": self.scaler, "unit_code": self.unit,
            "captured": self.captured.isoformat() if self.captured else None,
        }


@dataclass(frozen=True)
class MeterInfo:
    """An LMN meter as the gateway reports it."""

    server_id: str
    server_id_hex: str | None
    usage_points: tuple[str, ...] = ()
    values: tuple[MeterValue, ...] = ()
    #: whether the account may read values at all (the service technician may not)
    values_available: bool = True
    paired: bool | None = None
    hdlc_address: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "server_id": self.server_id, "server_id_hex": self.server_id_hex,
            "usage_points": list(self.usage_points), "paired": self.paired,
            "hdlc_address": self.hdlc_address, "values_available": self.values_available,
            "values": [v.to_dict() for v in self.values],
        }


@dataclass(frozen=True)
class EvaluationProfileInfo:
    """An evaluation profile (Auswerteprofil, TAF contract) visible to the account."""

    usage_point_id: str
    name: str | None
    taf_number: int | None
    taf_state: str | None
    meters: tuple[str, ...]
    metering_point_id: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "usage_point_id": self.usage_point_id, "name": self.name,
            "taf_number": self.taf_number, "taf_state": self.taf_state,
            "meters": list(self.meters), "metering_point_id": self.metering_point_id,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


@dataclass(frozen=True)
class TechnicalData:
    """Everything the flow "Technische Gerätedaten abfragen" shows."""

    identity: GatewayIdentity
    profiles: tuple[EvaluationProfileInfo, ...]
    meters: tuple[MeterInfo, ...]
    #: gateway time minus laptop time, in seconds (positive: the gateway is ahead)
    clock_offset_seconds: float
    measured_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        out = self.identity.to_dict()
        out["clock_offset_seconds"] = round(self.clock_offset_seconds, 3)
        out["profiles"] = [p.to_dict() for p in self.profiles]
        out["meters"] = [m.to_dict() for m in self.meters]
        return out


LEVEL_NAMES: dict[int, Text] = {
    1: Text("information", "Information"),
    2: Text("warning", "Warnung"),
    3: Text("error", "Fehler"),
    4: Text("alert", "Alarm"),
}


@dataclass(frozen=True)
class LogEntry:
    """One entry of the system log or the consumer log, the same for every vendor."""

    kind: LogKind
    index: int
    time: dt.datetime
    level: int | None
    event_id: str | None
    message: str
    event_sub_id: str | None = None
    subject: str | None = None
    outcome: str | None = None
    user: str | None = None
    vendor_id: str | None = None
    version: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def level_text(self) -> Text:
        if self.level is None:
            return Text("", "")
        return LEVEL_NAMES.get(self.level, Text(f"level {self.level}", f"Stufe {self.level}"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value, "index": self.index, "time": self.time.isoformat(),
            "level": self.level, "event_id": self.event_id, "event_sub_id": self.event_sub_id,
            "subject": self.subject, "message": self.message, "outcome": self.outcome,
            "user": self.user, "vendor_id": self.vendor_id, "version": self.version,
        }


@dataclass(frozen=True)
class SelfTestResult:
    """Outcome of a self-test request (Selbsttest): started, or refused by the repeat lock."""

    accepted: bool
    retry_after_seconds: float | None = None
    message: Text = field(default_factory=lambda: Text("", ""))


class HanAdapter(ABC):
    """Local access to one gateway at its HAN interface, in one vendor dialect.

    Use as ``async with adapter:`` (connects, closes). Every public call takes ``timeout``
    (seconds; default :attr:`timeout`) and raises :class:`HanTimeout` when it is exceeded;
    cancelling the calling task cancels the call. ``progress`` is called from the event loop.
    """

    vendor: ClassVar[str] = "unknown"

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout

    async def _bounded(self, operation: str, timeout: float | None, work: Awaitable[T]) -> T:
        limit = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                return await work
        except TimeoutError as exc:
            raise HanTimeout(operation, limit) from exc

    async def connect(self, *, timeout: float | None = None, progress: Progress | None = None
                      ) -> None:
        """Open the connection and log in (TCP, TLS with the pinned certificate, auth)."""
        await self._bounded("connect", timeout, self._connect(progress))

    async def identify(self, *, timeout: float | None = None, progress: Progress | None = None
                       ) -> GatewayIdentity:
        """Vendor, SMGW ID, firmware, state, time and certificates."""
        return await self._bounded("identify", timeout, self._identify(progress))

    async def technical_data(
        self, *, timeout: float | None = None, progress: Progress | None = None
    ) -> TechnicalData:
        """Identity plus evaluation profiles, meters and the clock offset to this laptop."""
        return await self._bounded("technical_data", timeout, self._technical_data(progress))

    async def meters(self, *, timeout: float | None = None, progress: Progress | None = None
                     ) -> list[MeterInfo]:
        """The LMN meters the gateway sees, with their last values where the account may read."""
        return await self._bounded("meters", timeout, self._meters(progress))

    async def logs(
        self,
        kind: LogKind | str,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        from_index: int | None = None,
        count: int | None = None,
        timeout: float | None = None,
        progress: Progress | None = None,
    ) -> list[LogEntry]:
        """Log entries in index order, paging past the gateway's per-request limit.

        ``count`` limits the total number returned (``None``: all that match).
        """
        return await self._bounded(
            "logs", timeout,
            self._logs(LogKind(kind), since, until, from_index, count, progress),
        )

    async def self_test(self, *, timeout: float | None = None, progress: Progress | None = None
                        ) -> SelfTestResult:
        """Ask the gateway to run its self-test (it refuses within its repeat lock)."""
        return await self._bounded("self_test", timeout, self._self_test(progress))

    @abstractmethod
    async def close(self) -> None:
        """Log out where the dialect has a logout, and close the connection."""

    @abstractmethod
    async def _connect(self, progress: Progress | None) -> None: ...

    @abstractmethod
    async def _identify(self, progress: Progress | None) -> GatewayIdentity: ...

    async def _technical_data(self, progress: Progress | None) -> TechnicalData:
        before = dt.datetime.now(dt.UTC)
        identity = await self._identify(progress)
        after = dt.datetime.now(dt.UTC)
        laptop = before + (after - before) / 2  # the gateway's time was read in between
        profiles = await self._profiles()
        meters = await self._meters(progress)
        return TechnicalData(identity, tuple(profiles), tuple(meters),
                             (identity.time - laptop).total_seconds(), laptop)

    async def _profiles(self) -> list[EvaluationProfileInfo]:
        """The account's evaluation profiles; none where the dialect does not show them."""
        return []

    @abstractmethod
    async def _meters(self, progress: Progress | None) -> list[MeterInfo]: ...

    @abstractmethod
    async def _logs(
        self,
        kind: LogKind,
        since: dt.datetime | None,
        until: dt.datetime | None,
        from_index: int | None,
        count: int | None,
        progress: Progress | None,
    ) -> list[LogEntry]: ...

    @abstractmethod
    async def _self_test(self, progress: Progress | None) -> SelfTestResult: ...

    async def __aenter__(self) -> HanAdapter:
        try:
            await self.connect()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def check_log_access(role: UserRole, kind: LogKind) -> None:
    """Each role reads its own log only: :class:`HanAccessDenied` for the other one."""
    own = LogKind.SYSTEM if role is UserRole.SERVICE_TECHNICIAN else LogKind.CONSUMER
    if kind is own:
        return
    raise HanAccessDenied(
        Text("read the system log (service technician only)",
             "das Systemlog lesen (nur Servicetechniker)")
        if kind is LogKind.SYSTEM
        else Text("read the consumer log (consumer only)",
                  "das Letztverbraucher-Log lesen (nur Letztverbraucher)"))


def report(progress: Progress | None, fraction: float | None, message: Text) -> None:
    """Call ``progress`` if given."""
    if progress is not None:
        progress(fraction, message)
