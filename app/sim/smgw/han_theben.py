"""HAN server of the virtual SMGW in the Theben CONEXA ``IF_GW_CON`` dialect (JSON "M2M").

Follows the public interface description as far as it is known (``docs/han.md`` lists every
point where the public material is silent and what this server does there):

* ``GET`` or ``POST /smgw/m2m`` → ``307`` with ``Location: /smgw/m2m/<user-id>/json``.
* ``POST /smgw/m2m/<user-id>/json`` with ``{"method": ...}``: ``smgw-info``, ``user-info``,
  ``usage-point-info``, ``readings``, ``log`` (``count`` ≤ 1500), ``self-test`` (403 within
  10 minutes of the last run). Answers: ``{"elapsed-time", "method", "version", <method>: ...}``.
* Status codes 400 (malformed), 401 (Digest challenge), 403 (lock, self-test lock, HAN not
  enabled, not permitted), 404 (unknown path or user id), 405 (wrong HTTP method), 500.
* Authentication: a registered client certificate (mutual TLS, optional) or HTTP Digest.
"""

from __future__ import annotations

import asyncio
import binascii
import datetime as dt
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from app.security.tls import fingerprint
from app.sim.smgw.access import HanUser, Role, SelfTestLocked
from app.sim.smgw.digest import DigestOutcome, DigestServer
from app.sim.smgw.logs import GatewayLogEntry
from app.sim.smgw.state import EvaluationProfile, RegisterValue, SmgwState

log = logging.getLogger(__name__)

ROOT = "/smgw/m2m"
MAX_LOG_COUNT = 1500
MAX_READINGS_WINDOW = dt.timedelta(days=31)
MAX_REQUEST_BYTES = 64 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def xsd_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex(data: bytes) -> str:
    return binascii.hexlify(data).decode("ascii")


class _Refusal(Exception):  # noqa: N818 - carries the response to send
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _error(status: int, code: str, message: str, *, remaining: float | None = None,
           headers: CIMultiDict[str] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": code, "message": message}
    hdrs = headers or CIMultiDict()
    if remaining is not None:
        seconds = max(1, math.ceil(remaining))
        body["remaining-seconds"] = seconds
        hdrs["Retry-After"] = str(seconds)
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers=hdrs)


def _bad(message: str) -> _Refusal:
    return _Refusal(_error(400, "bad-request", message))


def _parse_time(value: Any, name: str) -> dt.datetime:
    if not isinstance(value, str):
        raise _bad(f"'{name}' must be a date/time text")
    text = value.strip()
    try:
        moment = dt.datetime.fromisoformat(text + "T00:00:00" if len(text) == 10 else text)
    except ValueError as exc:
        raise _bad(f"'{name}' is not a date/time like 2026-01-31T00:00:00Z") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _parse_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise _bad(f"'{name}' must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
        return int(value)
    raise _bad(f"'{name}' must be a whole number")


def _parse_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad(f"'{name}' must be true or false")


class ThebenHanServer:
    """The CONEXA-dialect HAN application around one :class:`SmgwState`."""

    def __init__(self, state: SmgwState) -> None:
        self.state = state
        han = state.han
        self.digest = DigestServer(han.realm, clock=state.clock, algorithms=han.digest_algorithms,
                                   md5_only=han.md5_only, nonce_lifetime=han.nonce_lifetime)
        self.methods: dict[str, Callable[[HanUser, dict[str, Any]], Any]] = {
            "smgw-info": self._smgw_info,
            "user-info": self._user_info,
            "usage-point-info": self._usage_point_info,
            "readings": self._readings,
            "log": self._log,
            "self-test": self._self_test,
        }

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES,
                              middlewares=[self._errors, self._delay])
        for path in (ROOT, ROOT + "/"):
            app.router.add_route("GET", path, self.root)
            app.router.add_route("POST", path, self.root)
        for path in (ROOT + "/{endpoint}/json", ROOT + "/{endpoint}/json/"):
            app.router.add_route("POST", path, self.method)
        return app

    # -- middlewares ------------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except _Refusal as refusal:
            return refusal.response
        except web.HTTPRequestEntityTooLarge:
            return _error(400, "bad-request", "request body too large")
        except web.HTTPException as exc:
            if exc.status >= 400:
                headers = CIMultiDict()
                if exc.status == 405:
                    headers["Allow"] = exc.headers.get("Allow", "")
                return _error(exc.status, exc.reason.lower().replace(" ", "-"), exc.reason,
                              headers=headers)
            raise
        except Exception:  # an internal error of the gateway, not of the client
            log.exception("virtual SMGW: internal error")
            return _error(500, "internal-error", "internal error")

    @web.middleware
    async def _delay(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        delay = self.state.han.response_delay
        if delay > 0:
            await asyncio.sleep(delay)
        return await handler(request)

    # -- authentication ---------------------------------------------------------------------------

    def _ha1(self, user: str, algorithm: str) -> str | None:
        account = self.state.users.get(user)
        return account.ha1.get(algorithm) if account else None

    def _challenge(self, *, stale: bool = False, continues: str | None = None) -> _Refusal:
        headers: CIMultiDict[str] = CIMultiDict()
        for value in self.digest.challenges(stale=stale, continues=continues):
            headers.add("WWW-Authenticate", value)
        return _Refusal(_error(401, "unauthorized", "authentication required", headers=headers))

    def _locked(self, remaining: float) -> _Refusal:
        minutes, seconds = divmod(math.ceil(remaining), 60)
        return _Refusal(_error(
            403, "login-locked",
            f"Login locked for {minutes} min {seconds} s after too many failed attempts",
            remaining=remaining,
        ))

    def _authenticate(self, request: web.Request) -> HanUser:
        state = self.state
        if not state.han_available:
            raise _Refusal(_error(403, "han-disabled", "HAN access is not enabled"))
        transport = request.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            user = state.user_by_certificate(fingerprint(der))
            if user is not None:
                return self._open_session(user, f"tls:{id(transport)}")
        check = self.digest.check(request.method, request.path_qs,
                                  request.headers.get("Authorization"), self._ha1)
        outcome = check.outcome
        if outcome is DigestOutcome.MISSING:
            raise self._challenge()
        if outcome in (DigestOutcome.MALFORMED, DigestOutcome.URI_MISMATCH):
            raise _bad("malformed Authorization header")
        name = check.user or ""
        remaining = state.guard.remaining(name)
        if remaining:
            raise self._locked(remaining)
        if outcome is DigestOutcome.BAD_RESPONSE:
            remaining = state.login_failed(name)
            if remaining:
                raise self._locked(remaining)
            raise self._challenge()
        if outcome is DigestOutcome.STALE:
            raise self._challenge(stale=True, continues=check.nonce)
        if outcome is not DigestOutcome.OK or check.nonce is None:
            raise self._challenge()  # unknown, revoked or replayed nonce: log in afresh
        user = state.users[name]
        if state.sessions.was_ended(name, check.nonce):
            self.digest.revoke(check.nonce)
            raise self._challenge()
        previous = self.digest.continued_from(check.nonce)
        if previous is not None:
            state.sessions.rebind(name, previous, check.nonce)
        return self._open_session(user, check.nonce)

    def _open_session(self, user: HanUser, token: str) -> HanUser:
        state = self.state
        if not user.enabled:
            raise _Refusal(_error(403, "han-disabled", "HAN access is not enabled for this user"))
        decision = state.sessions.use(user.name, token)
        if not decision.accepted:
            raise _Refusal(_error(403, "session-active",
                                  "another session of this user is active",
                                  remaining=decision.busy_seconds))
        if decision.replaced is not None and not decision.replaced.token.startswith("tls:"):
            self.digest.revoke(decision.replaced.token)
        if decision.new:
            state.login_succeeded(user, new_session=True, replaced=decision.replaced is not None)
        return user

    # -- routes -----------------------------------------------------------------------------------

    async def root(self, request: web.Request) -> web.StreamResponse:
        user = self._authenticate(request)
        raise web.HTTPTemporaryRedirect(f"{ROOT}/{user.endpoint}/json")

    async def method(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        user = self._authenticate(request)
        if request.match_info["endpoint"] != user.endpoint:
            raise _Refusal(_error(404, "not-found", "no such user endpoint"))
        if self.state.han.strict_content_type:
            content_type = request.headers.get("Content-Type", "").strip().lower()
            if content_type != "application/json":
                raise _bad("Content-Type must be exactly application/json")
            if request.headers.get("Transfer-Encoding", "").lower() == "chunked" \
                    or request.content_length is None:
                raise _bad("Content-Length is required")
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise _bad("the body is not valid JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get("method"), str):
            raise _bad("the body must be a JSON object with 'method'")
        name = body["method"]
        handler = self.methods.get(name)
        if handler is None:
            raise _bad(f"unknown method '{name[:40]}'")
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
            raise _bad("'usage-point-id' is required")
        profile = self.state.profile(user, up_id)
        if profile is None:
            raise _bad(f"unknown usage point '{up_id[:80]}'")
        return profile

    def _register(self, profile: EvaluationProfile, obis: Any) -> tuple[RegisterValue, bool] | None:
        """The register behind a channel and whether its meter answers on the LMN."""
        for sid in profile.meters:
            meter = self.state.meter(sid)
            if meter is not None:
                register = meter.register(obis)
                if register is not None:
                    return register, meter.present
        return None

    def _usage_point_info(self, user: HanUser, body: dict[str, Any]) -> dict[str, Any]:
        profile = self._profile_param(user, body)
        database = body.get("database")
        if database is not None and database not in profile.databases:
            raise _bad(f"unknown database '{str(database)[:40]}'")
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
            raise _Refusal(_error(403, "forbidden", "readings are for the consumer only"))
        profile = self._profile_param(user, body)
        database = body.get("database", "origin")
        if database not in profile.databases:
            raise _bad(f"unknown database '{str(database)[:40]}'")
        last = _parse_bool(body.get("last-reading", False), "last-reading")
        wanted = profile.channels
        if "channels" in body:
            if not isinstance(body["channels"], list):
                raise _bad("'channels' must be a list")
            names = set()
            for item in body["channels"]:
                if not isinstance(item, dict) or not isinstance(item.get("channel"), str):
                    raise _bad("'channels' entries must be {\"channel\": <obis>}")
                names.add(item["channel"].lower())
            wanted = [o for o in profile.channels if o.hex in names]
        now = self.state.now()
        period = dt.timedelta(seconds=profile.registration_period)
        if last:
            targets = [self._floor(now, period)]
        else:
            if "fromtime" not in body or "totime" not in body:
                raise _bad("'fromtime' and 'totime' are required unless 'last-reading' is true")
            start = _parse_time(body["fromtime"], "fromtime")
            end = min(_parse_time(body["totime"], "totime"), now)
            if start > end:
                raise _bad("'fromtime' lies after 'totime'")
            if end - start > MAX_READINGS_WINDOW:
                raise _bad("the time range may span at most 31 days")
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
            if found is not None and found[1]:
                register = found[0]
                for target in targets:
                    rows.append({
                        "capture-time": xsd_time(target + dt.timedelta(seconds=2)),
                        "target-time": xsd_time(target),
                        "value": str(register.value_at(target, now)),
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
                raise _bad(f"'count' must be between 1 and {MAX_LOG_COUNT}")
        since = _parse_time(body["fromtime"], "fromtime") if "fromtime" in body else None
        until = _parse_time(body["totime"], "totime") if "totime" in body else None
        from_index = _parse_int(body["fromindex"], "fromindex") if "fromindex" in body else None
        entries = self.state.log_for(user.role).query(since=since, until=until,
                                                      from_index=from_index, count=count)
        return {"count": str(len(entries)), "log-entries": [self._entry_json(e) for e in entries]}

    def _self_test(self, user: HanUser, body: dict[str, Any]) -> dict[str, Any]:
        try:
            self.state.run_self_test(user)
        except SelfTestLocked as locked:
            raise _Refusal(_error(403, "self-test-locked",
                                  "the self-test may run once every 10 minutes",
                                  remaining=locked.remaining)) from locked
        return {"state": "started"}
