"""The virtual SMGW's state as its WAN side changes it: projections onto :class:`SmgwState`.

Helpers that act on the gateway state shared with the HAN side (and belong into
``app/sim/smgw/state.py`` once its owner takes them over): the physical LMN with its keys, the
projection of meter and evaluation profiles onto the gateway's meters and TAF profiles, the
certificate switch at handover, the operating state of ``deviceInfo``, the profiles a delivered
gateway holds, and the system log IDs of the WAN side.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.domain import LogicalName, Obis, ServerId
from app.errors import InvalidValue
from app.processes.micro.demo import demo_meter_key
from app.protocols.admin import (
    Address,
    AddressPurpose,
    BillingEvaluationProfile,
    BillingPeriod,
    CommunicationProfile,
    DeviceType,
    EvaluatedMeter,
    LmnComType,
    LmnInterface,
    MeterProfile,
    NonBillingEvaluationProfile,
    OperatingState,
    PeerRole,
    Profile,
    ProfileKind,
    to_xml,
)
from app.protocols.admin.catalog import BILLING_TAFS, NON_BILLING_TAFS, PROFILE_CLASSES
from app.sim.smgw.state import (
    BillingPeriod as StateBillingPeriod,
)
from app.sim.smgw.state import (
    CertificateState,
    EvaluationProfile,
    GatewayCertificate,
    LmnMeter,
    SecureState,
    SmgwState,
    TafState,
)

EvaluationAdmin = BillingEvaluationProfile | NonBillingEvaluationProfile


class WanLog(enum.IntEnum):
    """System log entries of the WAN side (the virtual SMGW's own numbering, cf. ``logs.Event``)."""

    CERTIFICATES_OPERATIONAL = 10020
    CHANNEL_FAILED = 11003
    WAKE_UP_ACCEPTED = 11010
    WAKE_UP_REJECTED = 11011
    CONTENT_REJECTED = 11012
    REQUEST_CARRIED_OUT = 11020
    REQUEST_REPEATED = 11021
    REQUEST_REFUSED = 11022
    EVENTS_DELIVERED = 11030
    METER_PAIRED = 14010
    PAIRING_REFUSED = 14011
    CRYPTO_RESET = 14012
    METER_DETECTED = 14013



@dataclass
class LmnEnvironment:
    """What is physically on the LMN: meters (also unconfigured ones), their key M, faults.

    ``keys`` maps a server ID to its initial key M; a meter not listed uses the demo key
    (:func:`~app.processes.micro.demo.demo_meter_key`), ``None`` means it has no key material.
    ``pairing_rejected`` makes those meters answer FE 09 (a fault the scenario injects).
    """

    meters: dict[ServerId, LmnMeter] = field(default_factory=dict)
    keys: dict[ServerId, bytes | None] = field(default_factory=dict)
    pairing_rejected: frozenset[ServerId] = frozenset()
    tls_fingerprints: dict[ServerId, str] = field(default_factory=dict)

    def key_of(self, server_id: ServerId) -> bytes | None:
        return self.keys[server_id] if server_id in self.keys else demo_meter_key(server_id)


def operating_state(state: SmgwState) -> OperatingState:
    """The ``operatingState`` of deviceInfo: secure states first, then delivery or normal."""
    secure = state.secure_states()
    for s, name in ((SecureState.BOOT, OperatingState.SECURE_STATE_BOOT),
                    (SecureState.CONNECTIVITY, OperatingState.SECURE_STATE_CONNECTIVITY),
                    (SecureState.APPLICATION, OperatingState.SECURE_STATE_APPLICATION),
                    (SecureState.MEASUREMENT, OperatingState.SECURE_STATE_MEASUREMENT)):
        if s in secure:
            return name
    if state.wan_certificate_state is CertificateState.GUETESIEGEL:
        return OperatingState.DELIVERY
    return OperatingState.NORMAL



def project_meter(state: SmgwState, lmn: LmnEnvironment, profile: MeterProfile) -> None:
    """Make the meter of ``profile`` one of the gateway's LMN meters."""
    meter = state.meter(profile.server_id)
    if meter is None:
        meter = lmn.meters.get(profile.server_id) or LmnMeter(profile.server_id, paired=False,
                                                              present=False)
        lmn.meters.setdefault(profile.server_id, meter)
        state.meters.append(meter)
        meter.anchor(state.clock.now())
        if meter.since is None:  # wired in now: the gateway reads it from this moment on
            meter.since = state.now()
    if profile.hdlc_address is not None:
        meter.hdlc_address = profile.hdlc_address


def remove_meter(state: SmgwState, server_id: ServerId) -> None:
    state.meters[:] = [m for m in state.meters if m.server_id != server_id]


def _taf_state(valid_from: dt.datetime, valid_until: dt.datetime | None, now: dt.datetime
               ) -> TafState:
    if valid_until is not None and valid_until <= now:
        return TafState.ARCHIVE
    return TafState.READY if valid_from > now else TafState.RUNNING


def project_evaluation(state: SmgwState, profile: EvaluationAdmin) -> None:
    """Create or replace the gateway's TAF profile for ``profile`` (HAN ``user-info``)."""
    channels: list[Obis] = []
    for m in profile.meters:
        channels.extend(o for o in m.channels if o not in channels)
    existing = next((p for p in state.profiles if p.usage_point_id == profile.id.text), None)
    billing = isinstance(profile, BillingEvaluationProfile)
    new = EvaluationProfile(
        usage_point_id=profile.id.text,
        name=profile.name or "",
        taf_number=profile.taf,
        taf_state=_taf_state(profile.valid_from, profile.valid_until, state.now()),
        meters=[m.server_id for m in profile.meters],
        channels=channels,
        start=profile.valid_from,
        end=profile.valid_until,
        delivery_id=profile.receiving_emt.instance,
        metering_point_id=profile.metering_point_id or "",
        registration_period=profile.registration_period_seconds,
        billing_periods=(existing.billing_periods if existing is not None
                         else [StateBillingPeriod(profile.valid_from)] if billing else []),
        on_demand=profile.taf == 6,
    )
    if existing is None:
        state.profiles.append(new)
    else:
        state.profiles[state.profiles.index(existing)] = new


def remove_evaluation(state: SmgwState, usage_point_id: str) -> None:
    state.profiles[:] = [p for p in state.profiles if p.usage_point_id != usage_point_id]


def activate_operational_certificates(state: SmgwState) -> None:
    """Gütesiegel -> Wirkzertifikat for the WAN TLS, SIG and ENC certificates (CONEXA: SIG
    index 0 stays the Gütesiegel certificate, the operational one gets the next index)."""
    updated: list[GatewayCertificate] = []
    sig_index = max((c.index for c in state.certificates if c.role == "wan_sig"), default=-1)
    new_sig: GatewayCertificate | None = None
    for cert in state.certificates:
        if cert.role in ("wan_tls", "wan_enc") and cert.state is CertificateState.GUETESIEGEL:
            updated.append(dataclasses.replace(cert, state=CertificateState.WIRKZERTIFIKAT))
            continue
        if (cert.role == "wan_sig" and cert.state is CertificateState.GUETESIEGEL
                and cert.index == sig_index):
            new_sig = GatewayCertificate("wan_sig", cert.pem, CertificateState.WIRKZERTIFIKAT,
                                         sig_index + 1)
        updated.append(cert)
    if new_sig is not None:
        updated.append(new_sig)
    state.certificates[:] = updated


# --- what a delivered gateway holds ------------------------------------------------------------


def delivered_meter_profile(meter: LmnMeter) -> MeterProfile:
    """The meter profile a delivered gateway holds for a scenario meter."""
    capture = tuple(r.obis for r in meter.registers)[:64] or (Obis.parse("1-0:1.8.0"),)
    return MeterProfile(
        MeterProfile.id_for(meter.server_id), 1, meter.server_id, DeviceType.ELECTRICITY, True,
        900, LmnInterface.WIRED, LmnComType.TLS, capture,
        hdlc_address=meter.hdlc_address if meter.hdlc_address and meter.hdlc_address >= 16
        else None,
    )


def delivered_evaluation_profile(tp: EvaluationProfile) -> Profile | None:
    """An admin profile for a scenario TAF profile, or None if it cannot be represented."""
    try:
        pid = LogicalName.parse(tp.usage_point_id)
        emt = LogicalName.parse(
            f"{PROFILE_CLASSES[ProfileKind.COMMUNICATION].class_obis}.emt-"
            f"{tp.delivery_id or 'unknown'}.sm")
        meters = tuple(EvaluatedMeter(sid, tuple(tp.channels)) for sid in tp.meters)
        if tp.taf_number in BILLING_TAFS:
            profile: Profile = BillingEvaluationProfile(
                pid, 1, tp.taf_number, tp.metering_point_id, emt, tp.registration_period,
                BillingPeriod.MONTHLY, tp.start, False, meters, name=tp.name or None,
                valid_until=tp.end)
        elif tp.taf_number in NON_BILLING_TAFS:
            profile = NonBillingEvaluationProfile(
                pid, 1, tp.taf_number, emt, tp.registration_period, tp.start, meters,
                metering_point_id=tp.metering_point_id or None, name=tp.name or None,
                valid_until=tp.end)
        else:
            return None
        to_xml(profile)  # validate: a scenario value outside the schema keeps it unmanaged
    except (InvalidValue, ValueError):
        return None
    return profile


def delivered_emt_profile(emt: LogicalName, gwa: CommunicationProfile) -> CommunicationProfile:
    """The communication profile of the EMT (externer Marktteilnehmer, ch. 6.4.1) that delivered
    evaluation profiles send to (``receivingEmt``): the demo EMT shares the GWA's certificates
    and has a data address under the reserved ``.invalid`` domain (nothing is sent there)."""
    name = emt.instance.removeprefix("emt-") or emt.instance
    return CommunicationProfile(
        emt, 1, PeerRole.EMT, f"EMT {name}",
        (Address(AddressPurpose.DATA, f"https://emt-{name}.invalid/smgw/in"),),
        gwa.tls_fingerprint, gwa.sig_certificate, gwa.enc_certificate, 0, 600, 3600)


def missing_emt_profiles(profiles: Iterable[Profile], known: set[LogicalName],
                         gwa: CommunicationProfile | None) -> list[CommunicationProfile]:
    """One EMT profile per ``receivingEmt`` of the evaluation profiles among ``profiles`` that is
    not in ``known`` (the gateway's communication profiles), so that the evaluation profiles can
    be written again."""
    if gwa is None:
        return []
    wanted: list[LogicalName] = []
    for p in profiles:
        if not isinstance(p, BillingEvaluationProfile | NonBillingEvaluationProfile):
            continue
        if p.receiving_emt not in known and p.receiving_emt not in wanted:
            wanted.append(p.receiving_emt)
    return [delivered_emt_profile(emt, gwa) for emt in wanted]
