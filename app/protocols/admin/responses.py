"""HTTP-Response (spec ch. 4.2.4, 5.16): the gateway's answer to one administration request.

``status`` is an HTTP status code, ``reason`` the machine-readable cause; each reason belongs to
exactly one status (:data:`~app.protocols.admin.catalog.REASONS`). The result carries what the
request produced: the stored profile, a method result, and, for a billing profile created with
first readout, the readings.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lxml import etree

from app.errors import Text
from app.protocols.admin import _xml as x
from app.protocols.admin import methods, profiles
from app.protocols.admin.catalog import (
    NS_RESPONSE,
    REASONS,
    RETRY_AFTER_STATUSES,
    Reason,
    ReasonInfo,
)
from app.protocols.admin.methods import MethodResult
from app.protocols.admin.profiles import Profile, Readings

ResultPayload = Profile | MethodResult


@dataclass(frozen=True)
class Response:
    """The answer to the request ``request_id``."""

    request_id: uuid.UUID
    status: int
    reason: Reason
    detail: str | None = None
    retry_after_seconds: int | None = None
    result: ResultPayload | None = None
    readings: Readings | None = None

    @classmethod
    def of(
        cls,
        request_id: uuid.UUID,
        reason: Reason,
        *,
        detail: str | None = None,
        retry_after_seconds: int | None = None,
        result: ResultPayload | None = None,
        readings: Readings | None = None,
    ) -> Response:
        """A response whose status is the one that belongs to ``reason``."""
        info = _reason_info(reason)
        return cls(request_id, info.status, info.reason, detail, retry_after_seconds, result,
                   readings)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> Text:
        """What the reason means, for the technician."""
        return _reason_info(self.reason).text


def _reason_info(reason: object) -> ReasonInfo:
    if not isinstance(reason, Reason):
        raise x.fail(
            "response.reason",
            f"Reason must be a Reason member, not {reason!r}; known: {', '.join(REASONS)}.",
            f"Der Grund muss ein Reason-Wert sein, nicht {reason!r}; bekannt: "
            f"{', '.join(REASONS)}.",
        )
    return REASONS[reason]


def _check(r: Response) -> None:
    x.expect(r, Response, "response")
    info = _reason_info(r.reason)
    if r.status != info.status:
        raise x.fail(
            "response.status",
            f"Reason {r.reason!r} goes with status {info.status}, not {r.status}.",
            f"Der Grund {r.reason!r} gehört zum Status {info.status}, nicht {r.status}.",
        )
    if r.status == 204 and (r.result is not None or r.readings is not None):
        raise x.fail("response.result", "A 204 response carries no result.",
                     "Eine Antwort 204 enthält kein Ergebnis.")
    if r.retry_after_seconds is not None and r.status not in RETRY_AFTER_STATUSES:
        raise x.fail(
            "response.retryAfter",
            f"retryAfter belongs to status 429 or 503, not {r.status}.",
            f"retryAfter gehört zu Status 429 oder 503, nicht {r.status}.",
        )


def encode_response(r: Response) -> etree._Element:
    _check(r)
    out = x.Out.root(NS_RESPONSE, "response", requestId=x.uuid_text(r.request_id, "requestId"),
                     status=r.status, reason=r.reason.value)
    out.opt("detail", r.detail)
    out.opt("retryAfter", r.retry_after_seconds)
    if r.result is not None or r.readings is not None:
        result = out.add("result")
        if r.result is not None:
            if isinstance(r.result, tuple(methods.RESULT_ELEMENTS)):
                result.append(methods.encode_result(r.result))  # type: ignore[arg-type]
            else:
                result.append(profiles.encode_profile(r.result))  # type: ignore[arg-type]
        if r.readings is not None:
            result.append(profiles.encode_readings(r.readings))
    return out.element


def decode_response(el: etree._Element) -> Response:
    r = x.In(el)
    retry = r.opt_text("retryAfter")
    payload: ResultPayload | None = None
    readings: Readings | None = None
    result = r.maybe("result")
    if result is not None:
        for child in result.elements():
            if profiles.is_profile_element(child):
                payload = profiles.decode_profile(child)
            elif methods.is_result_element(child):
                payload = methods.decode_result(child)
            else:
                readings = profiles.decode_readings(child)
    response = Response(
        request_id=x.read_uuid(r.attr("requestId")),
        status=int(r.attr("status")),
        reason=Reason(r.attr("reason")),
        detail=r.opt_text("detail"),
        retry_after_seconds=None if retry is None else int(retry),
        result=payload,
        readings=readings,
    )
    _check(response)
    return response
