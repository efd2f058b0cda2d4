"""Parameters of the reference GWA's processes: typed values from objects or text, and updates
described as changes of a stored profile."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from app.domain import LogicalName, Obis, ServerId
from app.errors import InvalidValue, Text
from app.protocols.admin import (
    Address,
    AddressPurpose,
    BillingPeriod,
    CallMethod,
    CreateProfile,
    CryptoResetReason,
    DeleteProfile,
    DeviceType,
    EvaluatedMeter,
    HksScenario,
    LmnComType,
    LmnInterface,
    LogName,
    Operation,
    PeerRole,
    Profile,
    ProfileKind,
    ReadProfile,
    UpdateProfile,
    from_xml,
)
from app.protocols.admin.profiles import PROFILE_TYPES
from app.sim.gwa.process_base import _bad

# --- parameters ----------------------------------------------------------------------------------


def _as_text(name: str, v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _bad(name, f"{name} must be a non-empty text.",
                   f"{name} muss ein nicht leerer Text sein.")
    return v.strip()


def _as_int(name: str, v: Any) -> int:
    if isinstance(v, bool):
        v = None
    try:
        return int(v)
    except (TypeError, ValueError):
        raise _bad(name, f"{name} must be a whole number, not {v!r}.",
                   f"{name} muss eine ganze Zahl sein, nicht {v!r}.") from None


def _as_bool(name: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false", "1", "0", "yes", "no"):
        return v.lower() in ("true", "1", "yes")
    raise _bad(name, f"{name} must be true or false, not {v!r}.",
               f"{name} muss true oder false sein, nicht {v!r}.")


def _as_server_id(name: str, v: Any) -> ServerId:
    return v if isinstance(v, ServerId) else ServerId.parse(str(v), f"param {name}")


def _as_ln(name: str, v: Any) -> LogicalName:
    return v if isinstance(v, LogicalName) else LogicalName.parse(str(v), f"param {name}")


def _as_obis_list(name: str, v: Any) -> tuple[Obis, ...]:
    items = v.split(",") if isinstance(v, str) else list(v)
    out = tuple(o if isinstance(o, Obis) else Obis.parse(str(o).strip(), f"param {name}")
                for o in items)
    if not out:
        raise _bad(name, f"{name} needs at least one OBIS code.",
                   f"{name} braucht mindestens eine OBIS-Kennzahl.")
    return out


def _as_key(name: str, v: Any) -> bytes:
    if isinstance(v, bytes | bytearray):
        key = bytes(v)
    else:
        try:
            key = bytes.fromhex("".join(str(v).split()).replace(":", ""))
        except ValueError:
            key = b""
    if len(key) != 16:
        raise _bad(name, "The initial key M has 16 bytes (32 hex digits).",
                   "Der Initialschlüssel M hat 16 Bytes (32 Hex-Ziffern).")
    return key


def _as_time(name: str, v: Any) -> dt.datetime:
    value = v if isinstance(v, dt.datetime) else None
    if value is None:
        try:
            value = dt.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        except ValueError:
            value = None
    if value is None or value.tzinfo is None:
        raise _bad(name, f"{name} must be a time with zone, e.g. 2025-04-01T00:00:00Z.",
                   f"{name} muss eine Zeit mit Zone sein, z. B. 2025-04-01T00:00:00Z.")
    return value


def _as_profile(name: str, v: Any) -> Profile:
    if isinstance(v, tuple(PROFILE_TYPES.values())):
        return v  # type: ignore[return-value]
    if isinstance(v, str):
        v = v.encode("utf-8")
    if isinstance(v, bytes | bytearray):
        return from_xml(bytes(v), expect=tuple(PROFILE_TYPES.values()), field=f"param {name}")
    raise _bad(name, f"{name} must be a profile object or its XML document.",
               f"{name} muss ein Profilobjekt oder sein XML-Dokument sein.")


def _as_profiles(name: str, v: Any) -> tuple[Profile, ...]:
    return tuple(_as_profile(name, p) for p in (v or ()))


def _as_operation(name: str, v: Any) -> Operation:
    if isinstance(v, CreateProfile | UpdateProfile | ReadProfile | DeleteProfile | CallMethod):
        return v
    raise _bad(name, f"{name} must be an administration operation.",
               f"{name} muss eine Administrationsoperation sein.")


def _as_meters(name: str, v: Any) -> tuple[EvaluatedMeter, ...]:
    out = []
    for item in v or ():
        if isinstance(item, EvaluatedMeter):
            out.append(item)
        elif isinstance(item, Mapping) and "server_id" in item:
            out.append(EvaluatedMeter(_as_server_id(name, item["server_id"]),
                                      _as_obis_list(name, item.get("channels", ()))))
        else:
            raise _bad(name, f"{name}: each meter is {{server_id, channels}}.",
                       f"{name}: jeder Zähler ist {{server_id, channels}}.")
    if not out:
        raise _bad(name, f"{name} needs at least one meter.",
                   f"{name} braucht mindestens einen Zähler.")
    return tuple(out)


def _as_addresses(name: str, v: Any) -> tuple[Address, ...]:
    if isinstance(v, Mapping):
        return tuple(Address(AddressPurpose(str(k)), str(u)) for k, u in v.items())
    return tuple(a if isinstance(a, Address) else Address(AddressPurpose(a[0]), str(a[1]))
                 for a in v)


def _as_cert(name: str, v: Any) -> bytes:
    if isinstance(v, x509.Certificate):
        return v.public_bytes(serialization.Encoding.DER)
    data = v.encode("ascii") if isinstance(v, str) else bytes(v)
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            data = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
        else:
            x509.load_der_x509_certificate(data)
    except ValueError:
        raise _bad(name, f"{name} is not a certificate.", f"{name} ist kein Zertifikat.") from None
    return data


def _choice(*values: str) -> Callable[[str, Any], str]:
    def convert(name: str, v: Any) -> str:
        text = str(getattr(v, "value", v))
        if text not in values:
            raise _bad(name, f"{name} must be one of {', '.join(values)}, not {text!r}.",
                       f"{name} muss einer von {', '.join(values)} sein, nicht {text!r}.")
        return text
    return convert


def _any(_name: str, v: Any) -> Any:
    return v


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a process."""

    name: str
    kind: str
    description: Text
    required: bool = False
    default: Any = None

    def convert(self, value: Any) -> Any:
        try:
            return _CONVERTERS[self.kind](self.name, value)
        except InvalidValue:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise _bad(self.name, f"{self.name} has an unusable value: {exc}",
                       f"{self.name} hat einen unbrauchbaren Wert: {exc}") from None


_CONVERTERS: dict[str, Callable[[str, Any], Any]] = {
    "text": _as_text, "int": _as_int, "bool": _as_bool, "server_id": _as_server_id,
    "profile_id": _as_ln, "obis_list": _as_obis_list, "key": _as_key, "time": _as_time,
    "profile": _as_profile, "profiles": _as_profiles, "operation": _as_operation,
    "meters": _as_meters, "addresses": _as_addresses, "certificate": _as_cert,
    "kind": _choice(*(k.value for k in ProfileKind)),
    "device_type": _choice(*(d.value for d in DeviceType)),
    "lmn_interface": _choice(*(i.value for i in LmnInterface)),
    "lmn_com_type": _choice(*(c.value for c in LmnComType)),
    "billing_period": _choice(*(b.value for b in BillingPeriod)),
    "peer_role": _choice(*(r.value for r in PeerRole)),
    "crypto_reason": _choice(*(r.value for r in CryptoResetReason)),
    "log": _choice(*(n.value for n in LogName)),
    "scenarios": lambda n, v: tuple(HksScenario(str(getattr(s, "value", s))) for s in v),
    "mapping": lambda n, v: dict(v),
    "any": _any,
}


def _p(name: str, kind: str, en: str, de: str, *, required: bool = False,
       default: Any = None) -> ParamSpec:
    return ParamSpec(name, kind, Text(en, de), required, default)


#: Parameters the technician API passes along with an operation (``operation_params``).
_PASSED = (
    _p("operation", "operation", "The exact operation to send.",
       "Die genau zu sendende Operation."),
    _p("call", "any", "The method call (repeats operation).",
       "Der Methodenaufruf (wiederholt operation)."),
    _p("ref", "any", "Profile reference (repeats operation).",
       "Profilverweis (wiederholt operation)."),
    _p("kind", "kind", "Profile kind (repeats operation).", "Profilart (wiederholt operation)."),
    _p("id", "profile_id", "Profile ID (repeats operation).", "Profil-ID (wiederholt operation)."),
)


# coercion of ``changes`` for updates: field name -> converter kind
_CHANGE_KINDS = {
    "peer_name": "text", "addresses": "addresses", "tls_fingerprint": "text",
    "sig_certificate": "certificate", "enc_certificate": "certificate",
    "keep_alive_seconds": "int", "max_idle_seconds": "int", "max_session_seconds": "int",
    "device_type": "device_type", "active": "bool", "sample_rate_seconds": "int",
    "lmn_interface": "lmn_interface", "lmn_com_type": "lmn_com_type", "capture_list": "obis_list",
    "hdlc_address": "int", "key_material_ref": "text", "metering_point_id": "text",
    "receiving_emt": "profile_id", "registration_period_seconds": "int",
    "billing_period": "billing_period", "valid_from": "time", "valid_until": "time",
    "first_readout": "bool", "meters": "meters", "name": "text", "cls_peer": "profile_id",
    "emt_peer": "profile_id", "scenarios": "scenarios", "permanent": "bool",
}
_ENUM_FIELDS = {"device_type": DeviceType, "lmn_interface": LmnInterface,
                "lmn_com_type": LmnComType, "billing_period": BillingPeriod,
                "peer_role": PeerRole}


def apply_changes(profile: Profile, changes: Mapping[str, Any]) -> Profile:
    """``profile`` with ``changes`` (field name -> value, text or typed) and revision + 1."""
    fields = {f.name for f in dataclasses.fields(profile)}
    values: dict[str, Any] = {}
    for name, raw in changes.items():
        if name not in fields or name in ("id", "revision", "server_id", "taf"):
            raise _bad("changes", f"'{name}' cannot be changed in a {profile.kind.value} profile.",
                       f"'{name}' ist in einem Profil der Art {profile.kind.value} nicht "
                       "änderbar.")
        if raw is None:
            values[name] = None
            continue
        value = _CONVERTERS[_CHANGE_KINDS.get(name, "any")](f"changes.{name}", raw)
        values[name] = _ENUM_FIELDS[name](value) if name in _ENUM_FIELDS else value
    return dataclasses.replace(profile, revision=profile.revision + 1, **values)


# public names for the other process modules
param = _p
CONVERTERS = _CONVERTERS
PASSED = _PASSED
