"""The words the flows put into their summaries and verdicts for values that arrive as codes:
operating states, certificate states, pairing outcomes, self-test results, meter roles and
times. Each comes back as :class:`~app.errors.Text`, so the German text stays German."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from app.errors import Text
from app.store.work_order import MeterRole

_OPERATING_STATES: dict[str, Text] = {
    "delivery": Text("delivery state", "Auslieferungszustand"),
    "normal": Text("normal operation", "Normalbetrieb"),
    "secure-state-boot": Text("secure state (boot)", "sicherer Zustand (Start)"),
    "secure-state-application": Text("secure state (application)",
                                     "sicherer Zustand (Anwendung)"),
    "secure-state-connectivity": Text("secure state (connectivity)",
                                      "sicherer Zustand (Verbindung)"),
    "secure-state-measurement": Text("secure state (measurement)",
                                     "sicherer Zustand (Messung)"),
}

_CERTIFICATE_STATES: dict[str, Text] = {
    "guetesiegel": Text("Gütesiegel certificate", "Gütesiegel-Zertifikat"),
    "wirkzertifikat": Text("Wirkzertifikat", "Wirkzertifikat"),
}

#: WAN certificate roles (Zertifikatsrollen, TR-03109-4) in words
_CERTIFICATE_ROLES: dict[str, Text] = {
    "wan_tls": Text("WAN TLS", "WAN-TLS"),
    "wan_sig": Text("WAN signature", "WAN-Signatur"),
    "wan_enc": Text("WAN encryption", "WAN-Verschlüsselung"),
}

_OUTCOMES: dict[str, Text] = {
    "paired": Text("paired", "gepaart"),
    "failed": Text("failed", "fehlgeschlagen"),
    "passed": Text("passed", "bestanden"),
    "skipped": Text("skipped", "übersprungen"),
    "unknown": Text("unknown", "unbekannt"),
    "none": Text("none", "keine"),
}

_TAF_STATES: dict[str, Text] = {
    "running": Text("running", "aktiv"),
    "ready": Text("ready, not started", "bereit, nicht gestartet"),
    "archive": Text("archived", "archiviert"),
    "": Text("no state", "ohne Zustand"),
}

#: the checks of the gateway's self-test (5.15) by their names
_SELF_TEST_CHECKS: dict[str, Text] = {
    "firmware-integrity": Text("firmware integrity", "Firmware-Integrität"),
    "security-module": Text("security module", "Sicherheitsmodul"),
    "clock": Text("clock", "Uhr"),
    "storage": Text("storage", "Speicher"),
    "wan-han-separation": Text("WAN/HAN separation", "WAN/HAN-Trennung"),
    "lmn": Text("LMN", "LMN"),
    "certificates": Text("certificates", "Zertifikate"),
}

#: states of a GWA job (Auftrag des GWA)
_JOB_STATES: dict[str, Text] = {
    "queued": Text("queued", "wartend"),
    "running": Text("running", "laufend"),
    "succeeded": Text("succeeded", "erfolgreich"),
    "failed": Text("failed", "fehlgeschlagen"),
    "cancelled": Text("cancelled", "abgebrochen"),
}

_SOURCES: dict[str, Text] = {
    "gwa": Text("reported by the GWA", "vom GWA gemeldet"),
    "system log": Text("from the system log", "aus dem Systemlog"),
    "han": Text("over HAN", "über HAN"),
    "optical": Text("optical", "optisch"),
}


def _lookup(table: dict[str, Text], value: object) -> Text:
    key = "" if value is None else str(value)
    found = table.get(key.lower())
    return found if found is not None else Text(key or "-", key or "-")


def operating_state(state: object) -> Text:
    """Betriebszustand: ``delivery`` -> "Auslieferungszustand", ``normal`` -> "Normalbetrieb"."""
    return _lookup(_OPERATING_STATES, state)


def certificate_state(state: object) -> Text:
    """``guetesiegel`` / ``wirkzertifikat`` in words."""
    return _lookup(_CERTIFICATE_STATES, state)


def certificate_role(role: object) -> Text:
    """``wan_tls`` / ``wan_sig`` / ``wan_enc`` in words."""
    return _lookup(_CERTIFICATE_ROLES, role)


def outcome(value: object) -> Text:
    """A result code (``paired``, ``passed``, ``failed``, ...) in words."""
    return _lookup(_OUTCOMES, value)


def taf_state(state: object) -> Text:
    """The state of an evaluation profile (``running``, ``ready``, ``archive``) in words."""
    return _lookup(_TAF_STATES, state or "")


def self_test_check(name: object) -> Text:
    """A self-test check (``clock``, ``wan-han-separation``, ...) in words."""
    return _lookup(_SELF_TEST_CHECKS, name)


def job_state(state: object) -> Text:
    """The state of a GWA job (``queued``, ``running``, ``failed``, ...) in words."""
    return _lookup(_JOB_STATES, state)


def source(value: object) -> Text:
    """Where a result came from (``gwa``, ``system log``, ``han``, ``optical``)."""
    return _lookup(_SOURCES, value)


def meter_role(role: object) -> Text:
    """A work order role (``new``/``old``/``existing``) in words, e.g. "neuer Zähler"."""
    try:
        return MeterRole(str(role)).title
    except ValueError:
        return Text(str(role), str(role))


def meters_text(meters: Iterable[tuple[str, object]]) -> Text:
    """``1EMH… (alter Zähler), 1DZG… (neuer Zähler)`` from (server ID, role) pairs."""
    items = [(sid, meter_role(role)) for sid, role in meters]
    return Text(", ".join(f"{sid} ({r.en})" for sid, r in items) or "-",
                ", ".join(f"{sid} ({r.de})" for sid, r in items) or "-")


def local_time(value: object, *, tz: dt.tzinfo | None = None) -> Text:
    """A moment (``datetime`` or ISO 8601 text) in local time, to the minute:
    ``29.11.2026 20:38`` (German) and ``2026-11-29 20:38`` (English); ``-`` when missing.

    ``tz``: the time zone to show (default: the computer's)."""
    moment: dt.datetime | None = None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return Text(value, value)
    if moment is None:
        return Text("-", "-")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(tz)
    return Text(local.strftime("%Y-%m-%d %H:%M"), local.strftime("%d.%m.%Y %H:%M"))


def date_text(value: dt.date) -> Text:
    """A calendar date: ``2026-11-29`` (English) and ``29.11.2026`` (German)."""
    return Text(value.isoformat(), value.strftime("%d.%m.%Y"))


def join(texts: Iterable[Text], sep: str = ", ") -> Text:
    """Texts joined in each language."""
    items = list(texts)
    return Text(sep.join(t.en for t in items), sep.join(t.de for t in items))


__all__ = [
    "certificate_role",
    "certificate_state",
    "date_text",
    "job_state",
    "join",
    "local_time",
    "meter_role",
    "meters_text",
    "operating_state",
    "outcome",
    "self_test_check",
    "source",
    "taf_state",
]
