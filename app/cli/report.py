"""``smgwct report``: build and verify commissioning reports (Inbetriebnahmeprotokolle)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from app.cli import language
from app.errors import InvalidValue, Text
from app.report import build_report, load_trust_anchors, verify_report
from app.report.signer import (
    FIELD_CERT,
    FIELD_KEY,
    FIELD_PASSWORD,
    FIELD_TRUST,
    ReportSigner,
    SignerError,
    SignerFiles,
    SignerPasswords,
    demo_report_signer,
    load_report_signer,
)
from app.security.secrets import (
    NO_KEYRING,
    KeyringSecretStore,
    SecretStore,
    SecretStoreUnavailable,
)
from app.store.audit import AuditLog
from app.store.db import JobStore
from app.store.jobs import WorkOrderStore
from app.store.settings import data_dir


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="commissioning report (Inbetriebnahmeprotokoll)")
    commands = parser.add_subparsers(dest="report_command", metavar="ACTION")

    check = commands.add_parser("verify", help="check a report's signature, signer and PDF")
    check.add_argument("file", type=Path, help="report.xml, report.xml.p7s or their folder")
    check.add_argument("--trust", type=Path, help="root CA certificate (PEM) to anchor the signer")
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.set_defaults(func=run_verify)

    build = commands.add_parser("build", help="write report.xml, report.pdf and the signature")
    build.add_argument("--job", required=True, help="job number from the job list")
    build.add_argument("--out", required=True, type=Path, help="folder for the report files")
    build.add_argument("--lang", choices=("de", "en"), default=None, help="language of the PDF")
    who = build.add_mutually_exclusive_group(required=True)
    who.add_argument("--demo", action="store_true",
                     help="sign with the demo PKI's technician certificate")
    who.add_argument("--cert", type=Path,
                     help="technician certificate: PEM (sub-CA and root may follow) or PKCS#12 "
                          "(.p12/.pfx, holds the key)")
    build.add_argument("--key", type=Path,
                       help="private key (PEM) of a PEM --cert that does not hold it")
    build.add_argument("--trust", type=Path,
                       help="CA certificate(s) (PEM) that anchor the signature (default: the "
                            "root CA inside --cert)")
    build.add_argument("--password-stdin", action="store_true",
                       help="read the key's password from standard input, without echo on a "
                            "terminal (else: keyring)")
    build.add_argument("--save-password", action="store_true",
                       help="keep the password from --password-stdin in the keyring")
    build.add_argument("--technician", help="name printed as technician (default: from the "
                                            "certificate)")
    build.add_argument("--no-photos", action="store_true", help="do not copy photos beside it")
    build.set_defaults(func=run_build)
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)


def run_verify(args: argparse.Namespace) -> int:
    trust = load_trust_anchors(args.trust) if args.trust else None
    result = verify_report(args.file, trust=trust)
    if args.json:
        print(json.dumps({**result.to_dict()}, ensure_ascii=False, indent=2))
    else:
        line = result.reason.get(language())
        print(line, file=sys.stdout if result.ok else sys.stderr)
        if result.ok and result.content_sha256:
            label = "Inhalts-Prüfsumme" if language() == "de" else "Content SHA-256"
            print(f"{label}: {result.content_sha256}")
    return 0 if result.ok else 1


PASSWORD_HINT = Text(
    "Pipe the key's password in with --password-stdin (add --save-password to keep it in the "
    "keyring), or set the certificate up once in the window (Settings).",
    "Übergeben Sie das Passwort des Schlüssels mit --password-stdin (mit --save-password wird es "
    "im Schlüsselbund gespeichert) oder richten Sie das Zertifikat einmal im Fenster ein "
    "(Einstellungen).")


_OPTIONS = {FIELD_CERT: "--cert", FIELD_KEY: "--key", FIELD_TRUST: "--trust",
            FIELD_PASSWORD: "--password-stdin"}


def _keyring() -> SecretStore | None:
    """The OS keyring, or ``None`` when there is no secure one (then only --password-stdin)."""
    try:
        return KeyringSecretStore()
    except SecretStoreUnavailable:
        return None


def _read_password() -> str:
    """The key's password from standard input: typed without echo on a terminal
    (``getpass``), else one line from the pipe."""
    if sys.stdin is None:  # no console at all (e.g. started without one on Windows)
        return ""
    if sys.stdin.isatty():
        prompt = "Passwort des Schlüssels: " if language() == "de" else "Key password: "
        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\r\n")


def _signer_from_files(args: argparse.Namespace) -> ReportSigner:
    """The signer of ``--cert`` [``--key``] [``--trust``]; the password from standard input
    (``--password-stdin``) or the keyring, never from the command line."""
    if args.save_password and not args.password_stdin:
        raise InvalidValue(Text("--save-password needs --password-stdin.",
                                "--save-password braucht --password-stdin."),
                           field="save-password")
    typed = _read_password() if args.password_stdin else None
    store = _keyring()
    passwords = SignerPasswords(typed, store, hint=PASSWORD_HINT)
    try:
        signer = load_report_signer(SignerFiles(args.cert, args.key, args.trust), passwords)
    except SignerError as exc:  # name the command-line option rather than the setting
        exc.field = _OPTIONS.get(exc.field or "", exc.field)
        raise
    if args.save_password and passwords.to_remember is not None:
        if store is None:
            raise SecretStoreUnavailable(NO_KEYRING)
        store.set(*passwords.to_remember)
    return signer


def run_build(args: argparse.Namespace) -> int:
    base = data_dir(create=True)
    audit = AuditLog(base / "audit.sqlite3")
    runs = JobStore(base / "jobs.sqlite3")
    store = WorkOrderStore.open_default(audit)
    try:
        job = store.get(args.job)
        if args.demo:
            signer = demo_report_signer(base, job.order.smgw_id.text)
        else:
            signer = _signer_from_files(args)
            note = signer.anchor_note()
            if note is not None:  # the anchor is the root CA inside --cert itself
                print(note.get(language()), file=sys.stderr)
        paths = build_report(job, signer=signer.key, extra_certs=signer.extra_certs,
                             out_dir=args.out,
                             lang=args.lang or language(), store=store, runs=runs, audit=audit,
                             technician=args.technician, attach_photos=not args.no_photos)
    finally:
        store.close()
        runs.close()
        audit.close()
    for path in (paths.xml, paths.signature, paths.pdf):
        print(path)
    return 0
