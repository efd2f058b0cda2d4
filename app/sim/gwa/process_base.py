"""What every process of the reference GWA works with: progress, results, failures, the context
it runs in, the micro-processes it chains (spec ch. 5), and small helpers for answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from app.domain import LogicalName, ServerId
from app.errors import InvalidValue, SmgwctError, Text
from app.protocols.admin import (
    CommunicationProfile,
    CreateProfile,
    DeleteProfile,
    DeviceInfo,
    Event,
    Operation,
    Profile,
    ProfileKind,
    ReadProfile,
    Response,
    SelfTestResult,
    UpdateProfile,
)
from app.protocols.admin.catalog import BILLING_TAFS, PROFILE_CLASSES, TAF_CLASS_OBIS


def _bad(name: str, en: str, de: str) -> InvalidValue:
    return InvalidValue(Text(en, de), field=f"param {name}")


# --- progress, results, failures -----------------------------------------------------------------


@dataclass(frozen=True)
class ProcessProgress:
    """One progress report: the step (``wake-up-sent``, ``request-sent``, ``result-received``,
    ``smgw-event`` … or a process step), a message for the technician, and how far it is (0-1).
    """

    step: str
    message: Text
    fraction: float
    event: Event | None = None
    """The gateway event relayed (step ``smgw-event``)."""
    response: Response | None = None
    """The gateway's answer (step ``result-received``)."""


@dataclass(frozen=True)
class ProcessResult:
    """The outcome of a process.

    ``data`` is a JSON-friendly summary (stored with the run); ``response`` the gateway's answer
    to the main operation, ``responses`` every answer in order. On failure ``error_code`` is one
    of the job failure reasons of docs/protocol/gwa-link.md (``unknown-gateway``,
    ``wake-up-unanswered``, ``session-dropped``, ``rejected-by-gateway``, ``timeout``,
    ``gwa-error``) or ``invalid-params``, ``unknown-process``, ``no-key-material``,
    ``handover-incomplete``, and ``error`` says it in both languages.
    """

    ok: bool
    data: dict[str, Any]
    error_code: str | None = None
    error: Text | None = None
    response: Response | None = None
    responses: tuple[Response, ...] = ()


class ProcessFailed(SmgwctError):
    """A process cannot go on; ``code`` is the failure code of :class:`ProcessResult`."""

    def __init__(self, code: str, message: Text, *, response: Response | None = None,
                 hint: Text | None = None, data: dict[str, Any] | None = None) -> None:
        super().__init__(message, field="process", hint=hint)
        self.code = code
        self.response = response
        self.data = data or {}

    @classmethod
    def rejected(cls, response: Response, what: Text) -> ProcessFailed:
        reason = response.text
        return cls(
            "rejected-by-gateway",
            Text(f"{what.en}: the gateway answered {response.status} {response.reason.value}. "
                 f"{reason.en}",
                 f"{what.de}: das Gateway antwortete {response.status} "
                 f"{response.reason.value}. {reason.de}"),
            response=response,
        )


class ProcessContext(Protocol):
    """What a process may do (implemented by the reference GWA for one gateway and run)."""

    smgw_id: Any

    async def call(self, op: Operation, what: Text) -> Response:
        """Send ``op`` in the gateway's MANAGEMENT session; the gateway's answer."""
        ...

    def step(self, name: str, message: Text, fraction: float) -> None:
        """Report a process step."""
        ...

    def meter_key(self, server_id: ServerId) -> bytes | None:
        """The initial key M the GWA holds for a meter (from the MSB's device data)."""
        ...

    def known_profiles(self, kind: ProfileKind | None = None) -> list[Profile]:
        """The profiles the GWA believes are installed on the gateway (its inventory)."""
        ...

    def own_profile(self, revision: int) -> CommunicationProfile:
        """The GWA's own communication profile as the gateway should hold it."""
        ...


Runner = Callable[[ProcessContext, dict[str, Any]], Awaitable[dict[str, Any]]]


# --- micro-processes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MicroProcess:
    name: str
    chapter: str
    title: Text


MICRO_PROCESSES: dict[str, MicroProcess] = {m.name: m for m in (
    MicroProcess("wake-up", "5.1", Text("Send wake-up packet", "Wake-Up-Paket versenden")),
    MicroProcess("management-channel", "5.2/5.3",
                 Text("Set up / tear down MANAGEMENT channel",
                      "MANAGEMENT-Kanal auf- und abbauen")),
    MicroProcess("info-report-channel", "5.6/5.7",
                 Text("Set up / tear down INFO-REPORT channel",
                      "INFO-REPORT-Kanal auf- und abbauen")),
    MicroProcess("auth-state", "5.8/5.9",
                 Text("Establish / end AUTH state", "AUTH-Zustand herstellen / beenden")),
    MicroProcess("content-encryption", "5.10/5.11",
                 Text("Decrypt / encrypt data", "Daten entschlüsseln / verschlüsseln")),
    MicroProcess("tls", "5.12", Text("TLS communication", "TLS-Kommunikation")),
    MicroProcess("time-sync", "5.13",
                 Text("Synchronise time", "Zeitsynchronisation durchführen")),
    MicroProcess("event", "5.14", Text("Send event", "Event versenden")),
    MicroProcess("self-test", "5.15", Text("Run self-test", "Selbsttest durchführen")),
    MicroProcess("http-response", "5.16", Text("Send HTTP response", "HTTP-Response versenden")),
    MicroProcess("profile-create", "4.2.3", Text("Create profile", "Profil anlegen")),
    MicroProcess("profile-read", "4.2.3", Text("Read profile", "Profil auslesen")),
    MicroProcess("profile-update", "4.2.3", Text("Update profile", "Profil aktualisieren")),
    MicroProcess("profile-delete", "4.2.3", Text("Delete profile", "Profil löschen")),
    MicroProcess("first-readout", "6.4.3.2", Text("First readout", "Erstauslesung")),
    MicroProcess("pairing", "6.4.2.6", Text("Pair meter and SMGW", "Pairing Zähler und SMGW")),
    MicroProcess("crypto-reset", "6.4.2.7",
                 Text("Crypto-Reset", "Crypto-Reset durchführen")),
    MicroProcess("read-log", "6.5.10", Text("Query logs", "Logs abfragen")),
    MicroProcess("device-info", "6.5.11",
                 Text("Query technical device data", "Technische Gerätedaten abfragen")),
)}

#: Every process runs inside a MANAGEMENT session reached by a wake-up.
SESSION_MICRO = ("wake-up", "tls", "management-channel", "auth-state", "content-encryption",
                 "http-response")


# --- helpers -------------------------------------------------------------------------------------


async def _expect(ctx: ProcessContext, op: Operation, what: Text) -> Response:
    response = await ctx.call(op, what)
    if not response.ok:
        raise ProcessFailed.rejected(response, what)
    return response


def _summary(response: Response) -> dict[str, Any]:
    data: dict[str, Any] = {"status": response.status, "reason": response.reason.value}
    result = response.result
    if result is not None and hasattr(result, "id") and hasattr(result, "revision"):
        data.update(profile_id=result.id.text, revision=result.revision,
                    kind=result.kind.value)
    if response.readings is not None:
        data["readings"] = len(response.readings.readings)
    return data


def _kind_of(profile_id: LogicalName, prefix: str, given: str | None) -> ProfileKind:
    if given is not None:
        return ProfileKind(given)
    if prefix == "evaluation_profile":
        for taf, obis in TAF_CLASS_OBIS.items():
            if profile_id.obis.hex == obis:
                return (ProfileKind.BILLING_EVALUATION if taf in BILLING_TAFS
                        else ProfileKind.NON_BILLING_EVALUATION)
        raise _bad("id", f"{profile_id.text} is not the ID of an evaluation profile (TAF).",
                   f"{profile_id.text} ist keine ID eines Auswerteprofils (TAF).")
    return _PREFIX_KIND[prefix]


_PREFIX_KIND = {
    "communication_profile": ProfileKind.COMMUNICATION,
    "meter_profile": ProfileKind.METER,
    "cls_proxy_profile": ProfileKind.CLS_PROXY,
}

_KINDS_OF_PREFIX = {
    "communication_profile": (ProfileKind.COMMUNICATION,),
    "meter_profile": (ProfileKind.METER,),
    "evaluation_profile": (ProfileKind.BILLING_EVALUATION, ProfileKind.NON_BILLING_EVALUATION),
    "cls_proxy_profile": (ProfileKind.CLS_PROXY,),
}


def _check_kind(prefix: str, profile: Profile) -> Profile:
    if profile.kind not in _KINDS_OF_PREFIX[prefix]:
        names = " / ".join(PROFILE_CLASSES[k].name.en for k in _KINDS_OF_PREFIX[prefix])
        raise _bad("profile", f"This process needs a {names}, not a {profile.kind.value} profile.",
                   f"Dieser Vorgang braucht ein {names}, kein Profil der Art "
                   f"{profile.kind.value}.")
    return profile


def _check_operation(prefix: str, element: str, op: Operation) -> Operation:
    if op.element != element:
        raise _bad("operation", f"This process sends <{element}>, not <{op.element}>.",
                   f"Dieser Vorgang sendet <{element}>, nicht <{op.element}>.")
    if isinstance(op, CreateProfile | UpdateProfile):
        _check_kind(prefix, op.profile)
    elif (isinstance(op, ReadProfile | DeleteProfile)
          and op.ref.kind not in _KINDS_OF_PREFIX[prefix]):
        raise _bad("operation", f"This process handles {prefix}, not {op.ref.kind} profiles.",
                   f"Dieser Vorgang behandelt {prefix}, keine Profile der Art {op.ref.kind}.")
    return op


def _self_test_data(response: Response) -> dict[str, Any]:
    data = _summary(response)
    if isinstance(response.result, SelfTestResult):
        r = response.result
        data.update(passed=r.passed, failed_checks=[c.name for c in r.checks
                                                    if c.outcome.value == "failed"])
    return data


def _device_data(response: Response) -> dict[str, Any]:
    data = _summary(response)
    if isinstance(response.result, DeviceInfo):
        d = response.result
        data.update(operating_state=d.operating_state.value, firmware_version=d.firmware_version,
                    time=d.time.isoformat(), wan_address=d.wan_address)
    return data


# public names for the other process modules
expect_ok = _expect
summary = _summary
kind_of = _kind_of
check_kind = _check_kind
check_operation = _check_operation
self_test_data = _self_test_data
device_data = _device_data
KINDS_OF_PREFIX = _KINDS_OF_PREFIX
