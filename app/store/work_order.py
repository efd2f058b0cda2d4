"""The work order (Arbeitsauftrag) as planned by the back office, and its value types.

A :class:`WorkOrder` names the job number, site, metering point, the expected SMGW ID, the
expected meters (server ID, role, a *reference* to their key material) and the planned flows.
Its JSON and XML forms are described in ``docs/work-orders.md``; reading and checking files is
done in :mod:`app.store.work_order_io`, the field rules live in :mod:`app.store.work_order_check`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lxml import etree

from app.domain import ServerId, SmgwId
from app.errors import Text
from app.security.xml import to_bytes

NAMESPACE = "urn:smgwct:work-order:1"
FORMAT_VERSION = 1


class PlannedFlow(StrEnum):
    """Flows a work order can plan (names as in ``smgwct flow run``)."""

    HANDOVER = "handover"
    METER_CHANGE = "meter_change"
    PAIRING = "pairing"
    DISCOVERY = "discovery"
    LOGS = "logs"
    TECHNICAL_DATA = "technical_data"

    @property
    def title(self) -> Text:
        """The flow's name as the UI lists it (the same as the flow's own title)."""
        return _FLOW_TITLES[self]


class MeterRole(StrEnum):
    """What happens to a meter on this visit: installed, removed, or kept."""

    NEW = "new"
    OLD = "old"
    EXISTING = "existing"

    @property
    def title(self) -> Text:
        """The role in words, e.g. for "1EMH0012345678 (alter Zähler)"."""
        return _ROLE_TITLES[self]


_FLOW_TITLES: dict[PlannedFlow, Text] = {
    PlannedFlow.HANDOVER: Text("Transfer into normal operation",
                               "Überführung in den Normalbetrieb"),
    PlannedFlow.METER_CHANGE: Text("Change meter", "Zähler wechseln"),
    PlannedFlow.PAIRING: Text("Pair meter and SMGW", "Pairing Zähler und SMGW"),
    PlannedFlow.DISCOVERY: Text("Device discovery", "Device-Discovery"),
    PlannedFlow.LOGS: Text("Read logs", "Logs abfragen"),
    PlannedFlow.TECHNICAL_DATA: Text("Read technical data", "Technische Gerätedaten abfragen"),
}

_ROLE_TITLES: dict[MeterRole, Text] = {
    MeterRole.NEW: Text("new meter", "neuer Zähler"),
    MeterRole.OLD: Text("old meter", "alter Zähler"),
    MeterRole.EXISTING: Text("existing meter", "vorhandener Zähler"),
}


@dataclass(frozen=True)
class Site:
    """Einsatzort: address and where in the building the cabinet is."""

    street: str
    postal_code: str
    city: str
    location: str | None = None

    @property
    def one_line(self) -> str:
        text = f"{self.street}, {self.postal_code} {self.city}"
        return f"{text} ({self.location})" if self.location else text


@dataclass(frozen=True)
class ExpectedMeter:
    """A meter the work order names; ``key_ref`` points to its key material (never the key)."""

    server_id: ServerId
    role: MeterRole
    key_ref: str | None = None

    @property
    def server_id_text(self) -> str:
        return self.server_id.text or self.server_id.hex


@dataclass(frozen=True)
class WorkOrder:
    """One job as planned by the back office (Arbeitsauftrag)."""

    job_id: str
    site: Site
    metering_point_id: str
    smgw_id: SmgwId
    gwa_tenant: str
    meters: tuple[ExpectedMeter, ...]
    flows: tuple[PlannedFlow, ...]
    customer_name: str | None = None
    planned_date: dt.date | None = None
    notes: str | None = None

    @classmethod
    def create(
        cls,
        *,
        job_id: str,
        street: str,
        postal_code: str,
        city: str,
        metering_point_id: str,
        smgw_id: str,
        gwa_tenant: str,
        meters: Iterable[tuple[str, str] | tuple[str, str, str | None]] = (),
        flows: Iterable[str] = (),
        location: str | None = None,
        customer_name: str | None = None,
        planned_date: str | None = None,
        notes: str | None = None,
    ) -> WorkOrder:
        """A work order typed in on site; the same rules as for files, errors name the field."""
        # the rules build work orders themselves, so they are looked up only when needed
        from app.store.work_order_check import Located, order_from_document

        doc = _document(
            job_id=job_id, street=street, postal_code=postal_code, city=city, location=location,
            metering_point_id=metering_point_id, customer_name=customer_name, smgw_id=smgw_id,
            gwa_tenant=gwa_tenant,
            meters=((m[0], m[1], m[2] if len(m) > 2 else None) for m in meters),  # type: ignore[misc]
            flows=flows, planned_date=planned_date, notes=notes)
        return order_from_document(doc, Located("", "json", {}))

    def meters_with(self, role: MeterRole) -> list[ExpectedMeter]:
        return [m for m in self.meters if m.role is role]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see docs/work-orders.md)."""
        site = self.site
        return _document(
            job_id=self.job_id, street=site.street, postal_code=site.postal_code,
            city=site.city, location=site.location, metering_point_id=self.metering_point_id,
            customer_name=self.customer_name, smgw_id=self.smgw_id.text,
            gwa_tenant=self.gwa_tenant,
            meters=((m.server_id_text, m.role.value, m.key_ref) for m in self.meters),
            flows=(f.value for f in self.flows),
            planned_date=None if self.planned_date is None else self.planned_date.isoformat(),
            notes=self.notes)

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")

    def to_xml(self) -> bytes:
        """The XML form, valid against ``work-order.xsd``."""
        def sub(parent: etree._Element, name: str, text: str | None) -> None:
            if text is not None:
                etree.SubElement(parent, qname(name)).text = text

        root = etree.Element(qname("workOrder"), nsmap={None: NAMESPACE})
        root.set("version", str(FORMAT_VERSION))
        sub(root, "jobId", self.job_id)
        site = etree.SubElement(root, qname("site"))
        sub(site, "street", self.site.street)
        sub(site, "postalCode", self.site.postal_code)
        sub(site, "city", self.site.city)
        sub(site, "location", self.site.location)
        sub(root, "meteringPointId", self.metering_point_id)
        sub(root, "customerName", self.customer_name)
        sub(root, "smgwId", self.smgw_id.text)
        sub(root, "gwaTenant", self.gwa_tenant)
        meters = etree.SubElement(root, qname("meters"))
        for m in self.meters:
            meter = etree.SubElement(meters, qname("meter"))
            sub(meter, "serverId", m.server_id_text)
            sub(meter, "role", m.role.value)
            sub(meter, "keyRef", m.key_ref)
        flows = etree.SubElement(root, qname("flows"))
        for f in self.flows:
            sub(flows, "flow", f.value)
        planned = self.planned_date
        sub(root, "plannedDate", None if planned is None else planned.isoformat())
        sub(root, "notes", self.notes)
        return to_bytes(root, pretty=True)


def qname(name: str) -> str:
    """``name`` in the work order namespace (Clark notation)."""
    return f"{{{NAMESPACE}}}{name}"


def without_none(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}


def _document(
    *, job_id: str, street: str, postal_code: str, city: str, location: str | None,
    metering_point_id: str, customer_name: str | None, smgw_id: str, gwa_tenant: str,
    meters: Iterable[tuple[str, str, str | None]], flows: Iterable[str],
    planned_date: str | None, notes: str | None,
) -> dict[str, Any]:
    """The JSON form from plain values, in the documented key order; ``None`` is left out."""
    return without_none({
        "version": FORMAT_VERSION,
        "job_id": job_id,
        "site": without_none({"street": street, "postal_code": postal_code, "city": city,
                              "location": location}),
        "metering_point_id": metering_point_id,
        "customer_name": customer_name,
        "smgw_id": smgw_id,
        "gwa_tenant": gwa_tenant,
        "meters": [without_none({"server_id": server_id, "role": role, "key_ref": key_ref})
                   for server_id, role, key_ref in meters],
        "flows": list(flows),
        "planned_date": planned_date,
        "notes": notes,
    })


__all__ = [
    "FORMAT_VERSION",
    "NAMESPACE",
    "ExpectedMeter",
    "MeterRole",
    "PlannedFlow",
    "Site",
    "WorkOrder",
]
