"""Readings of the meter change: the read head (optical interface), the energy
registers read through it and the readings kept in the job (Zählerstände)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from app.context import OpticalTarget
from app.domain import Obis
from app.errors import InvalidValue, SmgwctError, Text
from app.processes.engine import StepContext
from app.processes.flows.job_common import (
    app_context,
    open_job_store,
    read_meter_optically,
    same_server_id,
    work_order,
)
from app.processes.flows.meter_change.common import ENERGY, OTHER_PORT, PORT_PROMPT
from app.store.jobs import MeterRole, Reading, WorkOrder
from app.transports import serial_ports
from app.transports.optical import public_key_fingerprint

_t = Text


def _store_readings_blocking(ctx: StepContext, order: WorkOrder, values: Sequence[Reading]) -> None:
    """Add ``values``; readings of the same run, meter, register and source (an earlier visit of
    the step) are withdrawn first, with the reason, so the job keeps one current value."""
    with open_job_store(app_context(ctx)) as store:
        job = store.get(order.job_id)
        for new in values:
            for old in job.readings:
                if (old.run_id == ctx.run_id and old.source == new.source
                        and same_server_id(old.server_id, new.server_id)
                        and Obis.parse(old.obis) == Obis.parse(new.obis)):
                    store.withdraw(order.job_id, old.seq,
                                   f"superseded: step {ctx.step} of run {ctx.run_id} read again")
            store.add_reading(order.job_id, new)


async def store_readings(ctx: StepContext, values: Sequence[Reading]) -> None:
    """Store readings in the run's job (see :func:`_store_readings_blocking`)."""
    order = work_order(ctx)
    await asyncio.to_thread(_store_readings_blocking, ctx, order, values)


def reading_dict(reading: Reading) -> dict[str, Any]:
    """A reading as the step data keeps it."""
    return {"server_id": reading.server_id, "obis": reading.obis, "value": reading.value,
            "unit": reading.unit, "source": reading.source, "role": reading.role}


def show(readings: Sequence[Mapping[str, Any]]) -> str:
    """Readings in one line for a summary (``1.8.0 1234.5 kWh, …``)."""
    return ", ".join(f"{Obis.parse(r['obis']).short} {r['value']} {r['unit'] or ''}"
                     .rstrip() for r in readings) or "-"


def went_backwards(earlier: Sequence[Mapping[str, Any]], later: Sequence[Mapping[str, Any]]
                   ) -> list[dict[str, Any]]:
    """Energy registers of ``later`` readings that are lower than the same register read
    before (``earlier``, e.g. the optical initial reading): an energy register never goes
    backwards, so each is a plausibility problem (different meter, wrong scaler, a reset)."""
    before: dict[str, Mapping[str, Any]] = {}
    for r in earlier:
        before[Obis.parse(r["obis"]).hex] = r
    out: list[dict[str, Any]] = []
    for r in later:
        key = Obis.parse(r["obis"]).hex
        first = before.get(key)
        if first is None or (first.get("unit") or None) != (r.get("unit") or None):
            continue
        try:
            lower = Decimal(str(r["value"])) < Decimal(str(first["value"]))
        except (ArithmeticError, ValueError):
            continue
        if lower:
            out.append({"obis": r["obis"], "value": str(r["value"]), "unit": r.get("unit"),
                        "source": r.get("source"), "earlier": str(first["value"]),
                        "earlier_source": first.get("source")})
    return out


def backwards_text(problems: Sequence[Mapping[str, Any]]) -> Text:
    """The warning for :func:`went_backwards`' findings (empty when there are none)."""
    if not problems:
        return _t("", "")
    def one(p: Mapping[str, Any]) -> tuple[str, str]:
        short = Obis.parse(p["obis"]).short
        unit = f" {p['unit']}" if p.get("unit") else ""
        return (f"{short} {p['value']}{unit} < {p['earlier']}{unit}",
                f"{short} {p['value']}{unit} < {p['earlier']}{unit}")
    pairs = [one(p) for p in problems]
    return _t("Not plausible: lower than the optical initial reading taken before ("
              + ", ".join(en for en, _ in pairs) + "); an energy register never goes "
              "backwards - check that the gateway reads the meter that was installed.",
              "Nicht plausibel: kleiner als der vorher optisch gelesene Anfangsstand ("
              + ", ".join(de for _, de in pairs) + "); ein Energiezähler läuft nie "
              "rückwärts - prüfen, ob das Gateway den eingebauten Zähler liest.")


async def ensure_read_head(ctx: StepContext) -> str:
    """The read head's port: the connection settings', else asked (offering the serial ports)."""
    app = app_context(ctx)
    if app.optical is not None:
        return app.optical.port
    ports = await asyncio.to_thread(serial_ports.list_ports)
    port = OTHER_PORT
    if ports:
        options = [(p.device, _t(f"{p.device} ({p.description})", f"{p.device} "
                                 f"({p.description})")) for p in ports]
        options.append((OTHER_PORT, _t("Another port or address", "Anderer Anschluss oder "
                                       "Adresse")))
        port = await ctx.ui.choose(PORT_PROMPT, options)
    if port == OTHER_PORT:
        port = (await ctx.ui.enter_value(
            _t("Read head port (e.g. /dev/ttyUSB0, COM3, socket://host:port)",
               "Anschluss des Lesekopfs (z. B. /dev/ttyUSB0, COM3, socket://host:port)"),
            validator=_check_port)).strip()
    app.optical = OpticalTarget(port)
    return port


def _check_port(value: str) -> None:
    if not value.strip():
        raise InvalidValue(_t("Enter the read head's port.", "Bitte den Anschluss des Lesekopfs "
                              "eingeben."), field="optical_port")


async def read_energy(ctx: StepContext, meter_role: MeterRole) -> tuple[Any, list[Reading]]:
    """Read the meter at the read head: its snapshot and the energy registers as readings."""
    port = await ensure_read_head(ctx)
    snapshot = await read_meter_optically(ctx)
    sid = snapshot.identity.server_id
    seen = "-" if sid is None else (sid.text or sid.hex)
    values: list[Reading] = []
    for obis in ENERGY:
        reading = snapshot.get(obis)
        if reading is None or reading.value is None:
            continue
        values.append(Reading.create(seen, obis.notation, reading.value, reading.unit,
                                     source="optical", role=meter_role.value,
                                     run_id=ctx.run_id))
    ctx.trace("optical", "info", f"port {port}: {seen} "
                                 + " ".join(f"{r.obis}={r.value}{r.unit or ''}" for r in values))
    return snapshot, values


def require_import(seen: str, values: Sequence[Reading]) -> None:
    """Refuse an optical read without the import register 1.8.0 (Bezug)."""
    if not any(Obis.parse(r.obis) == ENERGY[0] for r in values):
        raise SmgwctError(
            _t(f"Meter {seen} sent no import register 1.8.0 through the optical interface.",
               f"Zähler {seen} hat über die optische Schnittstelle keinen Bezugszählerstand "
               "1.8.0 gesendet."),
            field="obis",
            hint=_t("Unlock the meter's extended data set (PIN via the light sensor) or read "
                    "the register from the display and enter it as a note; then run the step "
                    "again.",
                    "Erweiterten Datensatz des Zählers freischalten (PIN über den Lichtsensor) "
                    "oder den Stand vom Display ablesen und als Bemerkung erfassen; dann den "
                    "Schritt wiederholen."))


def optical_data(snapshot: Any, values: Sequence[Reading], port: str | None) -> dict[str, Any]:
    """The step data of an optical read: identity, key fingerprint, port and readings."""
    key = snapshot.identity.public_key
    sid = snapshot.identity.server_id
    return {"server_id": "-" if sid is None else (sid.text or sid.hex),
            "manufacturer": snapshot.identity.manufacturer, "source": snapshot.source,
            "public_key_sha256": public_key_fingerprint(key) if key else None, "port": port,
            "read_at": dt.datetime.now(dt.UTC).isoformat(),
            "readings": [reading_dict(r) for r in values]}
