"""``smgwct report``: build and verify commissioning reports (Inbetriebnahmeprotokolle)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.cli import language
from app.errors import SmgwctError, Text
from app.report import build_report, load_trust_anchors, verify_report
from app.security.pki import CertifiedKey, load_or_create_demo_pki
from app.security.tls import fingerprint
from app.store.audit import AuditLog
from app.store.db import JobStore
from app.store.jobs import WorkOrderStore
from app.store.settings import data_dir
from app.workbench import demo_pki_dir


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
    who.add_argument("--cert", type=Path, help="technician certificate (PEM, sub-CA may follow)")
    build.add_argument("--key", type=Path, help="private key (PEM) of --cert")
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


def _signer_from_files(cert_path: Path, key_path: Path | None) -> tuple[CertifiedKey, list]:
    if key_path is None:
        raise SmgwctError(Text("--cert needs --key with the private key.",
                               "--cert braucht --key mit dem privaten Schlüssel."), field="key")
    try:
        certs = x509.load_pem_x509_certificates(cert_path.read_bytes())
        key_data = key_path.read_bytes()
    except (OSError, ValueError) as exc:
        raise SmgwctError(Text(f"The signing certificate or key cannot be read: {exc}",
                               f"Signaturzertifikat oder Schlüssel nicht lesbar: {exc}"),
                          field="cert") from exc
    password = None
    if b"ENCRYPTED" in key_data:
        from app.security.secrets import KeyringSecretStore, secret_key

        stored = KeyringSecretStore().get(
            secret_key("key-password", fingerprint(certs[0].public_bytes(
                serialization.Encoding.DER))))
        if stored is None:
            raise SmgwctError(
                Text("The key is encrypted and no password for it is stored in the keyring.",
                     "Der Schlüssel ist verschlüsselt und sein Passwort ist nicht im "
                     "Schlüsselbund hinterlegt."),
                field="key",
                hint=Text("Store it under key-password/<certificate SHA-256> (docs/report.md).",
                          "Unter key-password/<Zertifikat-SHA-256> hinterlegen "
                          "(docs/report.md)."))
        password = stored.encode("utf-8")
    try:
        key = serialization.load_pem_private_key(key_data, password=password)
    except (TypeError, ValueError) as exc:
        raise SmgwctError(Text(f"The private key cannot be loaded: {exc}",
                               f"Der private Schlüssel lässt sich nicht laden: {exc}"),
                          field="key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SmgwctError(Text("Only EC keys can sign reports.",
                               "Nur EC-Schlüssel können Protokolle signieren."), field="key")
    return CertifiedKey(certs[0], key), certs[1:]


def run_build(args: argparse.Namespace) -> int:
    base = data_dir(create=True)
    audit = AuditLog(base / "audit.sqlite3")
    runs = JobStore(base / "jobs.sqlite3")
    store = WorkOrderStore.open_default(audit)
    try:
        job = store.get(args.job)
        if args.demo:
            smgw_id = job.order.smgw_id.text
            pki, _ = load_or_create_demo_pki(demo_pki_dir(base, smgw_id), smgw_id)
            signer, extra = pki["technician"], [pki["sub_ca"].cert]
        else:
            signer, extra = _signer_from_files(args.cert, args.key)
        paths = build_report(job, signer=signer, extra_certs=extra, out_dir=args.out,
                             lang=args.lang or language(), store=store, runs=runs, audit=audit,
                             technician=args.technician, attach_photos=not args.no_photos)
    finally:
        store.close()
        runs.close()
        audit.close()
    for path in (paths.xml, paths.signature, paths.pdf):
        print(path)
    return 0
