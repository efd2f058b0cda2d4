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

from app.domain import Obis, ServerId, SmgwId
from app.errors import InvalidValue, Text
from app.security.pki import describe_certificate
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
    TechnicalData,
    UserRole,
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
from app.transports.han.pinning import PinnedCertificate, PinStore, to_pem
from app.transports.han.state_code import decode_state

ROOT_PATH = "/smgw/m2m"
#: Entries per ``log`` request, the documented maximum.
LOG_PAGE = 1500
#: CONEXA firmware may announce SHA-256 but verify only MD5: the vendor override.
DIGEST_OVERRIDE = "MD5"

_COUNTDOWN = re.compile(
    r"(?:(\d+)\s*(?:minuten|minute|min)\w*\.?\s*(?:und|and)?\s*)?(\d+)\s*(?:sekunden|seconds|s)\b",
    re.IGNORECASE,
)


# --- value readers: wrong types become HanProtocolError naming the field ------------------------


def _wrong(path: str, expected: str, value: Any) -> HanProtocolError:
    got = type(value).__name__ if value is not None else "nothing"
    return HanProtocolError(
        Text(f"'{path}' should be {expected}, got {got}.",
             f"'{path}' sollte {expected} sein, erhalten: {got}."),
        field=path,
    )


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _wrong(path, "an object", value)
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _wrong(path, "a list", value)
    return value


def _str(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _wrong(path, "text", value)
    return str(value)


def _opt_str(value: Any, path: str) -> str | None:
    return None if value is None else _str(value, path)


def _int(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise _wrong(path, "a whole number", value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,40}\s*", value):
        return int(value)
    raise _wrong(path, "a whole number", value)


def _opt_int(value: Any, path: str) -> int | None:
    return None if value is None or value == "" else _int(value, path)


def _time(value: Any, path: str) -> dt.datetime:
    text = _str(value, path).strip()
    try:
        if len(text) == 10:
            parsed = dt.datetime.fromisoformat(text + "T00:00:00")
        else:
            parsed = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise _wrong(path, "a date/time like 2026-01-31T12:00:00Z", value) from exc
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
    text = _str(value, path).strip()
    if text.startswith("-----BEGIN"):
        return text.encode("ascii")
    try:
        return binascii.unhexlify(re.sub(r"\s+", "", text))
    except (binascii.Error, ValueError) as exc:
        raise _wrong(path, "a hex-encoded certificate", "text") from exc


def _record(role: str, data: bytes, path: str, *, state: str | None = None,
            index: int | None = None) -> CertificateRecord:
    try:
        pem = to_pem(data)
        info = describe_certificate(pem)
    except ValueError as exc:
        raise _wrong(path, "a certificate", "unreadable data") from exc
    return CertificateRecord(role, pem, info.sha256, info.subject, info.issuer,
                             info.not_before, info.not_after, state, index)


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
        index = _int(entry["cert-index"], f"{where}.cert-index")
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


def _server_id_text(raw: str) -> tuple[str, str | None]:
    try:
        parsed = ServerId.parse(raw)
    except InvalidValue:
        return raw, None
    return parsed.text, parsed.hex


def parse_log_entry(kind: LogKind, item: Any, path: str) -> LogEntry:
    obj = _obj(item, path)
    index_value = obj.get("index", obj.get("record-number"))
    time_value = obj.get("time", obj.get("timestamp"))
    message = obj.get("message", obj.get("text", ""))
    return LogEntry(
        kind=kind,
        index=_int(index_value, f"{path}.index"),
        time=_time(time_value, f"{path}.time"),
        level=_opt_int(obj.get("level"), f"{path}.level"),
        event_id=_opt_str(obj.get("event-id"), f"{path}.event-id"),
        event_sub_id=_opt_str(obj.get("event-sub-id"), f"{path}.event-sub-id"),
        message=_str(message, f"{path}.message") if message is not None else "",
        subject=_opt_str(obj.get("subject-identity"), f"{path}.subject-identity"),
        outcome=_opt_str(obj.get("outcome"), f"{path}.outcome"),
        user=_opt_str(obj.get("user-identity"), f"{path}.user-identity"),
        vendor_id=_opt_str(obj.get("vendor-id"), f"{path}.vendor-id"),
        version=_opt_str(obj.get("version"), f"{path}.version"),
        raw=obj,
    )


def _log_items(payload: Any) -> list[Any]:
    """The entry list of a ``log`` answer: the list itself or the first list in the object."""
    if isinstance(payload, list):
        return payload
    obj = _obj(payload, "log")
    for key in ("entries", "log-entries", "log"):
        if isinstance(obj.get(key), list):
            return obj[key]
    for value in obj.values():
        if isinstance(value, list):
            return value
    if not obj:
        return []
    raise _wrong("log", "a list of entries", payload)


def countdown_seconds(response: HanResponse) -> float | None:
    """Remaining seconds from ``Retry-After``, a JSON field or a German/English countdown."""
    retry = response.headers.get("Retry-After", "").strip()
    if retry.isdigit():
        return float(retry)
    try:
        data = json.loads(response.body)
        if isinstance(data, dict):
            for key in ("remaining-seconds", "retry-after"):
                if isinstance(data.get(key), (int, float)) and not isinstance(data[key], bool):
                    return float(data[key])
    except ValueError:
        pass
    match = _COUNTDOWN.search(response.text())
    if match:
        return int(match.group(1) or 0) * 60.0 + int(match.group(2))
    return None


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

    def _refusal(self, response: HanResponse, *, context: str) -> Exception:
        """Classify a 403: login lock, busy session, HAN not enabled, or not permitted."""
        text = response.text().lower()
        error = ""
        try:
            data = json.loads(response.body)
            if isinstance(data, dict) and isinstance(data.get("error"), str):
                error = data["error"].lower()
        except ValueError:
            pass
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

    def _unexpected(self, response: HanResponse, context: str) -> HanProtocolError:
        meaning = {
            400: Text("the gateway rejected the request as malformed",
                      "das Gateway hat die Anfrage als fehlerhaft abgelehnt"),
            404: Text("the gateway does not know this address",
                      "das Gateway kennt diese Adresse nicht"),
            405: Text("the gateway does not allow this HTTP method",
                      "das Gateway erlaubt diese HTTP-Methode nicht"),
            500: Text("the gateway reported an internal error",
                      "das Gateway hat einen internen Fehler gemeldet"),
        }.get(response.status, Text("unexpected answer", "unerwartete Antwort"))
        snippet = response.text(200).strip().replace("\n", " ")
        return HanProtocolError(
            Text(f"{meaning.en} (HTTP {response.status} for '{context}'). {snippet}".rstrip(),
                 f"{meaning.de} (HTTP {response.status} für '{context}'). {snippet}".rstrip()),
            field=context,
        )

    async def _connect(self, progress: Progress | None) -> None:
        report(progress, 0.0, Text("Connecting to the gateway", "Verbindung zum Gateway"))
        response = await self.http.request("GET", ROOT_PATH)
        if response.status == 403:
            raise self._refusal(response, context="connect")
        if response.status != 307:
            raise self._unexpected(response, "GET /smgw/m2m")
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
            raise self._unexpected(response, method)
        try:
            data = json.loads(response.body)
        except ValueError as exc:
            raise HanProtocolError(
                Text(f"the answer to '{method}' is not valid JSON.",
                     f"die Antwort auf '{method}' ist kein gültiges JSON."),
                field=method,
            ) from exc
        root = _obj(data, method)
        version = root.get("version")
        if isinstance(version, (str, int)) and not isinstance(version, bool):
            self.api_version = str(version)
        echoed = root.get("method")
        if echoed is not None and echoed != method:
            raise _wrong(f"{method}.method", f"'{method}'", echoed)
        if method not in root:
            raise _wrong(method, f"an answer with the field '{method}'", None)
        return root[method]

    # -- methods ----------------------------------------------------------------------------------

    async def _identify(self, progress: Progress | None) -> GatewayIdentity:
        report(progress, None, Text("Reading gateway data", "Gateway-Daten werden gelesen"))
        info = _obj(await self.call("smgw-info"), "smgw-info")
        identity = self._parse_identity(info)
        if self.pin_store is not None:
            self.pin_store.bind(self.http.pin, identity.smgw_id)
        return identity

    def _parse_identity(self, info: dict[str, Any]) -> GatewayIdentity:
        raw_id = info.get("smgw-id")
        if not isinstance(raw_id, str):
            raise _wrong("smgw-info.smgw-id", "text", raw_id)
        try:
            smgw_id = SmgwId.parse(raw_id).text
        except InvalidValue as exc:
            raise HanProtocolError(exc.message, field="smgw-info.smgw-id") from exc
        try:
            state = decode_state(_str(info.get("smgw-state"), "smgw-info.smgw-state"),
                                 field="smgw-info.smgw-state")
        except InvalidValue as exc:
            raise HanProtocolError(exc.message, field="smgw-info.smgw-state") from exc
        firmware_raw = info.get("firmware-info", [])
        items = firmware_raw if isinstance(firmware_raw, list) else [firmware_raw]
        firmware = []
        for i, item in enumerate(items):
            where = f"smgw-info.firmware-info[{i}]"
            fw = _obj(item, where)
            firmware.append(FirmwareComponent(
                component=_str(fw.get("component", "firmware"), f"{where}.component"),
                version=_str(fw.get("version"), f"{where}.version"),
                hash=_str(fw.get("hash", ""), f"{where}.hash").lower(),
            ))
        certificates = parse_certificates(_obj(info.get("certificates", {}),
                                               "smgw-info.certificates"))
        return GatewayIdentity(
            vendor=self.vendor,
            smgw_id=smgw_id,
            firmware=tuple(firmware),
            state=state,
            time=_time(info.get("smgw-time"), "smgw-info.smgw-time"),
            certificates=tuple(certificates),
            model=_opt_str(info.get("model"), "smgw-info.model"),
            api_version=self.api_version,
        )

    async def profiles(self) -> list[EvaluationProfileInfo]:
        """The account's evaluation profiles (``user-info``)."""
        info = _obj(await self.call("user-info"), "user-info")
        out = []
        for i, item in enumerate(_list(info.get("usage-points", []), "user-info.usage-points")):
            where = f"user-info.usage-points[{i}]"
            up = _obj(item, where)
            meters_raw = up.get("meter", up.get("meters", []))
            meters = []
            for j, meter in enumerate(_list(meters_raw, f"{where}.meter")):
                value = meter.get("meter-id") if isinstance(meter, dict) else meter
                meters.append(_server_id_text(_str(value, f"{where}.meter[{j}].meter-id"))[0])
            out.append(EvaluationProfileInfo(
                usage_point_id=_str(up.get("usage-point-id"), f"{where}.usage-point-id"),
                name=_opt_str(up.get("usage-point-name"), f"{where}.usage-point-name"),
                taf_number=_opt_int(up.get("taf-number"), f"{where}.taf-number"),
                taf_state=_opt_str(up.get("taf-state"), f"{where}.taf-state"),
                meters=tuple(meters),
                metering_point_id=_opt_str(up.get("metering-point-id"),
                                           f"{where}.metering-point-id"),
                start=_opt_time(up.get("start-time"), f"{where}.start-time"),
                end=_opt_time(up.get("end-time"), f"{where}.end-time"),
            ))
        return out

    async def _channels(self, usage_point_id: str) -> dict[str, tuple[int, int | None]]:
        """``obis hex -> (scaler, unit)`` of the ``origin`` database."""
        info = _obj(await self.call("usage-point-info", **{"usage-point-id": usage_point_id,
                                                           "database": "origin"}),
                    "usage-point-info")
        out: dict[str, tuple[int, int | None]] = {}
        for i, db in enumerate(_list(info.get("databases", []), "usage-point-info.databases")):
            where = f"usage-point-info.databases[{i}]"
            db_obj = _obj(db, where)
            if db_obj.get("database", "origin") != "origin":
                continue
            for j, ch in enumerate(_list(db_obj.get("channels", []), f"{where}.channels")):
                cw = f"{where}.channels[{j}]"
                ch_obj = _obj(ch, cw)
                obis = _str(ch_obj.get("obis"), f"{cw}.obis").lower()
                out[obis] = (_opt_int(ch_obj.get("scaler"), f"{cw}.scaler") or 0,
                             _opt_int(ch_obj.get("unit"), f"{cw}.unit"))
        return out

    async def _last_values(self, usage_point_id: str,
                           channels: dict[str, tuple[int, int | None]]) -> list[MeterValue] | None:
        """Last reading per channel; ``None`` if the account may not read values."""
        try:
            data = await self.call("readings", **{"usage-point-id": usage_point_id,
                                                  "database": "origin", "last-reading": True})
        except HanAccessDenied:
            return None
        readings = _obj(data, "readings")
        values = []
        for i, ch in enumerate(_list(readings.get("channels", []), "readings.channels")):
            where = f"readings.channels[{i}]"
            ch_obj = _obj(ch, where)
            obis_hex = _str(ch_obj.get("obis"), f"{where}.obis").lower()
            rows = _list(ch_obj.get("readings", []), f"{where}.readings")
            if not rows:
                continue
            parsed = []
            for j, row in enumerate(rows):
                rw = f"{where}.readings[{j}]"
                row_obj = _obj(row, rw)
                parsed.append((_opt_time(row_obj.get("capture-time"), f"{rw}.capture-time"),
                               _int(row_obj.get("value"), f"{rw}.value")))
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
            text, hex_form = _server_id_text(meter)
            out.append(MeterInfo(
                server_id=text, server_id_hex=hex_form, usage_points=tuple(entry["ups"]),
                values=tuple(sorted(entry["values"].values(), key=lambda v: v.obis_hex)),
                values_available=entry["readable"],
            ))
        return out

    async def _technical_data(self, progress: Progress | None) -> TechnicalData:
        before = dt.datetime.now(dt.UTC)
        identity = await self._identify(progress)
        after = dt.datetime.now(dt.UTC)
        laptop = before + (after - before) / 2
        profiles = await self.profiles()
        meters = await self._meters(progress)
        return TechnicalData(identity, tuple(profiles), tuple(meters),
                             (identity.time - laptop).total_seconds(), laptop)

    async def _logs(
        self,
        kind: LogKind,
        since: dt.datetime | None,
        until: dt.datetime | None,
        from_index: int | None,
        count: int | None,
        progress: Progress | None,
    ) -> list[LogEntry]:
        wanted = LogKind.SYSTEM if self.credentials.role is UserRole.SERVICE_TECHNICIAN \
            else LogKind.CONSUMER
        if kind is not wanted:
            raise HanAccessDenied(
                Text("read the system log (service technician only)",
                     "das Systemlog lesen (nur Servicetechniker)")
                if kind is LogKind.SYSTEM
                else Text("read the consumer log (consumer only)",
                          "das Letztverbraucher-Log lesen (nur Letztverbraucher)")
            )
        entries: list[LogEntry] = []
        next_index = from_index
        while count is None or len(entries) < count:
            page = LOG_PAGE if count is None else min(LOG_PAGE, count - len(entries))
            params: dict[str, Any] = {"count": page}
            if since is not None:
                params["fromtime"] = xsd_time(since)
            if until is not None:
                params["totime"] = xsd_time(until)
            if next_index is not None:
                params["fromindex"] = next_index
            items = _log_items(await self.call("log", **params))
            batch = [parse_log_entry(kind, item, f"log[{i}]") for i, item in enumerate(items)]
            if len(batch) > page:
                raise HanProtocolError(
                    Text(f"the gateway sent {len(batch)} log entries, {page} were asked for.",
                         f"das Gateway hat {len(batch)} Logeinträge gesendet, angefragt waren "
                         f"{page}."),
                    field="log",
                )
            if not batch:
                break
            top = max(e.index for e in batch)
            if next_index is not None and top < next_index:
                raise HanProtocolError(
                    Text("the gateway repeats log entries instead of paging on.",
                         "das Gateway wiederholt Logeinträge, statt weiterzublättern."),
                    field="log",
                )
            entries.extend(sorted(batch, key=lambda e: e.index))
            fraction = len(entries) / count if count else None
            report(progress, fraction, Text(f"{len(entries)} log entries read",
                                            f"{len(entries)} Logeinträge gelesen"))
            if len(batch) < page:
                break
            next_index = top + 1
        return entries

    async def _self_test(self, progress: Progress | None) -> SelfTestResult:
        report(progress, None, Text("Requesting the self-test", "Selbsttest wird angefordert"))
        if self.endpoint is None:
            await self._connect(None)
        assert self.endpoint is not None
        body = json.dumps({"method": "self-test"}, separators=(",", ":")).encode("utf-8")
        response = await self.http.request("POST", self.endpoint, body=body,
                                           content_type="application/json")
        if response.status == 200:
            return SelfTestResult(True, None, Text(
                "The gateway runs its self-test; the result appears in the log.",
                "Das Gateway führt den Selbsttest aus; das Ergebnis erscheint im Log."))
        if response.status == 403:
            refusal = self._refusal(response, context="self-test")
            if isinstance(refusal, (HanLockedOut, HanSessionBusy, HanNotEnabled)):
                raise refusal
            seconds = countdown_seconds(response)
            return SelfTestResult(False, seconds, Text(
                "The gateway allows one self-test every 10 minutes.",
                "Das Gateway erlaubt einen Selbsttest alle 10 Minuten."))
        raise self._unexpected(response, "self-test")
