"""HTTP plumbing of the technician API: constants, problem documents (RFC 9457), the
middlewares (errors, client certificate) and the parsing of query parameters and cursors."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from app.errors import InvalidValue, Text
from app.security import tls
from app.sim.gwa.technician_runner import JobRunner
from app.transports.gwa import sse
from app.transports.gwa.problem import MEDIA_TYPE as PROBLEM_TYPE
from app.transports.gwa.problem import Problem, encode_problem

log = logging.getLogger(__name__)

API_PREFIX = "/tech/v1"
GWA_NAME = "smgwct reference GWA"
XML_TYPE = "application/xml"
CURSOR_HEADER = "GWA-Cursor"
CURSORS_HEADER = "GWA-Cursors"  # one cursor per event of a long-poll eventReport
MAX_WAIT_S = 30.0
MAX_REPORT = 100  # eventReport holds at most 100 events (event.xsd)
#: the technician certificate's fingerprint, stored on each request
TECHNICIAN: Any = (web.RequestKey("technician_sha256", str) if hasattr(web, "RequestKey")
                   else "technician_sha256")
RUNNER = web.AppKey("tech_runner", JobRunner)
CONFIG = web.AppKey("tech_config", dict)


def _problem(
    status: int, code: str, en: str, de: str, *, field: str | None = None,
    hint: Text | None = None, request: web.Request | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body = encode_problem(Problem(status, code, Text(en, de), field=field, hint=hint,
                                  instance=None if request is None else request.path))
    return web.Response(status=status, body=body, content_type=PROBLEM_TYPE,
                        headers=dict(headers or {}))


class ProblemError(Exception):
    """Carries a problem answer out of a handler (see :func:`fail`)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def fail(status: int, code: str, en: str, de: str, **kw: Any) -> ProblemError:
    """A problem document (de/en) to raise from a handler."""
    return ProblemError(_problem(status, code, en, de, **kw))


_HTTP_CODES: dict[int, tuple[str, str, str]] = {
    404: ("not-found", "There is nothing at this address of the technician API.",
          "Unter dieser Adresse der Techniker-Schnittstelle gibt es nichts."),
    405: ("method-not-allowed", "This method is not allowed at this address.",
          "Diese Methode ist an dieser Adresse nicht erlaubt."),
    413: ("request-too-large", "The request body is too large (at most 1 MiB).",
          "Der Anfrageinhalt ist zu groß (höchstens 1 MiB)."),
}


@web.middleware
async def problems_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Every error leaves as a problem document."""
    try:
        return await handler(request)
    except ProblemError as exc:
        return exc.response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, en, de = _HTTP_CODES.get(exc.status, ("http-error", exc.reason, exc.reason))
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return _problem(exc.status, code, en, de, request=request, headers=headers)
    except InvalidValue as exc:
        return _problem(400, "malformed-request", exc.message.en, exc.message.de,
                        field=exc.field, hint=exc.hint, request=request)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("technician API: %s %s failed", request.method, request.path)
        return _problem(500, "internal-error", "The GWA failed internally; try again later.",
                        "Im GWA ist ein interner Fehler aufgetreten; bitte später erneut "
                        "versuchen.", request=request)


@web.middleware
async def client_identity_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Record the technician certificate's fingerprint of every request."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    if ssl_object is None or not ssl_object.getpeercert(binary_form=True):
        raise fail(403, "client-certificate-required",
                   "The technician API accepts only connections with a technician certificate.",
                   "Die Techniker-Schnittstelle nimmt nur Verbindungen mit "
                   "Techniker-Zertifikat an.")
    request[TECHNICIAN] = tls.peer_fingerprint(ssl_object)
    return await handler(request)


def runner_of(request: web.Request) -> JobRunner:
    """The application's job runner."""
    return request.app[RUNNER]


def xml_response(body: bytes, status: int = 200,
                 headers: Mapping[str, str] | None = None) -> web.Response:
    """An ``application/xml`` answer."""
    return web.Response(status=status, body=body, content_type=XML_TYPE,
                        headers=dict(headers or {}))


def job_url(job_id: uuid.UUID) -> str:
    """The path of a job (``Location``)."""
    return f"{API_PREFIX}/jobs/{job_id}"


def query_number(request: web.Request, name: str, default: float, high: float) -> float:
    """A number >= 0 from the query, capped at ``high``; 400 when it is none."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise fail(400, "bad-query", f"The query parameter {name} must be a number >= 0, "
                   f"not '{raw[:20]}'.",
                   f"Der Abfrageparameter {name} muss eine Zahl >= 0 sein, nicht '{raw[:20]}'.",
                   field=name, request=request)
    return min(value, high)


def cursor_of(request: web.Request) -> int:
    """The event cursor: ``Last-Event-ID`` or ``after`` (default 0)."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    if not raw.strip().isdigit():
        raise fail(400, "bad-query", f"The event cursor must be a whole number >= 0, not "
                   f"'{raw[:20]}'.",
                   f"Der Ereignis-Cursor muss eine ganze Zahl >= 0 sein, nicht '{raw[:20]}'.",
                   field="after", request=request)
    return int(raw.strip())


def one_line(document: bytes) -> str:
    """A serialised document without its XML declaration: one line of SSE data."""
    text = document.decode("utf-8")
    if text.startswith("<?xml"):
        text = text[text.index("?>") + 2 :].lstrip()
    return text


def wants_stream(request: web.Request) -> bool:
    """Whether the client asks for server-sent events."""
    return sse.MEDIA_TYPE in request.headers.get("Accept", "")
