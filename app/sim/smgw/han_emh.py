"""HAN server of the virtual SMGW in the EMH CASA dialect: JSON over ``GET /json/...``.

Paths and fields as public clients use them (``docs/han-ppc-emh.md`` marks what this project
defines itself, because no public source shows it):

* ``/json/metering/derived`` -> contract ids; ``/json/metering/derived/{id}`` -> the contract
  (``sensor_domains``, ``taf_type``, ``taf_state``, ``validity_start``, ...).
* ``/json/metering/origin/`` -> meter ids; ``/json/metering/origin/{meter}/extended`` -> current
  values (``logical_name``, ``value``, ``scaler``, ``unit``); ``.../daily`` -> daily values.
* ``/json/systeminformations`` -> ``firmwareversion`` ("version / hash") plus the project's
  identity fields; ``/json/certificates``, ``/json/conlogbook/``, ``/json/syslogbook/`` and
  ``POST /json/selftest`` are the project's own.
* HTTP Digest on every request, HTTP/1.1 only (an HTTP/1.0 request gets 505). Errors, the login
  lock and the one-session-per-user rule behave as in the CONEXA dialect (JSON error objects
  with ``error``, ``message`` and ``remaining-seconds``; both are a
  :class:`app.sim.smgw.han_common.JsonHanApplication`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from aiohttp import HttpVersion11, web

from app.domain.local_time import from_local, local_with_offset, to_local
from app.sim.smgw.access import HanUser, Role
from app.sim.smgw.han_common import (
    Handler,
    JsonHanApplication,
    bad_request,
    json_error,
    refuse,
    visible_meters,
)
from app.sim.smgw.logs import GatewayLogEntry, LogLevel
from app.sim.smgw.state import EvaluationProfile, LmnMeter

#: Entries per log request (the project's limit).
MAX_LOG_COUNT = 500
MAX_DAILY_DAYS = 31
ENERGY_UNITS = (30, 31, 32)
LEVEL_NAMES = {LogLevel.INFO: "INFO", LogLevel.WARNING: "WARNING", LogLevel.ERROR: "ERROR",
               LogLevel.ALERT: "ALERT"}


def iso_local(moment: dt.datetime) -> str:
    """``2026-03-02T10:30:00+01:00`` (German local time with offset, as CASA answers)."""
    return local_with_offset(moment.replace(microsecond=0)).isoformat()


def _number(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"\d{1,12}", text) or not low <= int(text) <= high:
        raise bad_request(f"'{name}' must be a whole number from {low} to {high}")
    return int(text)


class EmhHanServer(JsonHanApplication):
    """The CASA-dialect HAN application around one :class:`SmgwState` (authentication, lock and
    sessions as in the CONEXA dialect)."""

    dialect = "emh"

    def application(self) -> web.Application:
        app = self._new_application(self._http11)
        get = app.router.add_get
        get("/json/systeminformations", self.systeminformations, allow_head=False)
        get("/json/certificates", self.certificates, allow_head=False)
        for path in ("/json/metering/origin", "/json/metering/origin/"):
            get(path, self.origin_list, allow_head=False)
        get("/json/metering/origin/{meter}/extended", self.extended, allow_head=False)
        get("/json/metering/origin/{meter}/daily", self.daily, allow_head=False)
        for path in ("/json/metering/derived", "/json/metering/derived/"):
            get(path, self.derived_list, allow_head=False)
        get("/json/metering/derived/{contract}", self.derived, allow_head=False)
        for path in ("/json/conlogbook", "/json/conlogbook/"):
            get(path, self.conlogbook, allow_head=False)
        for path in ("/json/syslogbook", "/json/syslogbook/"):
            get(path, self.syslogbook, allow_head=False)
        app.router.add_post("/json/selftest", self.selftest)
        return app

    @web.middleware
    async def _http11(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.version < HttpVersion11:
            return json_error(505, "http-version-not-supported", "HTTP/1.1 is required")
        return await handler(request)

    # -- identity ---------------------------------------------------------------------------------

    async def systeminformations(self, request: web.Request) -> web.Response:
        self._authenticate(request)
        state = self.state
        first = state.firmware[0]
        return web.json_response({
            "firmwareversion": f"{first.version} / {first.sha256}",
            "firmware_components": [{"component": f.name, "version": f.version, "hash": f.sha256}
                                    for f in state.firmware],
            "smgw_id": state.smgw_id.text.lower(),
            "model": state.model,
            "systemtime": iso_local(state.now()),
            "operating_state": state.state_code(),
        })

    async def certificates(self, request: web.Request) -> web.Response:
        self._authenticate(request)
        return web.json_response([
            {"role": c.role, "index": c.index, "state": c.state.value if c.state else None,
             "certificate": c.pem.decode("ascii")}
            for c in self.state.certificates
        ])

    # -- metering ---------------------------------------------------------------------------------

    def _meter(self, user: HanUser, request: web.Request) -> LmnMeter:
        wanted = request.match_info["meter"].lower()
        meter = next((m for m in visible_meters(self.state, user)
                      if m.server_id.text.lower() == wanted), None)
        if meter is None:
            raise refuse(404, "not-found", "no such meter")
        if user.role is not Role.CONSUMER:
            raise refuse(403, "forbidden", "meter values are for the consumer only")
        return meter

    async def origin_list(self, request: web.Request) -> web.Response:
        user = self._authenticate(request)
        meters = visible_meters(self.state, user)
        return web.json_response([m.server_id.text.lower() for m in meters])

    @staticmethod
    def _value(meter: LmnMeter, obis_hex: str, raw: int, scaler: int, unit: int
               ) -> dict[str, Any]:
        return {"logical_name": f"{obis_hex}.{meter.server_id.text.lower()}.sm", "scaler": scaler,
                "signature": "-", "unit": unit, "value": str(raw)}

    async def extended(self, request: web.Request) -> web.Response:
        user = self._authenticate(request)
        meter = self._meter(user, request)
        now = self.state.now()
        values = [self._value(meter, r.obis.hex, self.state.register_value(meter, r, now),
                              r.scaler, r.unit)
                  for r in meter.registers] if meter.present else []
        return web.json_response({"capture_time": iso_local(now),
                                  "status": self.state.state_code() + "00000000",
                                  "timestamp": iso_local(now), "values": values})

    async def daily(self, request: web.Request) -> web.Response:
        user = self._authenticate(request)
        meter = self._meter(user, request)
        days = _number(request, "days", 7, 1, MAX_DAILY_DAYS)
        now = self.state.now()
        today = to_local(now).replace(hour=0, minute=0, second=0, microsecond=0)
        out = []
        for back in range(days - 1, -1, -1):
            moment = from_local(today - dt.timedelta(days=back))
            values = [self._value(meter, r.obis.hex,
                                  self.state.register_value(meter, r, moment), r.scaler, r.unit)
                      for r in meter.registers if r.unit in ENERGY_UNITS] if meter.present else []
            out.append({"capture_time": iso_local(moment), "values": values})
        return web.json_response(out)

    async def derived_list(self, request: web.Request) -> web.Response:
        user = self._authenticate(request)
        return web.json_response([p.usage_point_id for p in self.state.profiles_for(user)])

    @staticmethod
    def _contract(profile: EvaluationProfile) -> dict[str, Any]:
        out: dict[str, Any] = {
            "active_tariff": -1,
            "capture_period": profile.registration_period,
            "logical_name": profile.usage_point_id,
            "metering_point_id": profile.metering_point_id,
            "sensor_domains": [m.text.lower() for m in profile.meters],
            "taf_identifier": profile.usage_point_id,
            "taf_name": profile.name,
            "taf_state": profile.taf_state.value,
            "taf_type": f"TAF-{profile.taf_number}",
            "validity_start": int(profile.start.timestamp()),
        }
        if profile.end is not None:
            out["validity_end"] = int(profile.end.timestamp())
        return out

    async def derived(self, request: web.Request) -> web.Response:
        user = self._authenticate(request)
        profile = self.state.profile(user, request.match_info["contract"])
        if profile is None:
            raise refuse(404, "not-found", "no such contract")
        return web.json_response(self._contract(profile))

    # -- logs -------------------------------------------------------------------------------------

    @staticmethod
    def _entry(entry: GatewayLogEntry) -> dict[str, Any]:
        return {
            "record_number": entry.index, "timestamp": iso_local(entry.time),
            "level": LEVEL_NAMES.get(entry.level, str(int(entry.level))),
            "event_id": entry.event_id, "event_sub_id": entry.event_sub_id,
            "outcome": entry.outcome.upper(), "subject": entry.subject, "user": entry.user,
            "vendor_id": entry.vendor_id, "version": entry.version, "message": entry.message,
        }

    def _logbook(self, request: web.Request, role: Role) -> web.Response:
        user = self._authenticate(request)
        if user.role is not role:
            raise refuse(403, "forbidden", "this log belongs to another role")
        count = _number(request, "count", MAX_LOG_COUNT, 1, MAX_LOG_COUNT)
        from_index = _number(request, "fromindex", 0, 0, 10**12)
        since = until = None
        if "fromtime" in request.query:
            since = dt.datetime.fromtimestamp(_number(request, "fromtime", 0, 0, 10**11), dt.UTC)
        if "totime" in request.query:
            until = dt.datetime.fromtimestamp(_number(request, "totime", 0, 0, 10**11), dt.UTC)
            until += dt.timedelta(microseconds=999_999)
        log = self.state.log_for(role)
        entries = log.query(since=since, until=until, from_index=from_index or None, count=count)
        return web.json_response({"count": len(entries), "last_index": log.last_index,
                                  "entries": [self._entry(e) for e in entries]})

    async def conlogbook(self, request: web.Request) -> web.Response:
        return self._logbook(request, Role.CONSUMER)

    async def syslogbook(self, request: web.Request) -> web.Response:
        return self._logbook(request, Role.SERVICE_TECHNICIAN)

    # -- self-test --------------------------------------------------------------------------------

    async def selftest(self, request: web.Request) -> web.Response:
        report = self._run_self_test(self._authenticate(request))
        return web.json_response({"state": "started", "started": iso_local(report.started)})
