"""Shared parts of the job flows (Auftragsabläufe): work order, job list, identities, key M.

Job data a flow run receives (``ctx.data``; ``smgwct flow run NAME --job FILE`` passes ``job``):

``job``
    The work order in its JSON form (docs/work-orders.md). Without it, ``job_id`` names a job of
    the job list and its work order is used.
``server_id`` (optional)
    The meter a flow is about; otherwise it is taken from the work order (asked when several fit).

:func:`load_job` is the first step of a job flow: it checks the work order, puts the job into the
job list if it is not there yet, attaches the run (``WorkOrderStore.attach_run`` with the flow's
name, as docs/work-orders.md asks) and shows what is expected. The ``record_*`` helpers write
what a step saw (gateway and meters, certificates, readings, notes) into the job, so that the
commissioning report can show it and compare it with the work order.

Identities (Identitätsprüfung, "everywhere: the meter's server ID read optically = the work order
= what the gateway lists"): :func:`check_gateway_identity`, :func:`check_meter_identity` and
:func:`check_meter_listed` stop the flow with an :class:`IdentityMismatch` that shows both
values; :func:`read_meter_optically` reads the meter through the read head.

Key material: :func:`meter_key` turns the work order's *reference* (``key_ref``) into the
initial key M (Schlüssel M) for a pairing, from the demo data, the keyring (``meter-key/<ref>``)
or the technician's input; the key is never stored in step data, traces or logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from app.context import AppContext, Link, LinkState
from app.domain import ServerId, SmgwId
from app.errors import ConfigurationError, InvalidValue, SmgwctError, Text
from app.processes.engine import StepContext, StepOutcome
from app.processes.flows.wording import meters_text
from app.store.jobs import (
    DB_FILE,
    FILES_DIR,
    CertificateRecord,
    DeviceRecord,
    ExpectedMeter,
    MeterRole,
    Reading,
    Seal,
    WorkOrder,
    WorkOrderStore,
)
from app.store.work_order_check import Located, order_from_document

#: Key of a shared :class:`WorkOrderStore` in ``AppContext.extras`` (UI, tests).
JOB_STORE_EXTRA = "work_orders"
#: Keyring entries holding a meter's key M (hex), by key reference.
KEY_SECRET_KIND = "meter-key"  # noqa: S105 - a name, not a secret

GATEWAY_HAN = Text("the gateway (HAN)", "das Gateway (HAN)")
METER_OPTICAL = Text("the meter's optical interface", "die optische Schnittstelle des Zählers")
GATEWAY_LIST = Text("the gateway's list of meters", "die Zählerliste des Gateways")


# -- errors -------------------------------------------------------------------------------------


class IdentityMismatch(SmgwctError):
    """Two sources name different devices; the flow stops and shows both values."""

    kind = "mismatch"

    def __init__(self, what: Text, expected: str, seen: str | Text, source: Text, *,
                 field: str, hint: Text | None = None) -> None:
        seen_text = seen if isinstance(seen, Text) else Text(seen, seen)
        super().__init__(
            Text(f"{what.en}: the work order names {expected}, but {source.en} reports "
                 f"{seen_text.en}.",
                 f"{what.de}: der Auftrag nennt {expected}, aber {source.de} meldet "
                 f"{seen_text.de}."),
            field=field,
            hint=hint or Text(
                "Check that you are at the right device and site. If the work order is wrong, "
                "ask the back office for a corrected one; the flow stops here so that nothing "
                "is done to the wrong device.",
                "Prüfen Sie, ob Sie am richtigen Gerät und Ort sind. Ist der Auftrag falsch, "
                "fordern Sie einen korrigierten an; der Ablauf hält hier an, damit am falschen "
                "Gerät nichts verändert wird."),
        )
        self.expected = expected
        self.seen = seen_text.en
        self.seen_text = seen_text


def no_work_order() -> SmgwctError:
    return SmgwctError(
        Text("This flow needs a work order.", "Dieser Ablauf braucht einen Auftrag."),
        field="job",
        hint=Text("Pick a job from the job list, or give the work order file (--job FILE).",
                  "Wählen Sie einen Auftrag aus der Auftragsliste oder geben Sie die "
                  "Auftragsdatei an (--job DATEI)."),
    )


# -- the work order and the job list ------------------------------------------------------------


def app_context(ctx: StepContext) -> AppContext:
    services = ctx.services
    if not isinstance(services, AppContext):
        raise ConfigurationError("the job flows need an AppContext as their services")
    return services


@contextlib.contextmanager
def open_job_store(app: AppContext) -> Iterator[WorkOrderStore]:
    """The job list: the context's shared store, else the one in the data folder (closed after).

    Its audit entries go to the data folder's audit log, next to the engine's."""
    shared = app.extras.get(JOB_STORE_EXTRA)
    if isinstance(shared, WorkOrderStore):
        yield shared
        return
    from app.store.audit import AuditLog
    from app.workbench import AUDIT_DB, store_folder

    folder = store_folder(app)
    audit = AuditLog(folder / AUDIT_DB)
    store = WorkOrderStore(folder / DB_FILE, folder / FILES_DIR, audit)
    try:
        yield store
    finally:
        store.close()
        audit.close()


def _stored_order(app: AppContext, job_id: str) -> WorkOrder:
    with open_job_store(app) as store:
        return store.get(job_id).order


def work_order(ctx: StepContext) -> WorkOrder:
    """The run's work order (``job`` in the job data, else the stored job ``job_id``)."""
    raw = ctx.data.get("job")
    if isinstance(raw, Mapping):
        return order_from_document(dict(raw), Located("job data", "json", {}))
    job_id = ctx.data.get("job_id")
    if isinstance(job_id, str) and job_id:
        return _stored_order(app_context(ctx), job_id)
    raise no_work_order()


def _attach(app: AppContext, order: WorkOrder, run_id: str, flow: str) -> tuple[bool, bool]:
    """Put the job into the job list if needed and attach the run: (added, differs), where
    ``differs`` says the job list holds another version of this work order."""
    with open_job_store(app) as store:
        added = differs = False
        try:
            stored = store.get(order.job_id).order
            differs = stored.to_dict() != order.to_dict()
        except SmgwctError:
            store.add(order, source="flow", source_name=f"flow run {run_id}")
            added = True
        store.attach_run(order.job_id, run_id, flow)
    return added, differs


def describe_meters(order: WorkOrder) -> str:
    """The work order's meters by server ID (the same in every language)."""
    return ", ".join(m.server_id_text for m in order.meters) or "-"


def meters_with_roles(order: WorkOrder) -> Text:
    """``1EMH… (alter Zähler), 1DZG… (neuer Zähler)``."""
    return meters_text((m.server_id_text, m.role) for m in order.meters)


async def load_job(ctx: StepContext) -> StepOutcome:
    """Step "Auftrag laden": the work order, the job in the job list, this run attached to it."""
    order = work_order(ctx)
    app = app_context(ctx)
    added, differs = await asyncio.to_thread(_attach, app, order, ctx.run_id, ctx.flow.name)
    planned = ctx.flow.name in {f.value for f in order.flows}
    if not planned:
        ctx.trace("job", "info", f"flow {ctx.flow.name} is not planned in job {order.job_id}")
    if differs:
        ctx.trace("job", "info", f"job {order.job_id}: the job list holds another version of "
                                 "this work order; this run checks against the one it was "
                                 "started with")
    meters = meters_with_roles(order)
    return StepOutcome(
        {"job_id": order.job_id, "smgw_id": order.smgw_id.text, "site": order.site.one_line,
         "metering_point_id": order.metering_point_id, "gwa_tenant": order.gwa_tenant,
         "meters": [{"server_id": m.server_id_text, "role": m.role.value,
                     "key_ref": m.key_ref} for m in order.meters],
         "planned": planned, "added_to_job_list": added,
         "differs_from_job_list": differs},
        Text(f"Job {order.job_id}: gateway {order.smgw_id.text} at {order.site.one_line}; "
             f"meters {meters.en}"
             + ("" if planned else " (this flow is not planned in the job)"),
             f"Auftrag {order.job_id}: Gateway {order.smgw_id.text}, {order.site.one_line}; "
             f"Zähler {meters.de}"
             + ("" if planned else " (dieser Ablauf ist im Auftrag nicht geplant)")),
    )


# -- what a step saw, recorded in the job ---------------------------------------------------------


async def _job_write(ctx: StepContext, action: str, *args: Any) -> Any:
    order = work_order(ctx)
    app = app_context(ctx)

    def write() -> Any:
        with open_job_store(app) as store:
            return getattr(store, action)(order.job_id, *args)

    return await asyncio.to_thread(write)


async def record_device(ctx: StepContext, device: DeviceRecord) -> DeviceRecord:
    """Keep a device (gateway or meter) seen in this run with the job."""
    return await _job_write(ctx, "record_device", device)  # type: ignore[no-any-return]


async def record_gateway(ctx: StepContext, identity: Any, *, source: str = "han") -> None:
    """The gateway's identity (a HAN ``GatewayIdentity``) and its certificates, into the job."""
    firmware = identity.firmware[0] if identity.firmware else None
    await record_device(ctx, DeviceRecord(
        "gateway", identity.smgw_id, vendor=identity.vendor, model=identity.model,
        firmware_version=None if firmware is None else firmware.version,
        firmware_hash=None if firmware is None else firmware.hash, source=source,
        run_id=ctx.run_id))
    for cert in identity.certificates:
        await record_certificate(ctx, CertificateRecord(
            identity.smgw_id, cert.role, cert.sha256, cert.subject, cert.issuer,
            cert.not_after.isoformat(), cert.state, ctx.run_id))


async def record_meter(ctx: StepContext, server_id: str, *, source: str,
                       role: str | None = None, public_key_sha256: str | None = None,
                       vendor: str | None = None, firmware_version: str | None = None
                       ) -> DeviceRecord:
    """A meter seen in this run (``source``: ``optical``, ``han`` or ``gwa``)."""
    return await record_device(ctx, DeviceRecord(
        "meter", server_id, role=role, vendor=vendor, firmware_version=firmware_version,
        public_key_sha256=public_key_sha256, source=source, run_id=ctx.run_id))


async def record_certificate(ctx: StepContext, cert: CertificateRecord) -> CertificateRecord:
    return await _job_write(ctx, "record_certificate", cert)  # type: ignore[no-any-return]


async def record_reading(ctx: StepContext, reading: Reading) -> Reading:
    """A register value, e.g. the final reading of the old meter (``Reading.create``)."""
    return await _job_write(ctx, "add_reading", reading)  # type: ignore[no-any-return]


async def record_seal(ctx: StepContext, seal: Seal) -> Seal:
    return await _job_write(ctx, "add_seal", seal)  # type: ignore[no-any-return]


async def add_note(ctx: StepContext, text: str) -> None:
    await _job_write(ctx, "add_note", text)


# -- evidence for verdicts -----------------------------------------------------------------------


def evidence_line(check: str, title: Text, evidence: Text, *, ok: bool = True,
                  step: str | None = None) -> dict[str, Any]:
    """One line of a verdict (Nachweis): what was checked, the result, the evidence, the step
    that produced it. Views and the report render a list of these."""
    return {"check": check, "ok": ok, "step": step,
            "title": {"en": title.en, "de": title.de},
            "evidence": {"en": evidence.en, "de": evidence.de}}


# -- identities ---------------------------------------------------------------------------------


async def identify_gateway(ctx: StepContext) -> StepOutcome:
    """Step "gateway identity = work order": log in over HAN (service technician), read who the
    gateway is, stop on a different SMGW ID, record the gateway and its certificates."""
    from app.processes.flows.han_common import han_session, mark_identified
    from app.transports.han.base import UserRole

    order = work_order(ctx)
    user = ctx.data.get("user")
    async with han_session(ctx, UserRole.SERVICE_TECHNICIAN,
                           user=str(user) if user else None) as session:
        ctx.progress(None, Text("Reading the gateway's identity…",
                                "Identität des Gateways wird gelesen…"))
        identity = await session.adapter.identify(progress=ctx.progress)
    ctx.trace("han", "info", f"gateway reports smgw_id={identity.smgw_id}")
    check_gateway_identity(order, identity.smgw_id)
    mark_identified(ctx, identity.smgw_id)
    await record_gateway(ctx, identity)
    firmware = identity.firmware[0] if identity.firmware else None
    wan = sorted({c.state for c in identity.certificates if c.state})
    return StepOutcome(
        {"smgw_id": identity.smgw_id, "vendor": identity.vendor, "model": identity.model,
         "firmware": [f.to_dict() for f in identity.firmware],
         "state": identity.state.raw, "state_text": {"en": identity.state.describe().en,
                                                     "de": identity.state.describe().de},
         "time": identity.time.isoformat(), "wan_certificate_states": wan,
         "certificates": [c.to_dict() for c in identity.certificates],
         "user": session.user},
        Text(f"Gateway {identity.smgw_id} ({identity.vendor} {identity.model or ''}".rstrip()
             + f", firmware {firmware.version if firmware else '-'}) is the one on the work "
               "order",
             f"Gateway {identity.smgw_id} ({identity.vendor} {identity.model or ''}".rstrip()
             + f", Firmware {firmware.version if firmware else '-'}) ist das aus dem Auftrag"),
    )



def same_smgw_id(a: str, b: str) -> bool:
    """Whether two SMGW IDs name the same gateway (text or label form)."""
    try:
        return SmgwId.parse(a).text == SmgwId.parse(b).text
    except InvalidValue:
        return a.strip().upper() == b.strip().upper()


def same_server_id(a: str | ServerId, b: str | ServerId) -> bool:
    """Whether two meter server IDs are the same (DIN text or hex form)."""
    def norm(value: str | ServerId) -> str:
        if isinstance(value, ServerId):
            return value.hex
        try:
            return ServerId.parse(value, strict=False).hex
        except InvalidValue:
            return value.strip().lower()

    return norm(a) == norm(b)


def check_gateway_identity(order: WorkOrder, seen: str, *, source: Text = GATEWAY_HAN) -> None:
    """Stop unless the gateway that answers is the one the work order names."""
    if not same_smgw_id(order.smgw_id.text, seen):
        raise IdentityMismatch(Text("Wrong gateway", "Falsches Gateway"), order.smgw_id.text,
                               seen, source, field="smgw_id")


def check_meter_identity(expected: ExpectedMeter | str, seen: str, *, source: Text,
                         field: str = "server_id") -> None:
    """Stop unless the meter read (e.g. optically) is the one the work order names."""
    name = expected.server_id_text if isinstance(expected, ExpectedMeter) else expected
    if not same_server_id(name, seen):
        raise IdentityMismatch(Text("Wrong meter", "Falscher Zähler"), name, seen, source,
                               field=field)


def check_meter_listed(expected: ExpectedMeter | str, listed: Sequence[str], *,
                       source: Text = GATEWAY_LIST) -> None:
    """Stop unless the gateway lists the meter of the work order."""
    name = expected.server_id_text if isinstance(expected, ExpectedMeter) else expected
    if any(same_server_id(name, other) for other in listed):
        return
    shown = ", ".join(listed) if listed else "no meter"
    shown_de = ", ".join(listed) if listed else "keinen Zähler"
    raise SmgwctError(
        Text(f"Meter not at the gateway: the work order names {name}, but {source.en} holds "
             f"{shown}.",
             f"Zähler nicht am Gateway: der Auftrag nennt {name}, aber {source.de} enthält "
             f"{shown_de}."),
        field="server_id",
        hint=Text("Check the server ID on the meter's label against the work order; the GWA "
                  "has to create the meter profile (meter change or installation) before the "
                  "meter can be paired.",
                  "Vergleichen Sie die Server-ID auf dem Typschild mit dem Auftrag; der GWA muss "
                  "das Zählerprofil anlegen (Zählerwechsel oder Installation), bevor der Zähler "
                  "gepairt werden kann."),
    )


def expected_meters(order: WorkOrder, roles: Sequence[MeterRole] = (MeterRole.NEW,
                                                                     MeterRole.EXISTING)
                    ) -> list[ExpectedMeter]:
    """The work order's meters with one of ``roles`` (default: those that stay installed)."""
    return [m for m in order.meters if m.role in roles]


CHOOSE_METER = Text("Which meter?", "Welcher Zähler?")


async def choose_meter(ctx: StepContext, order: WorkOrder,
                       roles: Sequence[MeterRole] = (MeterRole.NEW, MeterRole.EXISTING)
                       ) -> ExpectedMeter:
    """The meter this run is about: ``server_id`` of the job data, the only candidate, or asked.

    A ``server_id`` that is not on the work order stops with both values."""
    candidates = expected_meters(order, roles)
    given = ctx.data.get("server_id")
    if isinstance(given, str) and given.strip():
        for meter in order.meters:
            if same_server_id(meter.server_id_text, given):
                return meter
        raise IdentityMismatch(Text("Meter not on the work order",
                                    "Zähler nicht im Auftrag"),
                               describe_meters(order), given.strip(),
                               Text("the job data", "die Auftragsdaten"), field="server_id")
    if not candidates:
        raise SmgwctError(
            Text(f"The work order {order.job_id} names no meter for this flow.",
                 f"Der Auftrag {order.job_id} nennt keinen Zähler für diesen Ablauf."),
            field="meters",
            hint=Text("Ask the back office for a work order with the meter.",
                      "Fordern Sie einen Auftrag mit dem Zähler an."))
    if len(candidates) == 1:
        return candidates[0]
    options = [(m.server_id_text, Text(f"{m.server_id_text} ({m.role.title.en})",
                                       f"{m.server_id_text} ({m.role.title.de})"))
               for m in candidates]
    key = await ctx.ui.choose(CHOOSE_METER, options)
    return next(m for m in candidates if m.server_id_text == key)


async def read_meter_optically(ctx: StepContext, *, seconds: float = 10.0) -> Any:
    """Read the meter through the read head of the context (an ``OpticalSnapshot``)."""
    from app.transports.optical import OpticalLink

    app = app_context(ctx)
    if app.optical is None:
        raise ConfigurationError(
            Text("No optical read head is set up.", "Es ist kein optischer Lesekopf "
                 "eingerichtet."),
            field="optical_port",
            hint=Text("Choose the read head's port in the connection settings.",
                      "Wählen Sie den Anschluss des Lesekopfs in den Verbindungseinstellungen."))
    ctx.progress(None, Text("Reading the meter through the optical interface…",
                            "Zähler wird über die optische Schnittstelle gelesen…"))
    link = OpticalLink(app.optical.port)
    protocol = app.optical.protocol if app.optical.protocol in ("auto", "sml", "iec") else "auto"
    app.update_link(Link.OPTICAL, state=LinkState.CONNECTING, peer=None, fingerprint=None,
                    last_error=None)
    try:
        snapshot = await link.read(protocol, seconds, max_frames=2,  # type: ignore[arg-type]
                                   on_status=lambda text: ctx.progress(None, text))
    except SmgwctError as exc:
        app.update_link(Link.OPTICAL, state=LinkState.FAILED, last_error=exc.message)
        raise
    except BaseException:  # cancelled or timed out: nothing is known about the link
        app.update_link(Link.OPTICAL, state=LinkState.UNKNOWN)
        raise
    report_optical_link(app, snapshot)
    sid = snapshot.identity.server_id
    ctx.trace("optical", "rx", f"server_id={None if sid is None else sid.text or sid.hex} "
                               f"source={snapshot.source}")
    return snapshot


def report_optical_link(app: AppContext, snapshot: Any) -> None:
    """The read head's link status after a successful read (Lesekopf): connected to the meter
    that answered (server ID, manufacturer, public key fingerprint), with the line's hint when
    telegrams were damaged. (A read that fails raises; the caller reports that.)"""
    from app.transports.optical import public_key_fingerprint

    status = snapshot.status
    identity = snapshot.identity
    sid = identity.server_id
    peer = None if sid is None else sid.display
    if peer and identity.manufacturer:
        peer = f"{peer} ({identity.manufacturer})"
    key = identity.public_key
    app.update_link(Link.OPTICAL, state=LinkState.CONNECTED, peer=peer,
                    fingerprint=public_key_fingerprint(key) if key else None,
                    last_error=status.hint if status.noisy else None)


# -- key material ---------------------------------------------------------------------------------


def _key_name(ref: str) -> str:
    from app.security.secrets import secret_key

    return secret_key(KEY_SECRET_KIND, re.sub(r"[/\\]+", "_", ref.strip()))


def _parse_key(text: str) -> bytes:
    clean = "".join(text.split()).replace(":", "")
    try:
        key = bytes.fromhex(clean)
    except ValueError:
        key = b""
    if len(key) != 16:
        raise InvalidValue(
            Text("Key M has 16 bytes: 32 hex digits as printed on the meter's key sheet.",
                 "Schlüssel M hat 16 Bytes: 32 Hex-Ziffern wie auf dem Schlüsselblatt des "
                 "Zählers."), field="key_m")
    return key


async def meter_key(ctx: StepContext, meter: ExpectedMeter) -> tuple[bytes, str]:
    """The initial key M of ``meter`` and where it came from (``demo``, ``keyring``, ``entered``).

    ``demo:…`` references resolve to the embedded default's key only in demo mode."""
    app = app_context(ctx)
    ref = meter.key_ref
    sid = meter.server_id_text
    if ref and ref.startswith("demo:"):
        if app.demo is None:
            raise ConfigurationError(
                Text(f"The work order refers to demo key material ({ref}) for meter {sid}.",
                     f"Der Auftrag verweist für Zähler {sid} auf Demo-Schlüsselmaterial "
                     f"({ref})."),
                field="key_ref",
                hint=Text("Demo keys exist only in demo mode: ask the back office for the "
                          "meter's real key reference.",
                          "Demo-Schlüssel gibt es nur im Demo-Modus: fordern Sie die echte "
                          "Schlüsselreferenz des Zählers an."))
        from app.processes.micro.demo import demo_meter_key

        return demo_meter_key(meter.server_id), "demo"
    if ref:
        from app.processes.flows.han_common import secret_store
        from app.security.secrets import SecretStoreUnavailable

        store = secret_store(app)
        stored = None
        if store is not None:
            with contextlib.suppress(SecretStoreUnavailable):
                stored = store.get(_key_name(ref))
        if stored is not None:
            try:
                return _parse_key(stored), "keyring"
            except InvalidValue:
                raise ConfigurationError(
                    Text(f"The keyring entry {_key_name(ref)} does not hold a key M.",
                         f"Der Schlüsselbund-Eintrag {_key_name(ref)} enthält keinen "
                         "Schlüssel M."),
                    field="key_ref",
                    hint=Text("Import the meter's key sheet again.",
                              "Importieren Sie das Schlüsselblatt des Zählers erneut.")
                ) from None
    prompt = Text(f"Key M of meter {sid} (key sheet {ref or 'not named in the work order'})",
                  f"Schlüssel M des Zählers {sid} (Schlüsselblatt "
                  f"{ref or 'im Auftrag nicht genannt'})")
    text = await ctx.ui.enter_value(prompt, validator=_parse_key, secret=True)
    return _parse_key(text), "entered"


__all__ = [
    "CHOOSE_METER",
    "GATEWAY_HAN",
    "GATEWAY_LIST",
    "JOB_STORE_EXTRA",
    "KEY_SECRET_KIND",
    "METER_OPTICAL",
    "IdentityMismatch",
    "add_note",
    "check_gateway_identity",
    "check_meter_identity",
    "check_meter_listed",
    "choose_meter",
    "describe_meters",
    "evidence_line",
    "expected_meters",
    "identify_gateway",
    "load_job",
    "meters_with_roles",
    "meter_key",
    "no_work_order",
    "open_job_store",
    "read_meter_optically",
    "record_certificate",
    "record_device",
    "record_gateway",
    "record_meter",
    "record_reading",
    "record_seal",
    "report_optical_link",
    "same_server_id",
    "same_smgw_id",
    "work_order",
]
