"""HAN adapter for Theben CONEXA gateways: the ``IF_GW_CON`` JSON "M2M" interface.

``GET /smgw/m2m`` answers ``307`` with ``Location: /smgw/m2m/<user-id>/json``; every method is a
``POST`` of ``{"method": ...}`` with ``Content-Type: application/json`` (no charset) and an
explicit ``Content-Length`` to that endpoint. The answer carries the result under the method's
name (``{"method": "smgw-info", "smgw-info": {...}}``). Parsing is lenient where real firmware
varies (numbers as strings, ``billing-periods`` vs ``billingPeriods``, PEM or DER in hex) and
strict where it matters (types, identifiers, times). See ``docs/han.md``.
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

from yarl import URL

from app.domain import Obis, SmgwId
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
from app.transports.han.state_code import decode_state

ROOT_PATH = "/smgw/m2m"
#: Entries per ``log`` request, the documented maximum.
LOG_PAGE = 1500
#: CONEXA firmware may announce SHA-256 but verify only MD5: the vendor override.
DIGEST_OVERRIDE = "MD5"

# --- times and certificates (readers of app.transports.han.json_common for the rest) -------------


def _time(value: Any, path: str) -> dt.datetime:
    text = as_text(value, path).strip()
    try:
        if len(text) == 10:
            parsed = dt.datetime.fromisoformat(text + "T00:00:00")
        else:
            parsed = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise wrong_type(path, "a date/time like 2026-01-31T12:00:00Z", value) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _opt_time(value: Any, path: str) -> dt.datetime | None:
    return None if value in (None, "") else _time(value, path)


def xsd_time(moment: dt.datetime) -> str:
    """``2026-01-31T12:00:00Z`` (the gateway's XSD dateTime form, UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _certificate_bytes(value: Any, path: str) -> bytes:
    """Certificates come hex-encoded (PEM text or DER); accept PEM text as is."""
    text = as_text(value, path).strip()
    if text.startswith("-----BEGIN"):
        return text.encode("ascii")
    try:
        return binascii.unhexlify(re.sub(r"\s+", "", text))
    except (binascii.Error, ValueError) as exc:
        raise wrong_type(path, "a hex-encoded certificate", "text") from exc


def _record(role: str, data: bytes, path: str, *, state: str | None = None,
            index: int | None = None) -> CertificateRecord:
    try:
        return CertificateRecord.from_pem(role, to_pem(data), state=state, index=index)
    except ValueError as exc:
        raise wrong_type(path, "a certificate", "unreadable data") from exc


def parse_certificates(obj: dict[str, Any], path: str = "certificates") -> list[CertificateRecord]:
    """HAN TLS certificate (``han.tls``) and indexed WAN entries (``cert-index`` with ``sig``,
    ``sub-ca``, ...) wherever they sit in the object; index 0 is the Gütesiegel certificate."""
    out: list[CertificateRecord] = []
    han = obj.get("han")
    if isinstance(han, dict):
        for key, value in han.items():
            if isinstance(value, str):
                where = f"{path}.han.{key}"
                out.append(_record(f"han_{key.lower()}", _certificate_bytes(value, where), where))

    def walk(node: Any, where: str) -> Iterator[tuple[dict[str, Any], str]]:
        if isinstance(node, dict):
            if "cert-index" in node:
                yield node, where
                return
            for key, value in node.items():
                if where == path and key == "han":
                    continue
                yield from walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                yield from walk(item, f"{where}[{i}]")

    for entry, where in walk(obj, path):
        index = as_int(entry["cert-index"], f"{where}.cert-index")
        for key, value in entry.items():
            if key == "cert-index" or not isinstance(value, str):
                continue
            role = "sub_ca" if key.lower() == "sub-ca" else f"wan_{key.lower()}"
            state = None
            if role == "wan_sig":
                state = "guetesiegel" if index == 0 else "wirkzertifikat"
            record = _record(role, _certificate_bytes(value, f"{where}.{key}"), f"{where}.{key}",
                             state=state, index=index if role == "wan_sig" else None)
            if not any((r.role, r.sha256, r.index) == (record.role, record.sha256, record.index)
                       for r in out):
                out.append(record)
    return out


def parse_log_entry(kind: LogKind, item: Any, path: str) -> LogEntry:
    obj = as_object(item, path)
    index_value = obj.get("index", obj.get("record-number"))
    time_value = obj.get("time", obj.get("timestamp"))
    message = obj.get("message", obj.get("text", ""))
    return LogEntry(
        kind=kind,
        index=as_int(index_value, f"{path}.index"),
        time=_time(time_value, f"{path}.time"),
        level=opt_int(obj.get("level"), f"{path}.level"),
        event_id=opt_text(obj.get("event-id"), f"{path}.event-id"),
        event_sub_id=opt_text(obj.get("event-sub-id"), f"{path}.event-sub-id"),
        message=as_text(message, f"{path}.message") if message is not None else "",
        subject=opt_text(obj.get("subject-identity"), f"{path}.subject-identity"),
        outcome=opt_text(obj.get("outcome"), f"{path}.outcome"),
        user=opt_text(obj.get("user-identity"), f"{path}.user-identity"),
        vendor_id=opt_text(obj.get("vendor-id"), f"{path}.vendor-id"),
        version=opt_text(obj.get("version"), f"{path}.version"),
        raw=obj,
    )


def _log_items(payload: Any) -> list[Any]:
    """The entry list of a ``log`` answer: the list itself or the first list in the object."""
    if isinstance(payload, list):
        return payload
    obj = as_object(payload, "log")
    for key in ("entries", "log-entries", "log"):
        if isinstance(obj.get(key), list):
            return obj[key]
    for value in obj.values():
        if isinstance(value, list):
            return value
    if not obj:
        return []
    raise wrong_type("log", "a list of entries", payload)


class ThebenAdapter(HanAdapter):
    """Theben CONEXA (``IF_GW_CON`` consumer / ``IF_GW_SRV`` service technician accounts)."""

    vendor = "theben"

    def __init__(
        self,
        host: str,
        port: int = 443,
        *,
        credentials: HanCredentials,
        pin: PinnedCertificate,
        timeout: float = DEFAULT_TIMEOUT,
        digest_algorithm: str | None = DIGEST_OVERRIDE,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        pin_store: PinStore | None = None,
    ) -> None:
        """``digest_algorithm``: the vendor override (MD5); ``None`` honours the gateway's
        announcement. ``pin_store``: if given, the SMGW ID learnt by :meth:`identify` is checked
        against and bound to the pin."""
        super().__init__(timeout=timeout)
        self.credentials = credentials
        self.http = HanHttpClient(host, port, pin=pin, credentials=credentials,
                                  digest_algorithm=digest_algorithm, max_body_bytes=max_body_bytes)
        self.pin_store = pin_store
        self.endpoint: str | None = None
        self.api_version: str | None = None

    @property
    def peer_certificate_sha256(self) -> str | None:
        return self.http.peer_sha256

    async def close(self) -> None:
        await self.http.close()
        self.endpoint = None

    # -- HTTP level -------------------------------------------------------------------------------

    def _refusal(self, response: HanResponse, context: str) -> Exception:
        """Classify a 403: login lock, busy session, HAN not enabled, or not permitted."""
        text = response.text().lower()
        error = error_code(response)
        seconds = countdown_seconds(response)
        if "login-locked" in error or (not error and ("gesperrt" in text or "locked" in text)
                                       and context != "self-test"):
            return HanLockedOut(seconds)
        if "session" in error or (not error and "session" in text):
            return HanSessionBusy(seconds)
        if "han-disabled" in error or "not enabled" in text or "nicht freigeschaltet" in text:
            return HanNotEnabled()
        if context == "connect":
            return HanNotEnabled()
        return HanAccessDenied(Text(f"use '{context}'", f"'{context}' verwenden"))

    async def _connect(self, progress: Progress | None) -> None:
        report(progress, 0.0, Text("Connecting to the gateway", "Verbindung zum Gateway"))
        response = await self.http.request("GET", ROOT_PATH)
        if response.status == 403:
            raise self._refusal(response, context="connect")
        if response.status != 307:
            raise unexpected(response, "GET /smgw/m2m")
        location = response.headers.get("Location", "")
        self.endpoint = self._endpoint_path(location)
        report(progress, 1.0, Text("Logged in", "Angemeldet"))

    def _endpoint_path(self, location: str) -> str:
        """The user's endpoint path from ``Location``; refuses anything off this gateway."""
        text = location.strip()
        url = URL(text)
        same_place = not url.is_absolute() or (
            url.scheme == "https" and url.host == self.http.host and url.port == self.http.port
        )
        match = re.fullmatch(r"/smgw/m2m/[^/?#\s]+/json/?", url.path if url.is_absolute() else text)
        if not same_place or not match:
            raise HanProtocolError(
                Text(f"the gateway redirected to an unexpected place '{text[:80]}'.",
                     f"das Gateway hat auf eine unerwartete Adresse umgeleitet '{text[:80]}'."),
                field="Location",
            )
        return match.group(0)

    async def call(self, method: str, **params: Any) -> Any:
        """POST one M2M method; return the result object under the method's name."""
        if self.endpoint is None:
            await self._connect(None)
        assert self.endpoint is not None
        body = json.dumps({"method": method, **params}, separators=(",", ":")).encode("utf-8")
        response = await self.http.request("POST", self.endpoint, body=body,
                                           content_type="application/json")
        if response.status == 403:
            raise self._refusal(response, context=method)
        if response.status != 200:
            raise unexpected(response, method)
        root = as_object(json_body(response, method), method)
        version = root.get("version")
        if isinstance(version, (str, int)) and not isinstance(version, bool):
            self.api_version = str(version)
        echoed = root.get("method")
        if echoed is not None and echoed != method:
            raise wrong_type(f"{method}.method", f"'{method}'", echoed)
        if method not in root:
            raise wrong_type(method, f"an answer with the field '{method}'", None)
        return root[method]

    # -- methods ----------------------------------------------------------------------------------

    async def _identify(self, progress: Progress | None) -> GatewayIdentity:
        report(progress, None, Text("Reading gateway data", "Gateway-Daten werden gelesen"))
        info = as_object(await self.call("smgw-info"), "smgw-info")
        identity = self._parse_identity(info)
        if self.pin_store is not None:
            self.pin_store.bind(self.http.pin, identity.smgw_id)
        return identity

    def _parse_identity(self, info: dict[str, Any]) -> GatewayIdentity:
        raw_id = info.get("smgw-id")
        if not isinstance(raw_id, str):
            raise wrong_type("smgw-info.smgw-id", "text", raw_id)
        try:
            smgw_id = SmgwId.parse(raw_id).text
        except InvalidValue as exc:
            raise HanProtocolError(exc.message, field="smgw-info.smgw-id") from exc
        try:
            state = decode_state(as_text(info.get("smgw-state"), "smgw-info.smgw-state"),
                                 field="smgw-info.smgw-state")
        except InvalidValue as exc:
            raise HanProtocolError(exc.message, field="smgw-info.smgw-state") from exc
        firmware_raw = info.get("firmware-info", [])
        items = firmware_raw if isinstance(firmware_raw, list) else [firmware_raw]
        firmware = []
        for i, item in enumerate(items):
            where = f"smgw-info.firmware-info[{i}]"
            fw = as_object(item, where)
            firmware.append(FirmwareComponent(
                component=as_text(fw.get("component", "firmware"), f"{where}.component"),
                version=as_text(fw.get("version"), f"{where}.version"),
                hash=as_text(fw.get("hash", ""), f"{where}.hash").lower(),
            ))
        certificates = parse_certificates(as_object(info.get("certificates", {}),
                                               "smgw-info.certificates"))
        return GatewayIdentity(
            vendor=self.vendor,
            smgw_id=smgw_id,
            firmware=tuple(firmware),
            state=state,
            time=_time(info.get("smgw-time"), "smgw-info.smgw-time"),
            certificates=tuple(certificates),
            model=opt_text(info.get("model"), "smgw-info.model"),
            api_version=self.api_version,
        )

    async def profiles(self) -> list[EvaluationProfileInfo]:
        """The account's evaluation profiles (``user-info``)."""
        info = as_object(await self.call("user-info"), "user-info")
        out = []
        for i, item in enumerate(as_list(info.get("usage-points", []), "user-info.usage-points")):
            where = f"user-info.usage-points[{i}]"
            up = as_object(item, where)
            meters_raw = up.get("meter", up.get("meters", []))
            meters = []
            for j, meter in enumerate(as_list(meters_raw, f"{where}.meter")):
                value = meter.get("meter-id") if isinstance(meter, dict) else meter
                meters.append(server_id_text(as_text(value, f"{where}.meter[{j}].meter-id"))[0])
            out.append(EvaluationProfileInfo(
                usage_point_id=as_text(up.get("usage-point-id"), f"{where}.usage-point-id"),
                name=opt_text(up.get("usage-point-name"), f"{where}.usage-point-name"),
                taf_number=opt_int(up.get("taf-number"), f"{where}.taf-number"),
                taf_state=opt_text(up.get("taf-state"), f"{where}.taf-state"),
                meters=tuple(meters),
                metering_point_id=opt_text(up.get("metering-point-id"),
                                           f"{where}.metering-point-id"),
                start=_opt_time(up.get("start-time"), f"{where}.start-time"),
                end=_opt_time(up.get("end-time"), f"{where}.end-time"),
            ))
        return out

    async def _channels(self, usage_point_id: str) -> dict[str, tuple[int, int | None]]:
        """``obis hex -> (scaler, unit)`` of the ``origin`` database."""
        info = as_object(await self.call("usage-point-info", **{"usage-point-id": usage_point_id,
                                                           "database": "origin"}),
                    "usage-point-info")
        out: dict[str, tuple[int, int | None]] = {}
        for i, db in enumerate(as_list(info.get("databases", []), "usage-point-info.databases")):
            where = f"usage-point-info.databases[{i}]"
            db_obj = as_object(db, where)
            if db_obj.get("database", "origin") != "origin":
                continue
            for j, ch in enumerate(as_list(db_obj.get("channels", []), f"{where}.channels")):
                cw = f"{where}.channels[{j}]"
                ch_obj = as_object(ch, cw)
                obis = as_text(ch_obj.get("obis"), f"{cw}.obis").lower()
                out[obis] = (opt_int(ch_obj.get("scaler"), f"{cw}.scaler") or 0,
                             opt_int(ch_obj.get("unit"), f"{cw}.unit"))
        return out

    async def _last_values(self, usage_point_id: str,
                           channels: dict[str, tuple[int, int | None]]) -> list[MeterValue] | None:
        """Last reading per channel; ``None`` if the account may not read values."""
        try:
            data = await self.call("readings", **{"usage-point-id": usage_point_id,
                                                  "database": "origin", "last-reading": True})
        except HanAccessDenied:
            return None
        readings = as_object(data, "readings")
        values = []
        for i, ch in enumerate(as_list(readings.get("channels", []), "readings.channels")):
            where = f"readings.channels[{i}]"
            ch_obj = as_object(ch, where)
            obis_hex = as_text(ch_obj.get("obis"), f"{where}.obis").lower()
            rows = as_list(ch_obj.get("readings", []), f"{where}.readings")
            if not rows:
                continue
            parsed = []
            for j, row in enumerate(rows):
                rw = f"{where}.readings[{j}]"
                row_obj = as_object(row, rw)
                parsed.append((_opt_time(row_obj.get("capture-time"), f"{rw}.capture-time"),
                               as_int(row_obj.get("value"), f"{rw}.value")))
            oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
            captured, raw = max(parsed, key=lambda p: p[0] or oldest)
            scaler, unit = channels.get(obis_hex, (0, None))
            try:
                notation = Obis.parse(obis_hex).notation
            except InvalidValue as exc:
                raise HanProtocolError(exc.message, field=f"{where}.obis") from exc
            values.append(MeterValue(notation, obis_hex, raw, scaler, unit, captured))
        return values

    async def _meters(self, progress: Progress | None) -> list[MeterInfo]:
        profiles = await self.profiles()
        by_meter: dict[str, dict[str, Any]] = {}
        for n, profile in enumerate(profiles):
            report(progress, n / max(1, len(profiles)),
                   Text(f"Reading meters of {profile.usage_point_id}",
                        f"Zähler von {profile.usage_point_id} werden gelesen"))
            values: list[MeterValue] | None = []
            if len(profile.meters) == 1:
                channels = await self._channels(profile.usage_point_id)
                values = await self._last_values(profile.usage_point_id, channels)
            for meter in profile.meters:
                entry = by_meter.setdefault(meter, {"ups": [], "values": {}, "readable": True})
                entry["ups"].append(profile.usage_point_id)
                if values is None:
                    entry["readable"] = False
                    continue
                for value in values:
                    known = entry["values"].get(value.obis_hex)
                    if known is None or (value.captured and known.captured
                                         and value.captured > known.captured):
                        entry["values"][value.obis_hex] = value
        report(progress, 1.0, Text(f"{len(by_meter)} meters", f"{len(by_meter)} Zähler"))
        out = []
        for meter, entry in by_meter.items():
            text, hex_form = server_id_text(meter)
            out.append(MeterInfo(
                server_id=text, server_id_hex=hex_form, usage_points=tuple(entry["ups"]),
                values=tuple(sorted(entry["values"].values(), key=lambda v: v.obis_hex)),
                values_available=entry["readable"],
            ))
        return out

    async def _profiles(self) -> list[EvaluationProfileInfo]:
        return await self.profiles()

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

        async def fetch(page: int, next_index: int | None) -> list[LogEntry]:
            params: dict[str, Any] = {"count": page}
            if since is not None:
                params["fromtime"] = xsd_time(since)
            if until is not None:
                params["totime"] = xsd_time(until)
            if next_index is not None:
                params["fromindex"] = next_index
            items = _log_items(await self.call("log", **params))
            return [parse_log_entry(kind, item, f"log[{i}]") for i, item in enumerate(items)]

        return await read_log_pages(fetch, page_size=LOG_PAGE, from_index=from_index,
                                    count=count, context="log", progress=progress)

    async def _self_test(self, progress: Progress | None) -> SelfTestResult:
        report(progress, None, Text("Requesting the self-test", "Selbsttest wird angefordert"))
        if self.endpoint is None:
            await self._connect(None)
        assert self.endpoint is not None
        body = json.dumps({"method": "self-test"}, separators=(",", ":")).encode("utf-8")
        return self_test_result(await self.http.request(
            "POST", self.endpoint, body=body, content_type="application/json"),
            "self-test", self._refusal)
