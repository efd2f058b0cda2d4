"""``smgwct han``: read a gateway at its HAN port (HAN-Zugriff) - a contract for support scripts.

::

    smgwct han info|meters|logs|selftest --host H [--port P] [--vendor auto|theben|ppc|emh]
               --user U [--password-stdin | --cert FILE.p12] [--pin SHA256HEX] [--json]
    smgwct han ... --demo          (the embedded default on loopback, for training)

``han info --json`` prints ``{"vendor", "smgw_id" (upper case), "firmware": [{"component",
"version", "hash"}], "state", "state_text", "time", "certificates": [{"role", "subject", "issuer",
"not_before", "not_after", "sha256", "state", "index"}], "clock_offset_seconds", "profiles",
"meters": [...]}``.
``han logs`` takes ``--kind system|consumer`` (the account must have that role: service technician
or consumer), ``--from/--to`` (ISO 8601), ``--from-index``, ``--count``, ``--format
json|csv|xml`` and ``--out FILE``; CSV is UTF-8 with BOM and ``;`` for German Excel.

Secrets never come from an argument: the HAN password from the keyring (``han-password/<SMGW ID
or host>/<user>``), from standard input with ``--password-stdin`` or from a prompt; the PKCS#12
password from the keyring (``client-cert-password/<file hash>``; the older
``pkcs12-password/<file hash>`` is still read) or a prompt. ``app.security.client_certificate``
hands the key to TLS as a temporary PEM pair (mode 0600, key encrypted with a one-time password
held in memory) that is deleted when the command ends.

Trust: ``--pin`` states the certificate fingerprint expected (unattended use; the pin store is
neither read nor changed). Without it the stored pin is used; without a stored pin an interactive
run shows the fingerprint and asks, a non-interactive run refuses. ``--demo`` trusts the
certificate of the simulator it started itself.

Exit status: 0 done, 1 error (one line on stderr), 2 usage, 3 self-test refused by its repeat
lock (the JSON says from when it can be repeated).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import getpass
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.cli import language
from app.cli.common import positive_number, usage
from app.context import HanTarget
from app.errors import InvalidValue, SmgwctError, Text
from app.security.client_certificate import open_client_certificate
from app.security.tls import format_fingerprint, normalise_fingerprint
from app.transports.han.base import HanAdapter, HanCredentials, LogEntry, LogKind, UserRole

EXIT_SELF_TEST_LOCKED = 3
VENDORS = ("auto", "theben", "ppc", "emh")


def register(sub: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    target = common.add_argument_group("gateway")
    target.add_argument("--host", help="HAN address of the gateway")
    target.add_argument("--port", type=int, default=443, help="HTTPS port (default 443)")
    target.add_argument("--vendor", choices=VENDORS, default="auto",
                        help="HAN dialect (default: detect)")
    target.add_argument("--user", help="HAN user name")
    secret = target.add_mutually_exclusive_group()
    secret.add_argument("--password-stdin", action="store_true",
                        help="read the HAN password from the first line of standard input")
    secret.add_argument("--cert", type=Path, metavar="FILE.p12",
                        help="log in with this client certificate (PKCS#12, or PEM with "
                             "the key inside)")
    target.add_argument("--pin", metavar="SHA256HEX",
                        help="expected SHA-256 fingerprint of the gateway's HAN certificate")
    target.add_argument("--demo", action="store_true",
                        help="start the embedded default on loopback and read it (training)")
    target.add_argument("--scenario", default="default", help="demo scenario (with --demo)")
    target.add_argument("--timeout", type=positive_number, default=60.0,
                        help="seconds allowed per gateway call (default 60)")
    target.add_argument("--json", action="store_true", help="machine-readable output")

    parser = sub.add_parser(
        "han", help="read a gateway at its HAN port (Gateway am HAN-Anschluss lesen)",
        description="Technical data, meters, logs and self-test of a smart meter gateway over "
                    "its HAN interface (HTTPS with a pinned certificate).",
        epilog="Exit status: 0 done, 1 error, 2 usage, 3 self-test refused by its repeat lock.",
    )
    hsub = parser.add_subparsers(dest="han_command", metavar="ACTION")
    parser.set_defaults(func=lambda _args: usage(parser))

    info = hsub.add_parser("info", parents=[common],
                           help="identity, firmware, certificates, state, clock, meters")
    info.set_defaults(func=run)
    meters = hsub.add_parser("meters", parents=[common], help="the LMN meters and last values")
    meters.set_defaults(func=run)
    logs = hsub.add_parser("logs", parents=[common], help="the system or consumer log")
    logs.add_argument("--kind", choices=[k.value for k in LogKind], default="system",
                      help="system (service technician account) or consumer (consumer account)")
    logs.add_argument("--from", dest="since", metavar="ISO8601", help="first time (inclusive)")
    logs.add_argument("--to", dest="until", metavar="ISO8601", help="last time (inclusive)")
    logs.add_argument("--from-index", type=int, metavar="N", help="first log index")
    logs.add_argument("--count", type=int, metavar="N", help="at most N entries")
    logs.add_argument("--format", choices=("json", "csv", "xml"),
                      help="output format (default: text, or json with --json)")
    logs.add_argument("--out", type=Path, metavar="FILE", help="write to FILE, not stdout")
    logs.set_defaults(func=run)
    selftest = hsub.add_parser("selftest", parents=[common],
                               help="request the gateway's self-test (once per 10 minutes)")
    selftest.set_defaults(func=run)


def _t(en: str, de: str) -> str:
    return Text(en, de).get(language())


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _status(message: Text) -> None:
    if sys.stderr.isatty():
        print(message.get(language()), file=sys.stderr, flush=True)


# --- secrets ------------------------------------------------------------------------------------


def _keyring_get(key: str) -> str | None:
    from app.security.secrets import KeyringSecretStore, SecretStoreUnavailable

    try:
        return KeyringSecretStore().get(key)
    except SecretStoreUnavailable:
        return None
    except Exception:  # noqa: BLE001 - a broken keyring package is "no keyring"
        return None


def _ask_secret(prompt: Text) -> str | None:
    if not _interactive():
        return None
    try:
        return getpass.getpass(prompt.get(language()) + ": ")
    except (EOFError, KeyboardInterrupt):
        return None


def han_password(args: argparse.Namespace, owners: list[str], user: str) -> str:
    """The HAN password: standard input, keyring (by SMGW ID, then address), prompt - never an
    argument."""
    from app.processes.flows.han_common import password_key

    if args.password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise InvalidValue(Text("--password-stdin: standard input holds no password.",
                                    "--password-stdin: die Standardeingabe enthält kein "
                                    "Passwort."), field="password")
        return line
    for owner in owners:
        stored = _keyring_get(password_key(owner, user))
        if stored is not None:
            return stored
    typed = _ask_secret(Text(f"HAN password of {user}", f"HAN-Passwort von {user}"))
    if typed:
        return typed
    raise InvalidValue(
        Text(f"No HAN password for {user}: none in the keyring, and this run cannot ask.",
             f"Kein HAN-Passwort für {user}: keines im Schlüsselbund, und dieser Aufruf kann "
             "nicht nachfragen."),
        field="password",
        hint=Text("Pipe it in with --password-stdin, or run interactively.",
                  "Übergeben Sie es mit --password-stdin oder rufen Sie interaktiv auf."),
    )


class _CertificatePasswords:
    """Password source of the client certificate: the keyring, then a prompt (no standard input:
    ``--password-stdin`` and ``--cert`` exclude each other)."""

    hint = Text("Run once interactively, or save the password in the keyring.",
                "Rufen Sie einmal interaktiv auf oder speichern Sie das Passwort im Schlüsselbund.")

    def given(self) -> str | None:
        return None

    def stored(self, name: str) -> str | None:
        return _keyring_get(name)

    def ask(self, prompt: Text) -> str | None:
        return _ask_secret(prompt)

    def remember(self, name: str, password: str) -> None:
        return None


# --- trust --------------------------------------------------------------------------------------


async def _confirm_on_terminal(prompt: Text, detail: Text) -> bool:
    lang = language()
    print(detail.get(lang), file=sys.stderr)
    print(prompt.get(lang) + " [y/N] ", end="", file=sys.stderr, flush=True)
    answer = await asyncio.to_thread(sys.stdin.readline)
    return answer.strip().lower() in ("y", "yes", "j", "ja")


async def _trust(args: argparse.Namespace, han: HanTarget) -> tuple[Any, Any]:
    """(pinned certificate, pin store or None) for this run."""
    from app.processes.flows.han_common import trust_on_first_use
    from app.transports.han.errors import HanCertificateChanged
    from app.transports.han.pinning import PinnedCertificate, PinStore, fetch_candidate

    if args.pin:
        expected = normalise_fingerprint(args.pin, field="pin")
        candidate = await fetch_candidate(han.host, han.port)
        if candidate.sha256 != expected:
            refused = HanCertificateChanged(expected, candidate.sha256)
            refused.message = Text(
                f"The gateway presents the HAN certificate {format_fingerprint(candidate.sha256)}"
                f", not the one given with --pin ({format_fingerprint(expected)}). The connection "
                "was refused.",
                f"Das Gateway zeigt das HAN-Zertifikat {format_fingerprint(candidate.sha256)}, "
                f"nicht das mit --pin angegebene ({format_fingerprint(expected)}). Die Verbindung "
                "wurde abgelehnt.")
            raise refused
        return PinnedCertificate.from_pem(candidate.pem, group=candidate.group,
                                          address=f"{han.host}:{han.port}"), None
    store = PinStore()
    if store.get(smgw_id=han.smgw_id, host=han.host, port=han.port) is None \
            and not _interactive():
        candidate = await fetch_candidate(han.host, han.port)
        raise SmgwctError(
            Text(f"No certificate is pinned for {han.host}:{han.port}, and this run cannot ask "
                 f"for confirmation. The gateway presents SHA-256 "
                 f"{format_fingerprint(candidate.sha256)}.",
                 f"Für {han.host}:{han.port} ist kein Zertifikat gepinnt, und dieser Aufruf "
                 f"kann keine Bestätigung einholen. Das Gateway zeigt SHA-256 "
                 f"{format_fingerprint(candidate.sha256)}."),
            field="pin",
            hint=Text("Compare the fingerprint with the gateway's label, then pass it with "
                      "--pin, or confirm it once in an interactive run.",
                      "Vergleichen Sie den Fingerabdruck mit dem Typschild und übergeben Sie ihn "
                      "mit --pin, oder bestätigen Sie ihn einmal in einem interaktiven Aufruf."),
        )
    pin = await trust_on_first_use(han, _confirm_on_terminal, store=store,
                                   say=lambda _f, text: _status(text))
    return pin, store


# --- connection ---------------------------------------------------------------------------------


@dataclass
class Connection:
    """A logged-in adapter and what the output needs to name the source."""

    adapter: HanAdapter
    target: HanTarget
    vendor: str
    user: str
    sha256: str


def _role(args: argparse.Namespace) -> UserRole:
    if getattr(args, "han_command", None) == "logs":
        from app.processes.flows.han_common import LOG_ROLE

        return LOG_ROLE[LogKind(args.kind)]
    return UserRole.SERVICE_TECHNICIAN


@contextlib.asynccontextmanager
async def connection(args: argparse.Namespace) -> AsyncIterator[Connection]:
    """Log in to the gateway the arguments name (starting the demo environment if asked)."""
    from app.processes.flows.han_common import build_adapter, resolve_vendor
    from app.transports.han.pinning import PinnedCertificate

    role = _role(args)
    embedded = None
    adapter: HanAdapter | None = None
    with contextlib.ExitStack() as files:
        try:
            if args.demo:
                from app.sim.embedded import EmbeddedDefault
                from app.sim.smgw import Scenario

                scenario = Scenario.load(args.scenario)
                embedded = EmbeddedDefault(scenario=args.scenario)
                await embedded.start(progress=_status)
                assert embedded.context.han is not None and embedded.pki is not None
                han = embedded.context.han
                user = args.user or next(
                    (u.name for u in scenario.users if u.role.value == role.value),
                    scenario.default_user)
                if args.vendor != "auto":
                    han.vendor = args.vendor
                if args.pin:
                    pin, store = await _trust(args, han)
                else:  # the simulator this process started: its certificate is known
                    pin = PinnedCertificate.from_pem(embedded.pki["han"].cert_pem)
                    store = None
                account = scenario.user(user)
                password = (han_password(args, [han.smgw_id or han.host], user)
                            if args.password_stdin or account is None or not account.password
                            else account.password)
            else:
                if not args.host or not args.user:
                    missing = " and ".join(f"--{n}" for n in ("host", "user")
                                           if not getattr(args, n))
                    raise InvalidValue(
                        Text(f"{missing} missing: name the gateway's HAN address and the user.",
                             f"{missing} fehlt: nennen Sie die HAN-Adresse des Gateways und den "
                             "Benutzer."),
                        field="host" if not args.host else "user",
                        hint=Text("Or use --demo to read the built-in demo gateway.",
                                  "Oder lesen Sie mit --demo das eingebaute Demo-Gateway."),
                    )
                han = HanTarget(args.host, args.port, vendor=args.vendor, user=args.user)
                user = args.user
                pin, store = await _trust(args, han)
                if pin.smgw_id and not han.smgw_id:
                    han.smgw_id = pin.smgw_id
                owners = [o for o in (han.smgw_id, han.host) if o]
                password = None if args.cert else han_password(args, owners, user)
            # Reading and unlocking the file (and a password prompt) run in a worker thread.
            chain = await asyncio.to_thread(files.enter_context, open_client_certificate(
                args.cert, password_source=_CertificatePasswords())) if args.cert else None
            creds = HanCredentials(user, password, client_certificate=chain, role=role)
            vendor = await resolve_vendor(han, pin)
            adapter = build_adapter(vendor, han, creds, pin, store)
            adapter.timeout = args.timeout
            _status(Text(f"Logging in to {han.host}:{han.port} as {user}…",
                         f"Anmeldung an {han.host}:{han.port} als {user}…"))
            await adapter.connect()
            yield Connection(adapter, han, vendor, user, pin.sha256)
        finally:
            if adapter is not None:
                with contextlib.suppress(Exception):
                    await adapter.close()
            if embedded is not None:
                await embedded.stop()


# --- commands -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    command = args.han_command
    async with connection(args) as conn:
        if command == "info":
            return await _info(args, conn)
        if command == "meters":
            return await _meters(args, conn)
        if command == "logs":
            return await _logs(args, conn)
        return await _selftest(args, conn)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


async def _info(args: argparse.Namespace, conn: Connection) -> int:
    from app.processes.flows.technical_data import assess

    data = await conn.adapter.technical_data()
    out = data.to_dict()
    if args.json:
        _print_json(out)
        return 0
    identity = data.identity
    lang = language()
    lines = [
        f"{_t('Vendor', 'Hersteller')}: {identity.vendor}"
        + (f" {identity.model}" if identity.model else ""),
        f"SMGW-ID: {identity.smgw_id}",
        f"{_t('State', 'Zustand')}: {identity.state.raw} ({identity.state.describe().get(lang)})",
        f"{_t('Time', 'Zeit')}: {identity.time.isoformat()} "
        f"({data.clock_offset_seconds:+.1f} s {_t('against this computer', 'zu diesem Rechner')})",
        _t("Firmware:", "Firmware:"),
    ]
    lines += [f"  {f.component} {f.version}  SHA-256 {f.hash}" for f in identity.firmware]
    lines.append(_t("Certificates:", "Zertifikate:"))
    for c in identity.certificates:
        lines.append(f"  {c.role}{'' if c.index is None else f' #{c.index}'}  {c.subject}  "
                     f"{_t('valid until', 'gültig bis')} {c.not_after.date().isoformat()}")
        lines.append(f"    SHA-256 {format_fingerprint(c.sha256)}")
    lines.append(_t("Meters:", "Zähler:"))
    for m in data.meters:
        lines.append(f"  {m.server_id}  {', '.join(m.usage_points)}")
        for v in m.values:
            lines.append(f"    {v.obis}  {v.value} {v.unit_text}")
    for finding in assess(out):
        if finding.severity in ("warning", "error"):
            label = {"warning": _t("Warning", "Warnung"), "error": _t("Error", "Fehler")}
            lines.append(f"{label[finding.severity]}: {finding.message.get(lang)}")
    print("\n".join(lines))
    return 0


async def _meters(args: argparse.Namespace, conn: Connection) -> int:
    meters = await conn.adapter.meters()
    if args.json:
        _print_json([m.to_dict() for m in meters])
        return 0
    lines = []
    for m in meters:
        lines.append(f"{m.server_id}  {', '.join(m.usage_points)}")
        if not m.values_available:
            lines.append("  " + _t("values not readable for this account",
                                   "Werte für dieses Konto nicht lesbar"))
        for v in m.values:
            captured = v.captured.isoformat() if v.captured else ""
            lines.append(f"  {v.obis}  {v.value} {v.unit_text}  {captured}")
    print("\n".join(lines) if lines else _t("No meters.", "Keine Zähler."))
    return 0


def _time_arg(value: str | None, name: str) -> dt.datetime | None:
    from app.report.log_export import parse_time

    return parse_time(value, name) if value else None


async def _logs(args: argparse.Namespace, conn: Connection) -> int:
    from app.processes.flows.logs import fetch_pages
    from app.report.log_export import LogFilter, export, render

    for name in ("from_index", "count"):
        value = getattr(args, name)
        if value is not None and value < (1 if name == "count" else 0):
            raise InvalidValue(Text(f"--{name.replace('_', '-')} must be ≥ "
                                    f"{1 if name == 'count' else 0}.",
                                    f"--{name.replace('_', '-')} muss ≥ "
                                    f"{1 if name == 'count' else 0} sein."),
                               field=name)
    since, until = _time_arg(args.since, "from"), _time_arg(args.until, "to")
    kind = LogKind(args.kind)
    identity = await conn.adapter.identify()
    entries, _pages = await fetch_pages(
        conn.adapter, kind, since=since, until=until, from_index=args.from_index,
        count=args.count, say=lambda _f, text: _status(text))
    fmt = args.format or ("json" if args.json or args.out else "text")
    if args.out and not args.format:
        suffix = args.out.suffix.lower().lstrip(".")
        fmt = suffix if suffix in ("json", "csv", "xml") else "json"
    if fmt == "text":
        print("\n".join(_log_line(e) for e in entries)
              or _t("No log entries.", "Keine Logeinträge."))
        return 0
    source = {"smgw_id": identity.smgw_id, "vendor": conn.vendor,
              "host": f"{conn.target.host}:{conn.target.port}", "sha256": conn.sha256}
    log_filter = LogFilter(since=since, until=until, from_index=args.from_index)
    if args.out:
        await asyncio.to_thread(export, entries, args.out, fmt, lang=language(), source=source,
                                log_filter=log_filter)
        _status(Text(f"{len(entries)} entries written to {args.out}",
                     f"{len(entries)} Einträge nach {args.out} geschrieben"))
        return 0
    data = await asyncio.to_thread(render, entries, fmt, lang=language(), source=source,
                                   log_filter=log_filter)
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


def _log_line(entry: LogEntry) -> str:
    level = entry.level_text.get(language())
    return (f"{entry.index:>7}  {entry.time.isoformat()}  {level:<11} "
            f"{entry.event_id or '-':>6}  {entry.message}")


async def _selftest(args: argparse.Namespace, conn: Connection) -> int:
    from app.processes.flows.self_test import SelfTestLocked

    result = await conn.adapter.self_test()
    if result.accepted:
        if args.json:
            _print_json({"accepted": True, "message": result.message.get(language())})
        else:
            print(result.message.get(language()))
        return 0
    locked = SelfTestLocked(result.retry_after_seconds)
    if args.json:
        _print_json({"accepted": False, "retry_after_seconds": result.retry_after_seconds,
                     "retry_at": locked.retry_at.isoformat() if locked.retry_at else None,
                     "message": locked.message.get(language())})
    print(f"smgwct: {locked.describe(language())}", file=sys.stderr)
    return EXIT_SELF_TEST_LOCKED
