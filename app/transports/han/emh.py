"""HAN adapter for EMH CASA gateways: JSON over ``GET /json/...`` with HTTP Digest.

Paths (``docs/han-ppc-emh.md``): ``/json/systeminformations`` (firmware ``"version / hash"``
and identity), ``/json/metering/derived[/{id}]`` (contracts with ``sensor_domains``),
``/json/metering/origin/[{meter}/extended|daily]`` (meters and values), ``/json/certificates``,
``/json/conlogbook/`` and ``/json/syslogbook/`` (logs), ``POST /json/selftest``. The gateway
speaks HTTP/1.1 only, which is what this client sends. There is no logout: every request carries
Digest; the session is the Digest nonce.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import quote, urlencode

from app.domain import LogicalName, Obis, SmgwId
from app.domain.local_time import as_utc
from app.errors import InvalidValue, Text
from app.transports.han.base import (
    DEFAULT_TIMEOUT,
    CertificateRecord,
    EvaluationProfileInfo,
    FirmwareComponent,
    GatewayIdentity,
    HanAdapter,
    HanCredentials,
    LogEntry,
    LogKind,
    MeterInfo,
    MeterValue,
    Progress,
    SelfTestResult,
    check_log_access,
    report,
)
from app.transports.han.errors import (
    HanAccessDenied,
    HanLockedOut,
    HanNotEnabled,
    HanProtocolError,
    HanSessionBusy,
)
from app.transports.han.http import DEFAULT_MAX_BODY, HanHttpClient, HanResponse
from app.transports.han.json_common import (
    as_int,
    as_list,
    as_object,
    as_text,
    countdown_seconds,
    error_code,
    json_body,
    opt_int,
    opt_text,
    read_log_pages,
    self_test_result,
    server_id_text,
    unexpected,
    wrong_type,
)
from app.transports.han.pinning import PinnedCertificate, PinStore, to_pem
from app.transports.han.state_code import GatewayState, decode_state

#: Entries per log request.
LOG_PAGE = 500
LEVELS = {"INFO": 1, "INFORMATION": 1, "WARNING": 2, "WARN": 2, "ERROR": 3, "ALERT": 4,
          "FATAL": 4}


# --- times (readers of app.transports.han.json_common for the rest) ------------------------------


def _opt_str(value: Any, path: str) -> str | None:
    """Optional text; CASA sends ``""`` for "none"."""
    return opt_text(value, path, blank_is_none=True)


def _time(value: Any, path: str) -> dt.datetime:
    text = as_text(value, path).strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace("z", "Z"))
        if parsed.tzinfo is None:
            raise wrong_type(path, "a date/time with its UTC offset", value)
        return parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError) as exc:
        raise wrong_type(path, "a date/time like 2026-03-02T10:30:00+01:00", value) from exc


def _epoch(value: Any, path: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromtimestamp(as_int(value, path), dt.UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise wrong_type(path, "seconds since 1970", value) from exc


def split_firmware(text: str) -> tuple[str, str]:
    """``"31100000__X026b / ef50..."`` -> ``(version, hash)``; the hash may be missing."""
    version, _, digest = text.partition("/")
    return version.strip(), digest.strip().lower()


def parse_value(item: Any, path: str, captured: dt.datetime | None) -> MeterValue:
    """One entry of ``values``: ``logical_name`` (``<obis hex>.<meter>.sm``), ``value`` (text),
    ``scaler``, ``unit``."""
    obj = as_object(item, path)
    name = as_text(obj.get("logical_name"), f"{path}.logical_name")
    try:
        obis = LogicalName.parse(name, field=f"{path}.logical_name").obis
    except InvalidValue:
        try:
            obis = Obis.parse(name.split(".", 1)[0])
        except InvalidValue as exc:
            raise HanProtocolError(exc.message, field=f"{path}.logical_name") from exc
    return MeterValue(obis.notation, obis.hex, as_int(obj.get("value"), f"{path}.value"),
                      opt_int(obj.get("scaler"), f"{path}.scaler") or 0,
                      opt_int(obj.get("unit"), f"{path}.unit"), captured)


def parse_values(payload: Any, path: str) -> list[MeterValue]:
    """An ``extended`` answer: ``capture_time`` and ``values``."""
    obj = as_object(payload, path)
    stamp = obj.get("capture_time", obj.get("timestamp"))
    captured = _time(stamp, f"{path}.capture_time") if stamp is not None else None
    return [parse_value(item, f"{path}.values[{i}]", captured)
            for i, item in enumerate(as_list(obj.get("values", []), f"{path}.values"))]


def parse_log_entry(kind: LogKind, item: Any, path: str) -> LogEntry:
    obj = as_object(item, path)
    level_raw = obj.get("level")
    level: int | None
    if isinstance(level_raw, str) and level_raw.strip().upper() in LEVELS:
        level = LEVELS[level_raw.strip().upper()]
    else:
        level = opt_int(level_raw, f"{path}.level")
    outcome = _opt_str(obj.get("outcome"), f"{path}.outcome")
    return LogEntry(
        kind=kind,
        index=as_int(obj.get("record_number", obj.get("index")), f"{path}.record_number"),
        time=_time(obj.get("timestamp", obj.get("time")), f"{path}.timestamp"),
        level=level,
        event_id=_opt_str(obj.get("event_id"), f"{path}.event_id"),
        event_sub_id=_opt_str(obj.get("event_sub_id"), f"{path}.event_sub_id"),
        message=_opt_str(obj.get("message"), f"{path}.message") or "",
        subject=_opt_str(obj.get("subject"), f"{path}.subject"),
        outcome=outcome.lower() if outcome else None,
        user=_opt_str(obj.get("user"), f"{path}.user"),
        vendor_id=_opt_str(obj.get("vendor_id"), f"{path}.vendor_id"),
        version=_opt_str(obj.get("version"), f"{path}.version"),
        raw=obj,
    )


class EmhAdapter(HanAdapter):
    """EMH CASA 1.1 (consumer and service technician accounts)."""

    vendor = "emh"

    def __init__(
        self,
        host: str,
        port: int = 443,
        *,
        credentials: HanCredentials,
        pin: PinnedCertificate,
        timeout: float = DEFAULT_TIMEOUT,
        digest_algorithm: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        pin_store: PinStore | None = None,
    ) -> None:
        """``digest_algorithm``: ``None`` honours the gateway's challenge (CASA offers SHA-256
        and MD5). ``pin_store``: binds the SMGW ID learnt by :meth:`identify` to the pin."""
        super().__init__(timeout=timeout)
        self.credentials = credentials
        self.http = HanHttpClient(host, port, pin=pin, credentials=credentials,
                                  digest_algorithm=digest_algorithm, max_body_bytes=max_body_bytes)
        self.pin_store = pin_store
        self.system_information: dict[str, Any] | None = None

    @property
    def peer_certificate_sha256(self) -> str | None:
        return self.http.peer_sha256

    async def close(self) -> None:
        await self.http.close()

    # -- HTTP level -------------------------------------------------------------------------------

    def _refusal(self, response: HanResponse, context: str) -> Exception:
        error = error_code(response)
        seconds = countdown_seconds(response)
        text = response.text().lower()
        if "login-locked" in error or (not error and "locked" in text):
            return HanLockedOut(seconds)
        if "session" in error:
            return HanSessionBusy(seconds)
        if "han-disabled" in error or "not enabled" in text:
            return HanNotEnabled()
        return HanAccessDenied(Text(f"use '{context}'", f"'{context}' verwenden"))

    async def get(self, path: str, context: str, *, optional: bool = False) -> Any:
        """GET ``path`` and return its JSON; ``None`` for a 404 when ``optional``."""
        response = await self.http.request("GET", path)
        return self._json(response, context, optional=optional)

    def _json(self, response: HanResponse, context: str, *, optional: bool = False) -> Any:
        if response.status == 403:
            raise self._refusal(response, context)
        if response.status == 404 and optional:
            return None
        if response.status != 200:
            raise unexpected(response, context)
        return json_body(response, context)

    async def _connect(self, progress: Progress | None) -> None:
        report(progress, 0.0, Text("Connecting to the gateway", "Verbindung zum Gateway"))
        self.system_information = as_object(
            await self.get("/json/systeminformations", "systeminformations"),
            "systeminformations")
        report(progress, 1.0, Text("Logged in", "Angemeldet"))

    # -- identity ---------------------------------------------------------------------------------

    def _parse_identity(self, info: dict[str, Any], certificates: list[CertificateRecord]
                        ) -> GatewayIdentity:
        where = "systeminformations"
        try:
            smgw_id = SmgwId.parse(as_text(info.get("smgw_id"), f"{where}.smgw_id")).text
        except InvalidValue as exc:
            raise HanProtocolError(exc.message, field=f"{where}.smgw_id") from exc
        try:
            state: GatewayState = decode_state(
                as_text(info.get("operating_state"), f"{where}.operating_state"),
                field=f"{where}.operating_state")
        except InvalidValue as exc:
            raise HanProtocolError(exc.message, field=f"{where}.operating_state") from exc
        firmware: list[FirmwareComponent] = []
        components = info.get("firmware_components")
        if components is not None:
            for i, item in enumerate(as_list(components, f"{where}.firmware_components")):
                path = f"{where}.firmware_components[{i}]"
                fw = as_object(item, path)
                firmware.append(FirmwareComponent(
                    as_text(fw.get("component", "firmware"), f"{path}.component"),
                    as_text(fw.get("version"), f"{path}.version"),
                    as_text(fw.get("hash", ""), f"{path}.hash").lower()))
        else:
            version, digest = split_firmware(as_text(info.get("firmwareversion"),
                                                  f"{where}.firmwareversion"))
            firmware.append(FirmwareComponent("firmware", version, digest))
        return GatewayIdentity(
            vendor=self.vendor, smgw_id=smgw_id, firmware=tuple(firmware), state=state,
            time=_time(info.get("systemtime"), f"{where}.systemtime"),
            certificates=tuple(certificates),
            model=_opt_str(info.get("model"), f"{where}.model"),
        )

    def _han_certificate(self) -> CertificateRecord:
        return CertificateRecord.from_pem("han_tls", self.http.pin.pem)

    async def certificates(self) -> list[CertificateRecord]:
        """The gateway's certificates; the HAN TLS certificate of this connection if the
        gateway has no certificate list."""
        data = await self.get("/json/certificates", "certificates", optional=True)
        if data is None:
            return [self._han_certificate()]
        out = []
        for i, item in enumerate(as_list(data, "certificates")):
            path = f"certificates[{i}]"
            obj = as_object(item, path)
            text = as_text(obj.get("certificate"), f"{path}.certificate").strip()
            role = as_text(obj.get("role"), f"{path}.role")
            state = _opt_str(obj.get("state"), f"{path}.state")
            index = opt_int(obj.get("index"), f"{path}.index") if role == "wan_sig" else None
            try:
                out.append(CertificateRecord.from_pem(role, to_pem(text.encode("ascii")),
                                                      state=state, index=index))
            except (ValueError, UnicodeEncodeError) as exc:
                raise wrong_type(f"{path}.certificate", "a PEM certificate", "unreadable data") \
                    from exc
        if not any(c.role == "han_tls" for c in out):
            out.insert(0, self._han_certificate())
        return out

    async def _identify(self, progress: Progress | None) -> GatewayIdentity:
        report(progress, None, Text("Reading gateway data", "Gateway-Daten werden gelesen"))
        info = as_object(await self.get("/json/systeminformations", "systeminformations"),
                         "systeminformations")
        self.system_information = info
        identity = self._parse_identity(info, await self.certificates())
        if self.pin_store is not None:
            self.pin_store.bind(self.http.pin, identity.smgw_id)
        return identity

    # -- contracts and meters ---------------------------------------------------------------------

    async def profiles(self) -> list[EvaluationProfileInfo]:
        """The account's contracts (``/json/metering/derived``)."""
        ids = as_list(await self.get("/json/metering/derived", "derived"), "derived")
        out = []
        for i, raw_id in enumerate(ids):
            contract_id = as_text(raw_id, f"derived[{i}]")
            path = f"derived/{contract_id}"
            obj = as_object(
                await self.get(f"/json/metering/derived/{quote(contract_id, safe='')}", path),
                path)
            taf = _opt_str(obj.get("taf_type"), f"{path}.taf_type")
            match = re.search(r"(\d+)", taf or "")
            meters = [server_id_text(str(m))[0]
                      for m in as_list(obj.get("sensor_domains", []), f"{path}.sensor_domains")]
            out.append(EvaluationProfileInfo(
                usage_point_id=contract_id,
                name=_opt_str(obj.get("taf_name"), f"{path}.taf_name"),
                taf_number=int(match.group(1)) if match else None,
                taf_state=_opt_str(obj.get("taf_state"), f"{path}.taf_state"),
                meters=tuple(meters),
                metering_point_id=_opt_str(obj.get("metering_point_id"),
                                           f"{path}.metering_point_id"),
                start=_epoch(obj.get("validity_start"), f"{path}.validity_start"),
                end=_epoch(obj.get("validity_end"), f"{path}.validity_end"),
            ))
        return out

    async def meter_ids(self) -> list[str]:
        """Meter ids as the gateway names them (``/json/metering/origin/``)."""
        items = as_list(await self.get("/json/metering/origin/", "origin"), "origin")
        return [as_text(item, f"origin[{i}]") for i, item in enumerate(items)]

    async def current_values(self, meter_id: str) -> list[MeterValue] | None:
        """Current values of one meter; ``None`` if the account may not read values."""
        path = f"origin/{meter_id}/extended"
        try:
            data = await self.get(f"/json/metering/origin/{quote(meter_id, safe='')}/extended",
                                  path)
        except HanAccessDenied:
            return None
        return parse_values(data, path)

    async def daily_values(self, meter_id: str, days: int = 7) -> list[MeterValue]:
        """Energy registers at local midnight of the last ``days`` days, oldest first."""
        path = f"origin/{meter_id}/daily"
        data = await self.get(f"/json/metering/origin/{quote(meter_id, safe='')}/daily?"
                              + urlencode({"days": days}), path)
        out: list[MeterValue] = []
        for i, day in enumerate(as_list(data, path)):
            out.extend(parse_values(day, f"{path}[{i}]"))
        return out

    async def _meters(self, progress: Progress | None) -> list[MeterInfo]:
        ids = await self.meter_ids()
        profiles = await self.profiles()
        out = []
        for n, meter_id in enumerate(ids):
            report(progress, n / max(1, len(ids)),
                   Text(f"Reading meter {meter_id}", f"Zähler {meter_id} wird gelesen"))
            text, hex_form = server_id_text(meter_id)
            values = await self.current_values(meter_id)
            out.append(MeterInfo(
                server_id=text, server_id_hex=hex_form,
                usage_points=tuple(p.usage_point_id for p in profiles if text in p.meters),
                values=tuple(sorted(values or (), key=lambda v: v.obis_hex)),
                values_available=values is not None,
            ))
        report(progress, 1.0, Text(f"{len(out)} meters", f"{len(out)} Zähler"))
        return out

    async def _profiles(self) -> list[EvaluationProfileInfo]:
        return await self.profiles()

    # -- logs -------------------------------------------------------------------------------------

    async def _logs(
        self,
        kind: LogKind,
        since: dt.datetime | None,
        until: dt.datetime | None,
        from_index: int | None,
        count: int | None,
        progress: Progress | None,
    ) -> list[LogEntry]:
        check_log_access(self.credentials.role, kind)
        path = "/json/syslogbook/" if kind is LogKind.SYSTEM else "/json/conlogbook/"
        context = "syslogbook" if kind is LogKind.SYSTEM else "conlogbook"

        async def fetch(page: int, next_index: int | None) -> list[LogEntry]:
            params: dict[str, int] = {"count": page}
            if next_index is not None:
                params["fromindex"] = next_index
            if since is not None:
                params["fromtime"] = int(as_utc(since).timestamp())
            if until is not None:
                params["totime"] = int(as_utc(until).timestamp())
            data = as_object(await self.get(path + "?" + urlencode(params), context), context)
            items = as_list(data.get("entries", []), f"{context}.entries")
            return [parse_log_entry(kind, item, f"{context}[{i}]")
                    for i, item in enumerate(items)]

        return await read_log_pages(fetch, page_size=LOG_PAGE, from_index=from_index,
                                    count=count, context=context, progress=progress)

    # -- self-test --------------------------------------------------------------------------------

    async def _self_test(self, progress: Progress | None) -> SelfTestResult:
        report(progress, None, Text("Requesting the self-test", "Selbsttest wird angefordert"))
        response = await self.http.request("POST", "/json/selftest", body=b"{}",
                                           content_type="application/json")
        return self_test_result(response, "selftest", self._refusal)
