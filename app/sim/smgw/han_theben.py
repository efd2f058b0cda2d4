"""HAN server of the virtual SMGW in the Theben CONEXA ``IF_GW_CON`` dialect (JSON "M2M").

Follows the public interface description as far as it is known (``docs/han.md`` lists every
point where the public material is silent and what this server does there):

* ``GET`` or ``POST /smgw/m2m`` → ``307`` with ``Location: /smgw/m2m/<user-id>/json``.
* ``POST /smgw/m2m/<user-id>/json`` with ``{"method": ...}``: ``smgw-info``, ``user-info``,
  ``usage-point-info``, ``readings``, ``log`` (``count`` ≤ 1500), ``self-test`` (403 within
  10 minutes of the last run). Answers: ``{"elapsed-time", "method", "version", <method>: ...}``.
* Status codes 400 (malformed), 401 (Digest challenge), 403 (lock, self-test lock, HAN not
  enabled, not permitted), 404 (unknown path or user id), 405 (wrong HTTP method), 500.
* Authentication: a registered client certificate (mutual TLS, optional) or HTTP Digest
  (shared with the EMH dialect: :class:`app.sim.smgw.han_common.JsonHanApplication`).
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from app.sim.smgw.access import HanUser, Role
from app.sim.smgw.han_common import JsonHanApplication, bad_request, refuse
from app.sim.smgw.logs import GatewayLogEntry
from app.sim.smgw.state import EvaluationProfile, LmnMeter, RegisterValue, SmgwState

ROOT = "/smgw/m2m"
MAX_LOG_COUNT = 1500
MAX_READINGS_WINDOW = dt.timedelta(days=31)


def xsd_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex(data: bytes) -> str:
    return binascii.hexlify(data).decode("ascii")


def _parse_time(value: Any, name: str) -> dt.datetime:
    if not isinstance(value, str):
        raise bad_request(f"'{name}' must be a date/time text")
    text = value.strip()
    try:
        moment = dt.datetime.fromisoformat(text + "T00:00:00" if len(text) == 10 else text)
    except ValueError as exc:
        raise bad_request(f"'{name}' is not a date/time like 2026-01-31T00:00:00Z") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _parse_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise bad_request(f"'{name}' must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
        return int(value)
    raise bad_request(f"'{name}' must be a whole number")


def _parse_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise bad_request(f"'{name}' must be true or false")


class ThebenHanServer(JsonHanApplication):
    """The CONEXA-dialect HAN application around one :class:`SmgwState`."""

    dialect = "theben"

    def __init__(self, state: SmgwState) -> None:
        super().__init__(state)
        self.methods: dict[str, Callable[[HanUser, dict[str, Any]], Any]] = {
            "smgw-info": self._smgw_info,
            "user-info": self._user_info,
            "usage-point-info": self._usage_point_info,
            "readings": self._readings,
            "log": self._log,
            "self-test": self._self_test,
        }

    def application(self) -> web.Application:
        app = self._new_application()
        for path in (ROOT, ROOT + "/"):
            app.router.add_route("GET", path, self.root)
            app.router.add_route("POST", path, self.root)
        for path in (ROOT + "/{endpoint}/json", ROOT + "/{endpoint}/json/"):
            app.router.add_route("POST", path, self.method)
        return app

    # -- routes -----------------------------------------------------------------------------------

    async def root(self, request: web.Request) -> web.StreamResponse:
        user = self._authenticate(request)
        raise web.HTTPTemporaryRedirect(f"{ROOT}/{user.endpoint}/json")

    async def method(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        user = self._authenticate(request)
        if request.match_info["endpoint"] != user.endpoint:
            raise refuse(404, "not-found", "no such user endpoint")
        if self.state.han.strict_content_type:
            content_type = request.headers.get("Content-Type", "").strip().lower()
            if content_type != "application/json":
                raise bad_request("Content-Type must be exactly application/json")
            if request.headers.get("Transfer-Encoding", "").lower() == "chunked" \
                    or request.content_length is None:
                raise bad_request("Content-Length is required")
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise bad_request("the body is not valid JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get("method"), str):
            raise bad_request("the body must be a JSON object with 'method'")
        name = body["method"]
        handler = self.methods.get(name)
        if handler is None:
            raise bad_request(f"unknown method '{name[:40]}'")
        result = handler(user, body)
        elapsed = round((time.perf_counter() - started) * 1000)
        answer = {"elapsed-time": f"{elapsed} miliseconds", "method": name,
                  "version": self.state.han.api_version, name: result}
        return web.Response(text=json.dumps(answer, separators=(",", ":")),
                            content_type="application/json")

    # -- methods ----------------------------------------------------------------------------------

    def _smgw_info(self, user: HanUser, body: dict[str, Any]) -> dict[str, Any]:
        state = self.state
        firmware = [{"component": f.name, "version": f.version, "hash": f.sha256}
                    for f in state.firmware]
        certificates: dict[str, Any] = {}
        han = state.certificate("han_tls")
        if han is not None:
            certificates["han"] = {"tls": _hex(han.pem)}
        sub_ca = state.certificate("sub_ca")
        wan = []
        for cert in sorted((c for c in state.certificates if c.role == "wan_sig"),
                           key=lambda c: c.index):
            entry = {"cert-index": str(cert.index), "sig": _hex(cert.der)}
            if sub_ca is not None:
                entry["sub-ca"] = _hex(sub_ca.der)
            wan.append(entry)
        if wan:
            certificates["wan"] = wan
        return {
            "smgw-id": state.smgw_id.text.lower(),
            "smgw-time": xsd_time(state.now()),
            "smgw-state": state.state_code(),
            "firmware-info": firmware[0] if len(firmware) == 1 else firmware,
            "certificates": certificates,
        }

    def _profile_json(self, profile: EvaluationProfile) -> dict[str, Any]:
        out: dict[str, Any] = {
            "usage-point-id": profile.usage_point_id,
            "usage-point-name": profile.name,
            "taf-number": str(profile.taf_number),
            "taf-state": profile.taf_state.value,
            "start-time": xsd_time(profile.start),
            "delivery-id": profile.delivery_id,
            "metering-point-id": profile.metering_point_id,
            "meter": [{"meter-id": m.text.lower()} for m in profile.meters],
            "billing-periods": [
                {"start-time": xsd_time(b.start),
                 **({"end-time": xsd_time(b.end)} if b.end else {})}
                for b in profile.billing_periods
            ],
            "on-demand-profile-configured": profile.on_demand,
            "transparency-bit": profile.transparency,
        }
        if profile.end is not None:
            out["end-time"] = xsd_time(profile.end)
        return out

    def _user_info(self, user: HanUser, body: dict[str, Any]) -> dict[str, Any]:
        return {"user-id": user.endpoint,
                "usage-points": [self._profile_json(p) for p in self.state.profiles_for(user)]}

    def _profile_param(self, user: HanUser, body: dict[str, Any]) -> EvaluationProfile:
        up_id = body.get("usage-point-id")
        if not isinstance(up_id, str) or not up_id:
            raise bad_request("'usage-point-id' is required")
        profile = self.state.profile(user, up_id)
        if profile is None:
            raise bad_request(f"unknown usage point '{up_id[:80]}'")
        return profile

    def _register(self, profile: EvaluationProfile, obis: Any
                  ) -> tuple[RegisterValue, LmnMeter] | None:
        """The register behind a channel and its meter (whether it answers: ``present``)."""
        for sid in profile.meters:
            meter = self.state.meter(sid)
            if meter is not None:
                register = meter.register(obis)
                if register is not None:
                    return register, meter
        return None

    def _usage_point_info(self, user: HanUser, body: dict[str, Any]) -> dict[str, Any]:
        profile = self._profile_param(user, body)
        database = body.get("database")
        if database is not None and database not in profile.databases:
            raise bad_request(f"unknown database '{str(database)[:40]}'")
        databases = [database] if database else list(profile.databases)
        channels = []
        for obis in profile.channels:
            found = self._register(profile, obis)
            if found is not None:
                channels.append({"obis": obis.hex, "scaler": found[0].scaler,
                                 "unit": found[0].unit})
        return {"usage-point-id": profile.usage_point_id,
                "databases": [{"database": db, "channels": channels} for db in databases]}

    def _readings(self, user: HanUser, body: dict[str, Any]) -> dict[str, Any]:
        if user.role is not Role.CONSUMER:
            raise refuse(403, "forbidden", "readings are for the consumer only")
        profile = self._profile_param(user, body)
        database = body.get("database", "origin")
        if database not in profile.databases:
            raise bad_request(f"unknown database '{str(database)[:40]}'")
        last = _parse_bool(body.get("last-reading", False), "last-reading")
        wanted = profile.channels
        if "channels" in body:
            if not isinstance(body["channels"], list):
                raise bad_request("'channels' must be a list")
            names = set()
            for item in body["channels"]:
                if not isinstance(item, dict) or not isinstance(item.get("channel"), str):
                    raise bad_request("'channels' entries must be {\"channel\": <obis>}")
                names.add(item["channel"].lower())
            wanted = [o for o in profile.channels if o.hex in names]
        now = self.state.now()
        period = dt.timedelta(seconds=profile.registration_period)
        if last:
            targets = [self._floor(now, period)]
        else:
            if "fromtime" not in body or "totime" not in body:
                raise bad_request(
                    "'fromtime' and 'totime' are required unless 'last-reading' is true")
            start = _parse_time(body["fromtime"], "fromtime")
            end = min(_parse_time(body["totime"], "totime"), now)
            if start > end:
                raise bad_request("'fromtime' lies after 'totime'")
            if end - start > MAX_READINGS_WINDOW:
                raise bad_request("the time range may span at most 31 days")
            first = self._floor(start, period) + period  # fromtime is exclusive
            targets = []
            moment = first
            while moment <= end:
                targets.append(moment)
                moment += period
        channels = []
        for obis in wanted:
            found = self._register(profile, obis)
            rows = []
            if found is not None and found[1].present:
                register, meter = found
                for target in _readable(targets, meter.since, last):
                    rows.append({
                        "capture-time": xsd_time(target + dt.timedelta(seconds=2)),
                        "target-time": xsd_time(target),
                        "value": str(self.state.register_value(meter, register, target)),
                        "cosem-status": "0",
                        "meter-status": "00",
                        "smgw-status": "00",
                        "owner-number": profile.metering_point_id,
                    })
            channels.append({"obis": obis.hex, "readings": rows})
        return {"usage-point-id": profile.usage_point_id, "database": database,
                "channels": channels}

    @staticmethod
    def _floor(moment: dt.datetime, period: dt.timedelta) -> dt.datetime:
        seconds = int(period.total_seconds())
        stamp = int(moment.timestamp())
        return dt.datetime.fromtimestamp(stamp - stamp % seconds, dt.UTC)

    @staticmethod
    def _entry_json(entry: GatewayLogEntry) -> dict[str, Any]:
        return {
            "index": str(entry.index),
            "time": xsd_time(entry.time),
            "event-id": str(entry.event_id),
            "event-sub-id": str(entry.event_sub_id),
            "level": str(int(entry.level)),
            "outcome": entry.outcome,
            "vendor-id": entry.vendor_id,
            "subject-identity": entry.subject,
            "user-identity": entry.user,
            "message": entry.message,
            "version": entry.version,
        }

    def _log(self, user: HanUser, body: dict[str, Any]) -> dict[str, Any]:
        count = MAX_LOG_COUNT
        if "count" in body:
            count = _parse_int(body["count"], "count")
            if not 1 <= count <= MAX_LOG_COUNT:
                raise bad_request(f"'count' must be between 1 and {MAX_LOG_COUNT}")
        since = _parse_time(body["fromtime"], "fromtime") if "fromtime" in body else None
        until = _parse_time(body["totime"], "totime") if "totime" in body else None
        from_index = _parse_int(body["fromindex"], "fromindex") if "fromindex" in body else None
        entries = self.state.log_for(user.role).query(since=since, until=until,
                                                      from_index=from_index, count=count)
        return {"count": str(len(entries)), "log-entries": [self._entry_json(e) for e in entries]}

    def _self_test(self, user: HanUser, body: dict[str, Any]) -> dict[str, Any]:
        self._run_self_test(user)
        return {"state": "started"}


def _readable(targets: list[dt.datetime], since: dt.datetime | None, last: bool
              ) -> list[dt.datetime]:
    """The target times a meter has values for: none before it was wired in (``since``); the
    last reading of a meter read only since then is its first value (first readout)."""
    if since is None:
        return targets
    if last:
        return [max(t, since) for t in targets]
    return [t for t in targets if t >= since]
