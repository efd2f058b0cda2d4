"""``smgwct gwa``: talk to the Gateway Administrator's technician API (GWA-Anbindung).

::

    smgwct gwa status                      --url URL --ca CA.pem --cert tech.p12
    smgwct gwa run PROCESS --smgw-id ID [--param k=v ...] [--params-file F]
    smgwct gwa events --smgw-id ID [--follow]
    smgwct gwa queue [--flush]

``--demo`` uses the embedded default's reference GWA instead of ``--url/--ca/--cert``. The key
password of a protected certificate comes from standard input (``--password-stdin``; with
``--save-password`` it is kept in the keyring once it has opened the file) or from the keyring
(``client-cert-password/<digest>``; the older ``gwa-certificate/<digest>`` is still read), never
from an argument. ``app.security.client_certificate`` loads the certificate.

With ``--json`` every progress event and every gateway event is one JSON object per line
(``"type": "progress"`` / ``"event"``), followed by one ``"type": "result"`` object. Exit status:
0 done, 1 failed or error, 3 queued offline (the GWA was unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from app.cli import language
from app.cli.common import positive_number, usage
from app.errors import ConfigurationError, InvalidValue, SmgwctError, Text
from app.security.client_certificate import open_client_certificate

EXIT_OK, EXIT_FAILED, EXIT_QUEUED = 0, 1, 3
MAX_PARAMS_FILE = 1024 * 1024


def register(sub: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    link = common.add_argument_group("GWA link")
    link.add_argument("--url", help="base URL of the GWA's technician API, e.g. "
                                    "https://gwa.example:8443")
    link.add_argument("--ca", type=Path, help="CA certificate(s) of the GWA (PEM)")
    link.add_argument("--cert", type=Path,
                      help="technician certificate: PEM (chain, key inside or --key) or PKCS#12")
    link.add_argument("--key", type=Path, help="private key (PEM) if not inside --cert")
    link.add_argument("--password-stdin", action="store_true",
                      help="read the key/PKCS#12 password from standard input")
    link.add_argument("--save-password", action="store_true",
                      help="with --password-stdin: keep the password in the keyring")
    link.add_argument("--pin", help="expected SHA-256 fingerprint of the GWA certificate")
    link.add_argument("--tls-group", help="key-exchange group (default: the certificate's "
                                          "curve, e.g. brainpoolP256r1)")
    link.add_argument("--demo", action="store_true",
                      help="use the reference GWA of the built-in demo environment")
    link.add_argument("--timeout", type=positive_number, default=30.0,
                      help="seconds per request (default 30)")
    link.add_argument("--json", action="store_true", help="one JSON object per line")

    parser = sub.add_parser("gwa", help="GWA link: run processes through the Gateway "
                                        "Administrator (GWA-Anbindung)")
    gsub = parser.add_subparsers(dest="gwa_command", metavar="ACTION")
    parser.set_defaults(func=lambda _a: usage(parser))

    status = gsub.add_parser("status", parents=[common],
                             help="check the link and list the GWA's processes")
    status.set_defaults(func=run_status)

    run = gsub.add_parser("run", parents=[common], help="run a process on a gateway")
    run.add_argument("process", help="e.g. meter_profile.create, pairing, self_test")
    run.add_argument("--smgw-id", required=True, help="gateway ID, e.g. EDEM0100000001")
    run.add_argument("--param", action="append", default=[], metavar="K=V",
                     help="a process parameter (repeatable)")
    run.add_argument("--params-file", type=Path,
                     help="parameters as JSON object, or an XML profile/methodCall document")
    run.add_argument("--work-order", help="work order number sent along")
    run.add_argument("--no-queue", action="store_true",
                     help="fail instead of queueing when the GWA is unreachable")
    run.add_argument("--long-poll", action="store_true",
                     help="follow progress by long-poll instead of server-sent events")
    run.set_defaults(func=run_process)

    events = gsub.add_parser("events", parents=[common], help="the gateway's events at the GWA")
    events.add_argument("--smgw-id", required=True, help="gateway ID")
    events.add_argument("--follow", action="store_true", help="keep waiting for new events")
    events.add_argument("--after", type=int, default=0, help="start after this cursor")
    events.add_argument("--long-poll", action="store_true", help="follow by long-poll")
    events.set_defaults(func=run_events)

    queue = gsub.add_parser("queue", parents=[common], help="requests waiting for the GWA")
    queue.add_argument("--flush", action="store_true", help="send them now")
    queue.set_defaults(func=run_queue)


def _say(en: str, de: str) -> str:
    return de if language() == "de" else en


def _emit(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


# --- target and certificate -------------------------------------------------------------------


def _read(path: Path, field: str, limit: int = 1024 * 1024) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidValue(Text(f"{path} cannot be read: {exc.strerror or exc}.",
                                f"{path} kann nicht gelesen werden: {exc.strerror or exc}."),
                           field=field) from None
    if len(data) > limit:
        raise InvalidValue(Text(f"{path} is too large for a certificate file.",
                                f"{path} ist zu groß für eine Zertifikatsdatei."), field=field)
    return data


class _CertificatePasswords:
    """Password source of the technician certificate: standard input with ``--password-stdin``
    (kept in the keyring with ``--save-password`` once it has opened the file), else the
    keyring. This command never prompts."""

    hint = Text("Pipe it in with --password-stdin (add --save-password to keep it in the "
                "keyring).",
                "Übergeben Sie es mit --password-stdin (mit --save-password wird es im "
                "Schlüsselbund gespeichert).")

    def __init__(self, args: argparse.Namespace) -> None:
        self._stdin = bool(args.password_stdin)
        self._save = bool(args.save_password)

    def given(self) -> str | None:
        return sys.stdin.readline().rstrip("\r\n") if self._stdin else None

    def stored(self, name: str) -> str | None:
        from app.security.secrets import KeyringSecretStore, SecretStoreUnavailable

        try:
            return KeyringSecretStore().get(name)
        except SecretStoreUnavailable:
            return None

    def ask(self, prompt: Text) -> str | None:
        return None

    def remember(self, name: str, password: str) -> None:
        from app.security.secrets import KeyringSecretStore

        if self._save:
            KeyringSecretStore().set(name, password)


@contextlib.asynccontextmanager
async def _link(args: argparse.Namespace) -> AsyncIterator[Any]:
    """A GwaLink for the arguments (starting the demo environment if asked)."""
    from app.context import AppContext, GwaTarget
    from app.store.settings import data_dir
    from app.transports.gwa import GwaLink

    embedded = None
    try:
        with contextlib.ExitStack() as files:
            if args.demo:
                from app.sim.embedded import EmbeddedDefault

                embedded = EmbeddedDefault()
                await embedded.start()
                target = embedded.context.gwa
                context = embedded.context
                queue_path = embedded.data_dir / "demo" / "gwa-queue.sqlite"
                if target is None:
                    raise ConfigurationError(Text("The demo environment has no GWA.",
                                                  "Die Demo-Umgebung hat keinen GWA."))
            else:
                missing = [n for n in ("url", "ca", "cert") if getattr(args, n) is None]
                if missing:
                    raise InvalidValue(
                        Text(f"--{missing[0]} is required (or use --demo).",
                             f"--{missing[0]} fehlt (oder --demo verwenden)."),
                        field=missing[0])
                chain = await asyncio.to_thread(files.enter_context, open_client_certificate(
                    args.cert, key_path=args.key, password_source=_CertificatePasswords(args)))
                target = GwaTarget(args.url, _read(args.ca, "ca"), chain,
                                   pin_sha256=args.pin, tls_group=args.tls_group or chain.group)
                context = AppContext(gwa=target)
                queue_path = data_dir(create=True) / "gwa-queue.sqlite"
            link = GwaLink(target, queue_path=queue_path, context=context, timeout=args.timeout,
                           follow_mode="long-poll" if getattr(args, "long_poll", False)
                           else "sse")
            try:
                yield link
            finally:
                await link.close()
    finally:
        if embedded is not None:
            await embedded.stop()


# --- actions ------------------------------------------------------------------------------------


def _main(args: argparse.Namespace, coro: Any) -> int:
    try:
        return int(asyncio.run(coro))
    except KeyboardInterrupt:
        return 130
    except SmgwctError as exc:
        if args.json:
            _emit({"type": "result", "ok": False, "error": {
                "kind": getattr(exc, "kind", type(exc).__name__), "field": exc.field,
                "status": getattr(exc, "status", None), "code": getattr(exc, "code", None),
                "en": exc.describe("en"), "de": exc.describe("de")}})
        raise


def run_status(args: argparse.Namespace) -> int:
    return _main(args, _status(args))


async def _status(args: argparse.Namespace) -> int:
    from app.security.tls import format_fingerprint

    async with _link(args) as link:
        status = await link.status()
        catalog = await link.catalog()
    if args.json:
        _emit({"type": "status", "url": link.base_url, "gwa": status.name,
               "version": status.version, "time": status.time,
               "gwa_sha256": status.gwa_sha256, "technician_sha256": status.technician_sha256,
               "processes": [{"name": p.name, "available": p.available,
                              "params": list(p.params)} for p in catalog]})
        return EXIT_OK
    lang = language()
    print(f"GWA: {status.name} {status.version} ({link.base_url})")
    print(_say("GWA certificate SHA-256:        ", "GWA-Zertifikat SHA-256:         ")
          + format_fingerprint(status.gwa_sha256))
    print(_say("Technician certificate SHA-256: ", "Techniker-Zertifikat SHA-256:   ")
          + format_fingerprint(status.technician_sha256))
    available = [p for p in catalog if p.available]
    print(_say("Processes:", "Vorgänge:"))
    for p in available:
        print(f"  {p.name:28} {p.title.get(lang)}")
    if not available:
        print(_say("  (none available)", "  (keine verfügbar)"))
    return EXIT_OK


def _params(args: argparse.Namespace) -> dict[str, Any]:
    from app.transports.gwa.processes import SECRET_PARAMS

    params: dict[str, Any] = {}
    if args.params_file is not None:
        raw = _read(args.params_file, "params-file", MAX_PARAMS_FILE)
        if args.params_file.suffix.lower() == ".json":
            try:
                loaded = json.loads(raw)
            except ValueError as exc:
                raise InvalidValue(Text(f"{args.params_file} is not valid JSON ({exc}).",
                                        f"{args.params_file} ist kein gültiges JSON ({exc})."),
                                   field="params-file") from None
            if not isinstance(loaded, dict):
                raise InvalidValue(Text("The parameter file must hold one JSON object.",
                                        "Die Parameterdatei muss ein JSON-Objekt enthalten."),
                                   field="params-file")
            params.update({str(k): v for k, v in loaded.items()})
        else:
            params["document"] = raw
    for item in args.param:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidValue(Text(f"--param expects NAME=VALUE, not '{item}'.",
                                    f"--param erwartet NAME=WERT, nicht '{item}'."),
                               field="param")
        if name in SECRET_PARAMS:
            raise InvalidValue(
                Text(f"'{name}' is key material and must not appear on the command line.",
                     f"'{name}' ist Schlüsselmaterial und darf nicht in der Befehlszeile "
                     "stehen."),
                field=f"param {name}",
                hint=Text("Put it into a JSON file given with --params-file.",
                          "Tragen Sie ihn in eine JSON-Datei ein und geben Sie sie mit "
                          "--params-file an."))
        params[name] = value
    return params


def _event_json(event: Any) -> dict[str, Any]:
    known = event.type
    return {
        "id": str(event.id), "sequence": event.sequence, "code": event.code,
        "name": known.name if known is not None else None,
        "title": {"en": event.title.en, "de": event.title.de},
        "severity": str(event.severity), "time": event.time.isoformat(),
        "smgw_id": str(event.smgw_id), "component": str(event.component),
        "details": {d.name: d.value for d in event.details},
    }


def _progress_json(event: Any) -> dict[str, Any]:
    return {
        "type": "progress", "job_id": str(event.job_id), "sequence": event.sequence,
        "time": event.time.isoformat(), "state": str(event.state), "step": str(event.step),
        "detail": event.detail,
        "event": None if event.event is None else _event_json(event.event),
    }


def _print_progress(event: Any) -> None:
    lang = language()
    line = f"[{event.sequence:>3}] {event.state!s:10} {event.step!s:16}"
    if event.event is not None:
        line += f" {event.event.code} {event.event.title.get(lang)}"
    if event.detail:
        line += f" {event.detail}"
    print(line, flush=True)


def _print_result(result: Any) -> None:
    lang = language()
    if result.queued:
        print(result.summary.get(lang))
        print(_say("Idempotency key: ", "Idempotenzschlüssel: ") + str(result.idempotency_key))
        return
    mark = _say("OK", "OK") if result.ok else _say("FAILED", "FEHLGESCHLAGEN")
    print(f"{mark}: {result.process} {result.status.smgw_id} -> {result.state.value}: "
          f"{result.summary.get(lang)}")
    print(_say("Job: ", "Auftrag: ") + result.job_url)


def run_process(args: argparse.Namespace) -> int:
    return _main(args, _run(args))


async def _run(args: argparse.Namespace) -> int:
    params = _params(args)
    on_event = _emit if args.json else None

    def progress(event: Any) -> None:
        if on_event is not None:
            on_event(_progress_json(event))
        else:
            _print_progress(event)

    async with _link(args) as link:
        result = await link.run(args.process, args.smgw_id, params, progress=progress,
                                queue_if_offline=not args.no_queue, work_order=args.work_order)
    if args.json:
        _emit(result.to_json())
    else:
        _print_result(result)
    if result.queued:
        return EXIT_QUEUED
    return EXIT_OK if result.ok else EXIT_FAILED


def run_events(args: argparse.Namespace) -> int:
    return _main(args, _events(args))


async def _events(args: argparse.Namespace) -> int:
    lang = language()
    count = 0
    async with _link(args) as link:
        async for item in link.events(args.smgw_id, follow=args.follow, after=args.after):
            count += 1
            event = item.event
            if args.json:
                _emit({"type": "event", "cursor": item.cursor, **_event_json(event)})
            else:
                details = " ".join(f"{d.name}={d.value}" for d in event.details)
                print(f"{item.cursor:>5} {event.time:%Y-%m-%d %H:%M:%S} {event.severity!s:8} "
                      f"{event.code} {event.title.get(lang)} {details}".rstrip(), flush=True)
    if args.json:
        _emit({"type": "result", "ok": True, "events": count})
    return EXIT_OK


def run_queue(args: argparse.Namespace) -> int:
    return _main(args, _queue(args))


async def _queue(args: argparse.Namespace) -> int:
    lang = language()
    async with _link(args) as link:
        if not args.flush:
            entries = await link.queued()
            for entry in entries:
                if args.json:
                    _emit({"type": "queued", "idempotency_key": str(entry.idempotency_key),
                           "process": entry.process, "smgw_id": entry.smgw_id,
                           "queued": entry.created.isoformat(), "attempts": entry.attempts})
                else:
                    print(f"{entry.created:%Y-%m-%d %H:%M} {entry.process:28} {entry.smgw_id} "
                          f"{entry.idempotency_key}")
            if args.json:
                _emit({"type": "result", "ok": True, "pending": len(entries)})
            elif not entries:
                print(_say("No requests are waiting.", "Es warten keine Anfragen."))
            return EXIT_OK

        def progress(entry: Any, event: Any) -> None:
            if args.json:
                _emit({**_progress_json(event), "idempotency_key": str(entry.idempotency_key)})
            else:
                _print_progress(event)

        report = await link.flush(progress=progress)
    for result in report.sent:
        if args.json:
            _emit(result.to_json())
        else:
            _print_result(result)
    for entry, reason in report.rejected:
        if args.json:
            _emit({"type": "rejected", "idempotency_key": str(entry.idempotency_key),
                   "process": entry.process, "reason": {"en": reason.en, "de": reason.de}})
        else:
            print(_say("REJECTED: ", "ABGELEHNT: ") + f"{entry.process} {entry.smgw_id}: "
                  f"{reason.get(lang)}")
    ok = not report.rejected and report.stopped is None and all(r.ok for r in report.sent)
    if args.json:
        _emit({"type": "result", "ok": ok, "sent": len(report.sent),
               "rejected": len(report.rejected), "remaining": report.remaining,
               "stopped": None if report.stopped is None
               else {"en": report.stopped.en, "de": report.stopped.de}})
    else:
        if report.stopped is not None:
            print(report.stopped.get(lang), file=sys.stderr)
        print(_say(f"{len(report.sent)} sent, {report.remaining} still waiting.",
                   f"{len(report.sent)} gesendet, {report.remaining} warten noch."))
    return EXIT_OK if ok else EXIT_FAILED


__all__ = ["register"]
