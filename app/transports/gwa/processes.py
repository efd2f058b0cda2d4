"""Process names of the technician API and the administration operation each one stands for.

The technician names a process (``meter_profile.create``, ``pairing``, ``self_test`` …) and its
parameters; on the wire the process request carries exactly one administration operation
(create/read/update/delete of a profile, or a method call; docs/protocol/gwa-link.md). This module
translates in both directions without any I/O: :func:`build_operation` for the tool,
:func:`process_name` and :func:`operation_params` for the GWA.

Parameter values may be typed objects or text (as typed on the command line): a profile as its
object or its XML document, IDs as text, the initial key M as hex.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from app.domain import LogicalName, Obis, ServerId
from app.errors import InvalidValue, Text
from app.protocols.admin import (
    CallMethod,
    CreateProfile,
    CryptoReset,
    CryptoResetReason,
    DeleteProfile,
    DeviceType,
    LmnComType,
    LmnInterface,
    LogName,
    MeterProfile,
    MethodCall,
    Operation,
    Pairing,
    ProfileKind,
    ProfileRef,
    ReadDeviceInfo,
    ReadLog,
    ReadProfile,
    SelfTest,
    TimeSync,
    UpdateProfile,
    from_xml,
)
from app.protocols.admin.catalog import BILLING_TAFS, PROFILE_CLASSES, TAF_CLASS_OBIS
from app.protocols.admin.methods import METHOD_ELEMENTS
from app.protocols.admin.profiles import PROFILE_TYPES

#: Process-name prefix of each profile kind (both evaluation kinds share one prefix).
PROFILE_PREFIX: dict[ProfileKind, str] = {
    ProfileKind.COMMUNICATION: "communication_profile",
    ProfileKind.METER: "meter_profile",
    ProfileKind.BILLING_EVALUATION: "evaluation_profile",
    ProfileKind.NON_BILLING_EVALUATION: "evaluation_profile",
    ProfileKind.CLS_PROXY: "cls_proxy_profile",
}
PROFILE_ACTIONS = ("create", "read", "update", "delete")

#: Process name of each method call.
METHOD_PROCESSES: dict[type, str] = {
    Pairing: "pairing",
    CryptoReset: "crypto_reset",
    TimeSync: "time_sync",
    SelfTest: "self_test",
    ReadLog: "read_log",
    ReadDeviceInfo: "device_info",
}

#: Parameters each process accepts (``document`` = a profile or methodCall XML document).
#: Parameters from which the tool builds a meter profile itself (``meter_profile.create``).
METER_FIELDS = ("server_id", "device_type", "active", "sample_rate", "lmn_interface",
                "lmn_com_type", "capture_list", "hdlc_address", "key_material_ref")

PROCESS_PARAMS: dict[str, tuple[str, ...]] = {
    **{f"{prefix}.{action}": (("profile", "document") if action in ("create", "update")
                              else ("id", "kind"))
       for prefix in sorted(set(PROFILE_PREFIX.values())) for action in PROFILE_ACTIONS},
    "meter_profile.create": ("profile", "document", *METER_FIELDS),
    "meter_profile.read": ("id", "kind", "server_id"),
    "meter_profile.delete": ("id", "kind", "server_id"),
    "pairing": ("server_id", "initial_key", "timeout", "document"),
    "crypto_reset": ("server_id", "reason", "timeout", "document"),
    "time_sync": ("server", "document"),
    "self_test": ("document",),
    "read_log": ("log", "max_entries", "since", "until", "document"),
    "device_info": ("document",),
}
PROCESS_NAMES: tuple[str, ...] = tuple(sorted(PROCESS_PARAMS))

#: Parameters that carry key material: never typed on a command line, never queued offline.
SECRET_PARAMS = frozenset({"initial_key"})


def _bad(field: str, en: str, de: str, hint: Text | None = None) -> InvalidValue:
    return InvalidValue(Text(en, de), field=field, hint=hint)


def process_name(op: Operation) -> str:
    """The process name an operation stands for (``meter_profile.create``, ``pairing`` …)."""
    if isinstance(op, CreateProfile | UpdateProfile):
        return f"{PROFILE_PREFIX[op.profile.kind]}.{op.element}"
    if isinstance(op, ReadProfile | DeleteProfile):
        return f"{PROFILE_PREFIX[ProfileKind(op.ref.kind)]}.{op.element}"
    if isinstance(op, CallMethod):
        return METHOD_PROCESSES[type(op.call)]
    raise TypeError(f"{type(op).__name__} is not an administration operation")


def carries_secret(op: Operation) -> bool:
    """Whether the operation carries key material (the initial key M of a pairing)."""
    return isinstance(op, CallMethod) and isinstance(op.call, Pairing)


def operation_params(op: Operation) -> dict[str, Any]:
    """Typed parameters of an operation, as the GWA hands them to its process runner.

    ``operation`` is always present; the other keys repeat its content by name.
    """
    params: dict[str, Any] = {"operation": op}
    if isinstance(op, CreateProfile | UpdateProfile):
        params.update(profile=op.profile, kind=op.profile.kind, id=op.profile.id)
    elif isinstance(op, ReadProfile | DeleteProfile):
        params.update(kind=ProfileKind(op.ref.kind), id=op.ref.id, ref=op.ref)
    elif isinstance(op, CallMethod):
        params["call"] = op.call
        params.update({k: v for k, v in vars(op.call).items()})
    return params


# --- building operations from names and parameters ------------------------------------------------


def unknown_process(name: str) -> InvalidValue:
    return _bad(
        "process",
        f"'{name}' is not a process of the technician API; known: {', '.join(PROCESS_NAMES)}.",
        f"'{name}' ist kein Vorgang der Techniker-Schnittstelle; bekannt: "
        f"{', '.join(PROCESS_NAMES)}.",
    )


def build_operation(process: str, params: Mapping[str, Any] | None = None) -> Operation:
    """The operation for ``process`` with ``params``; :class:`InvalidValue` names what is wrong."""
    params = dict(params or {})
    allowed = PROCESS_PARAMS.get(process)
    if allowed is None:
        raise unknown_process(process)
    extra = sorted(set(params) - set(allowed))
    if extra:
        raise _bad(
            f"param {extra[0]}",
            f"The process '{process}' takes no parameter '{extra[0]}'; it takes: "
            f"{', '.join(allowed) or 'none'}.",
            f"Der Vorgang '{process}' kennt keinen Parameter '{extra[0]}'; er kennt: "
            f"{', '.join(allowed) or 'keine'}.",
        )
    prefix, _, action = process.partition(".")
    if action:
        return _profile_operation(process, prefix, action, params)
    if "document" in params:
        if len(params) > 1:
            raise _bad("param document",
                       "A method-call document cannot be combined with other parameters.",
                       "Ein Methodenaufruf-Dokument lässt sich nicht mit weiteren Parametern "
                       "kombinieren.")
        call = _decode_document(params["document"], "methodCall")
        if METHOD_PROCESSES.get(type(call)) != process:
            raise _bad("param document",
                       f"The document holds a {METHOD_PROCESSES.get(type(call), '?')} call, not "
                       f"{process}.",
                       f"Das Dokument enthält einen Aufruf {METHOD_PROCESSES.get(type(call), '?')}"
                       f", nicht {process}.")
        return CallMethod(call)
    return CallMethod(_METHOD_BUILDERS[process](params))


def _decode_document(raw: Any, what: str) -> Any:
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not isinstance(raw, bytes | bytearray):
        raise _bad("param document", f"The {what} document must be XML text.",
                   f"Das Dokument ({what}) muss XML-Text sein.")
    return from_xml(bytes(raw), field="param document")


def _profile_operation(
    process: str, prefix: str, action: str, params: dict[str, Any]
) -> Operation:
    kinds = [k for k, p in PROFILE_PREFIX.items() if p == prefix]
    if action in ("create", "update"):
        raw = params.get("profile", params.get("document"))
        if raw is None and process == "meter_profile.create" and "server_id" in params:
            return CreateProfile(_meter_profile(params))
        if raw is None:
            raise _bad("param profile",
                       f"'{process}' needs the profile (its XML document, e.g. --params-file).",
                       f"'{process}' braucht das Profil (sein XML-Dokument, z. B. "
                       "--params-file).")
        profile = raw if isinstance(raw, tuple(PROFILE_TYPES.values())) \
            else _decode_document(raw, "profile")
        if getattr(profile, "kind", None) not in kinds:
            raise _bad("param profile",
                       f"'{process}' needs a {PROFILE_CLASSES[kinds[0]].name.en}, not "
                       f"{type(profile).__name__}.",
                       f"'{process}' braucht ein {PROFILE_CLASSES[kinds[0]].name.de}, nicht "
                       f"{type(profile).__name__}.")
        return CreateProfile(profile) if action == "create" else UpdateProfile(profile)
    if action not in PROFILE_ACTIONS:
        raise unknown_process(process)
    raw_id = params.get("id")
    if raw_id is None and prefix == "meter_profile" and params.get("server_id") is not None:
        raw_id = MeterProfile.id_for(_server_id(params, process))
    if raw_id is None:
        raise _bad("param id", f"'{process}' needs the profile ID (id=…).",
                   f"'{process}' braucht die Profil-ID (id=…).")
    profile_id = raw_id if isinstance(raw_id, LogicalName) else LogicalName.parse(
        str(raw_id), "param id")
    kind = _profile_kind(kinds, profile_id, params.get("kind"))
    ref = ProfileRef(kind, profile_id)
    return ReadProfile(ref) if action == "read" else DeleteProfile(ref)


def _profile_kind(kinds: list[ProfileKind], profile_id: LogicalName, given: Any) -> ProfileKind:
    if given is not None:
        try:
            kind = ProfileKind(str(given))
        except ValueError:
            kind = None
        if kind not in kinds:
            raise _bad("param kind", f"kind must be one of {', '.join(kinds)}, not '{given}'.",
                       f"kind muss einer von {', '.join(kinds)} sein, nicht '{given}'.")
        return kind  # type: ignore[return-value]
    if len(kinds) == 1:
        return kinds[0]
    # evaluation profiles: the TAF number is in the ID's class OBIS
    for taf, obis in TAF_CLASS_OBIS.items():
        if profile_id.obis.hex == obis:
            return (ProfileKind.BILLING_EVALUATION if taf in BILLING_TAFS
                    else ProfileKind.NON_BILLING_EVALUATION)
    raise _bad("param kind",
               f"Cannot tell from {profile_id.text} whether the profile is billing-relevant; "
               "give kind=billing-evaluation or kind=non-billing-evaluation.",
               f"Aus {profile_id.text} ist nicht erkennbar, ob das Profil abrechnungsrelevant "
               "ist; bitte kind=billing-evaluation oder kind=non-billing-evaluation angeben.")


def _server_id(params: Mapping[str, Any], process: str) -> ServerId:
    raw = params.get("server_id")
    if raw is None:
        raise _bad("param server_id", f"'{process}' needs the meter's server ID (server_id=…).",
                   f"'{process}' braucht die Server-ID des Zählers (server_id=…).")
    return raw if isinstance(raw, ServerId) else ServerId.parse(str(raw), "param server_id")


def _int(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or isinstance(raw, bool) or not low <= value <= high:
        raise _bad(f"param {name}", f"{name} must be a whole number from {low} to {high}, "
                   f"not '{raw}'.",
                   f"{name} muss eine ganze Zahl von {low} bis {high} sein, nicht '{raw}'.")
    return value


def _enum(params: Mapping[str, Any], name: str, enum_type: Any, default: Any = None) -> Any:
    raw = params.get(name, default)
    if raw is None:
        raise _bad(f"param {name}", f"{name} is required; one of {', '.join(enum_type)}.",
                   f"{name} fehlt; einer von {', '.join(enum_type)}.")
    try:
        return enum_type(str(raw))
    except ValueError:
        raise _bad(f"param {name}", f"{name} must be one of {', '.join(enum_type)}, not '{raw}'.",
                   f"{name} muss einer von {', '.join(enum_type)} sein, nicht '{raw}'.") from None


def _time(params: Mapping[str, Any], name: str) -> dt.datetime | None:
    raw = params.get(name)
    if raw is None or isinstance(raw, dt.datetime):
        return raw
    try:
        value = dt.datetime.fromisoformat(str(raw))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise _bad(f"param {name}", f"{name} must be an ISO 8601 time with offset, e.g. "
                   f"2024-05-01T00:00:00+02:00, not '{raw}'.",
                   f"{name} muss eine ISO-8601-Zeit mit Zeitzone sein, z. B. "
                   f"2024-05-01T00:00:00+02:00, nicht '{raw}'.")
    return value


def _initial_key(params: Mapping[str, Any]) -> bytes | None:
    """Key M from the parameters; ``None`` when none is given (the GWA uses the key it holds)."""
    raw = params.get("initial_key")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bytes | bytearray):
        key = bytes(raw)
    else:
        text = "".join(str(raw or "").split()).replace(":", "")
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
    if len(key) != 16:
        raise _bad("param initial_key",
                   "The initial key M is 16 bytes (32 hex digits), as printed on the meter's "
                   "key sheet.",
                   "Der Initialschlüssel M hat 16 Bytes (32 Hex-Ziffern), wie auf dem "
                   "Schlüsselblatt des Zählers angegeben.")
    return key


def _bool(params: Mapping[str, Any], name: str, default: bool) -> bool:
    raw = params.get(name, default)
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "ja"):
        return True
    if text in ("false", "0", "no", "nein"):
        return False
    raise _bad(f"param {name}", f"{name} must be true or false, not '{raw}'.",
               f"{name} muss true oder false sein, nicht '{raw}'.")


def _obis_list(params: Mapping[str, Any], name: str) -> tuple[Obis, ...]:
    raw = params.get(name, "1-0:1.8.0,1-0:2.8.0")
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    values = tuple(o if isinstance(o, Obis) else Obis.parse(str(o).strip(), f"param {name}")
                   for o in items if not isinstance(o, str) or o.strip())
    if not values:
        raise _bad(f"param {name}", f"{name} needs at least one OBIS code.",
                   f"{name} braucht mindestens eine OBIS-Kennzahl.")
    return values


def _meter_profile(p: Mapping[str, Any]) -> MeterProfile:
    """A new meter profile (revision 1) from simple parameters, with the usual defaults."""
    sid = _server_id(p, "meter_profile.create")
    hdlc = None if p.get("hdlc_address") is None else _int(p, "hdlc_address", 0, 16, 16381)
    return MeterProfile(
        MeterProfile.id_for(sid), 1, sid,
        _enum(p, "device_type", DeviceType, DeviceType.ELECTRICITY.value),
        _bool(p, "active", True),
        _int(p, "sample_rate", 900, 1, 86400),
        _enum(p, "lmn_interface", LmnInterface, LmnInterface.WIRED.value),
        _enum(p, "lmn_com_type", LmnComType, LmnComType.TLS.value),
        _obis_list(p, "capture_list"),
        hdlc_address=hdlc,
        key_material_ref=None if p.get("key_material_ref") is None
        else str(p["key_material_ref"]),
    )


def _pairing(p: Mapping[str, Any]) -> MethodCall:
    return Pairing(_server_id(p, "pairing"), _initial_key(p), _int(p, "timeout", 120, 1, 3600))


def _crypto_reset(p: Mapping[str, Any]) -> MethodCall:
    return CryptoReset(_server_id(p, "crypto_reset"), _enum(p, "reason", CryptoResetReason),
                       _int(p, "timeout", 120, 1, 3600))


def _read_log(p: Mapping[str, Any]) -> MethodCall:
    return ReadLog(_enum(p, "log", LogName, LogName.SYSTEM.value),
                   _int(p, "max_entries", 100, 1, 10000), _time(p, "since"), _time(p, "until"))


_METHOD_BUILDERS: dict[str, Callable[[Mapping[str, Any]], MethodCall]] = {
    "pairing": _pairing,
    "crypto_reset": _crypto_reset,
    "time_sync": lambda p: TimeSync(None if p.get("server") is None else str(p["server"])),
    "self_test": lambda _p: SelfTest(),
    "read_log": _read_log,
    "device_info": lambda _p: ReadDeviceInfo(),
}

assert set(METHOD_PROCESSES) == set(METHOD_ELEMENTS)
