"""What the HAN dialects of the virtual SMGW share (``docs/han.md``, ``docs/han-ppc-emh.md``).

* :class:`HanApplication`: the gateway state, HTTP Digest with the login lock
  (Anmeldesperre), the request size limit, the scenario's response delay, one error middleware
  and the ``Server`` header. A dialect renders refusals in its own form (:meth:`_failure`).
* :class:`JsonHanApplication`: the JSON dialects (CONEXA M2M, EMH CASA): error objects
  ``{"error", "message", "remaining-seconds"}``, client certificates (mutual TLS) and the
  one-session-per-user rule on Digest nonces.
* :class:`Restart`: how a dialect takes the whole gateway down for a while (PPC self-test);
  :func:`app.sim.smgw.server.start_han_server` binds it to :meth:`HanServerHandle.pause`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from app.security.tls import fingerprint
from app.sim.smgw.access import HanUser, Role, SelfTestLocked
from app.sim.smgw.digest import DigestOutcome, DigestServer
from app.sim.smgw.state import LmnMeter, SelfTestReport, SmgwState

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The ``Server`` header of every dialect (the project's choice, see ``docs/han.md``): a
#: generic name without framework, version or vendor word, so that vendor detection against the
#: virtual SMGW finds no evidence a real gateway might not give.
SERVER_SOFTWARE = "httpd"


class Refusal(Exception):  # noqa: N818 - carries the response to send
    """Raised by a handler to answer with ``response`` (an error object or page)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def retry_seconds(remaining: float) -> int:
    """Whole seconds for ``Retry-After`` and countdowns (at least 1)."""
    return max(1, math.ceil(remaining))


def json_error(status: int, code: str, message: str, *, remaining: float | None = None,
               headers: CIMultiDict[str] | None = None) -> web.Response:
    """``{"error": code, "message": ..., "remaining-seconds": n}`` (with ``Retry-After``)."""
    body: dict[str, Any] = {"error": code, "message": message}
    sent = headers or CIMultiDict()
    if remaining is not None:
        seconds = retry_seconds(remaining)
        body["remaining-seconds"] = seconds
        sent["Retry-After"] = str(seconds)
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers=sent)


def refuse(status: int, code: str, message: str, *, remaining: float | None = None) -> Refusal:
    """A JSON error answer to raise."""
    return Refusal(json_error(status, code, message, remaining=remaining))


def bad_request(message: str) -> Refusal:
    return refuse(400, "bad-request", message)


def visible_meters(state: SmgwState, user: HanUser) -> list[LmnMeter]:
    """The meters of the account's evaluation profiles; the service technician sees all."""
    ids = []
    for profile in state.profiles_for(user):
        ids.extend(m for m in profile.meters if m not in ids)
    if user.role is Role.SERVICE_TECHNICIAN:
        ids.extend(m.server_id for m in state.meters if m.server_id not in ids)
    return [m for m in (state.meter(i) for i in ids) if m is not None]


@dataclass
class Restart:
    """A dialect's way to restart the gateway: the server goes away for ``seconds`` (gateway
    clock), then ``on_resume`` runs. ``pause`` is bound by the server handle; an application
    served without one only does what the dialect itself does (e.g. end the sessions)."""

    pause: Callable[[float, Callable[[], None] | None], Awaitable[None]] | None = None

    def __call__(self, seconds: float, on_resume: Callable[[], None] | None = None) -> None:
        if self.pause is None:
            return
        task = asyncio.get_running_loop().create_task(self.pause(seconds, on_resume))
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)


_TASKS: set[asyncio.Task[None]] = set()
#: Where :func:`app.sim.smgw.server.start_han_server` finds a dialect's :class:`Restart`.
RESTART = web.AppKey("smgw_restart", Restart)


class HanApplication:
    """Base of a HAN dialect around one :class:`SmgwState`."""

    dialect = "?"
    max_request_bytes = 64 * 1024
    server_software = SERVER_SOFTWARE
    #: refusal texts (the PPC portal's are German)
    AUTH_REQUIRED = "authentication required"
    BAD_CREDENTIALS = "malformed Authorization header"
    HAN_DISABLED = "HAN access is not enabled"
    TOO_LARGE = "request body too large"
    INTERNAL_ERROR = "internal error"

    def __init__(self, state: SmgwState) -> None:
        self.state = state
        han = state.han
        self.digest = DigestServer(han.realm, clock=state.clock, algorithms=han.digest_algorithms,
                                   md5_only=han.md5_only, nonce_lifetime=han.nonce_lifetime)

    def _failure(self, status: int, code: str, message: str, *,
                 headers: CIMultiDict[str] | None = None) -> web.Response:
        """The dialect's error answer (``code``: a short machine word like ``bad-request``)."""
        raise NotImplementedError

    def _locked(self, remaining: float) -> Refusal:
        """The answer while the login lock lasts."""
        raise NotImplementedError

    def _new_application(self, *outer: Any) -> web.Application:
        """An aiohttp application with the request limit, ``outer`` middlewares, the error
        middleware, the response delay and the ``Server`` header."""
        app = web.Application(client_max_size=self.max_request_bytes,
                              middlewares=[*outer, self._errors, self._delay])
        app.on_response_prepare.append(self._server_header)
        return app

    # -- middlewares ------------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refusal as refusal:
            return refusal.response
        except web.HTTPRequestEntityTooLarge:
            return self._failure(400, "bad-request", self.TOO_LARGE)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            headers: CIMultiDict[str] = CIMultiDict()
            if exc.status == 405:
                headers["Allow"] = exc.headers.get("Allow", "")
            return self._failure(exc.status, exc.reason.lower().replace(" ", "-"), exc.reason,
                                 headers=headers)
        except Exception:  # an internal error of the gateway, not of the client
            log.exception("virtual SMGW (%s): internal error", self.dialect)
            return self._failure(500, "internal-error", self.INTERNAL_ERROR)

    @web.middleware
    async def _delay(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        delay = self.state.han.response_delay
        if delay > 0:
            await asyncio.sleep(delay)
        return await handler(request)

    async def _server_header(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Server"] = self.server_software

    # -- HTTP Digest ------------------------------------------------------------------------------

    def _ha1(self, user: str, algorithm: str) -> str | None:
        account = self.state.users.get(user)
        return account.ha1.get(algorithm) if account else None

    def _refusal(self, status: int, code: str, message: str) -> Refusal:
        return Refusal(self._failure(status, code, message))

    def _challenge(self, *, stale: bool = False, continues: str | None = None) -> Refusal:
        headers: CIMultiDict[str] = CIMultiDict()
        for value in self.digest.challenges(stale=stale, continues=continues):
            headers.add("WWW-Authenticate", value)
        return Refusal(self._failure(401, "unauthorized", self.AUTH_REQUIRED, headers=headers))

    def _require_han(self) -> None:
        if not self.state.han_available:
            raise self._refusal(403, "han-disabled", self.HAN_DISABLED)

    def _digest_login(self, request: web.Request) -> tuple[str, str]:
        """User name and nonce of valid Digest credentials. Otherwise the refusal: a challenge
        (also ``stale=true``), malformed credentials, or the login lock, which a wrong password
        brings closer (unknown names count alike)."""
        state = self.state
        check = self.digest.check(request.method, request.path_qs,
                                  request.headers.get("Authorization"), self._ha1)
        outcome = check.outcome
        if outcome is DigestOutcome.MISSING:
            raise self._challenge()
        if outcome in (DigestOutcome.MALFORMED, DigestOutcome.URI_MISMATCH):
            raise self._refusal(400, "bad-request", self.BAD_CREDENTIALS)
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
        return name, check.nonce


class JsonHanApplication(HanApplication):
    """Base of the JSON dialects: JSON error objects, client certificates, Digest sessions."""

    def _failure(self, status: int, code: str, message: str, *,
                 headers: CIMultiDict[str] | None = None) -> web.Response:
        return json_error(status, code, message, headers=headers)

    def _locked(self, remaining: float) -> Refusal:
        minutes, seconds = divmod(math.ceil(remaining), 60)
        return refuse(403, "login-locked",
                      f"Login locked for {minutes} min {seconds} s after too many failed attempts",
                      remaining=remaining)

    def _authenticate(self, request: web.Request) -> HanUser:
        """The account of a registered client certificate (mutual TLS) or of HTTP Digest, under
        the one-session-per-user rule."""
        self._require_han()
        state = self.state
        transport = request.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            user = state.user_by_certificate(fingerprint(der))
            if user is not None:
                return self._open_session(user, f"tls:{id(transport)}")
        name, nonce = self._digest_login(request)
        if state.sessions.was_ended(name, nonce):
            self.digest.revoke(nonce)
            raise self._challenge()
        previous = self.digest.continued_from(nonce)
        if previous is not None:
            state.sessions.rebind(name, previous, nonce)
        return self._open_session(state.users[name], nonce)

    def _open_session(self, user: HanUser, token: str) -> HanUser:
        state = self.state
        if not user.enabled:
            raise refuse(403, "han-disabled", "HAN access is not enabled for this user")
        decision = state.sessions.use(user.name, token)
        if not decision.accepted:
            raise refuse(403, "session-active", "another session of this user is active",
                         remaining=decision.busy_seconds)
        if decision.replaced is not None and not decision.replaced.token.startswith("tls:"):
            self.digest.revoke(decision.replaced.token)
        if decision.new:
            state.login_succeeded(user, new_session=True, replaced=decision.replaced is not None)
        return user

    def _run_self_test(self, user: HanUser) -> SelfTestReport:
        """Run the self-test; 403 ``self-test-locked`` within the repeat interval."""
        try:
            return self.state.run_self_test(user)
        except SelfTestLocked as locked:
            raise refuse(403, "self-test-locked", "the self-test may run once every 10 minutes",
                         remaining=locked.remaining) from locked
