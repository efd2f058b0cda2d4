"""Installation self-check (``smgwct selftest``): what an installed copy needs to work.

Each check returns a :class:`Check`. A failed check means the installation is broken (exit code 1);
a warning means this computer lacks something optional (e.g. a keyring service: passwords must
then be typed each time).
"""

from __future__ import annotations

import asyncio
import enum
import socket
import ssl
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.errors import Text


class Verdict(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    detail: str
    fix: Text | None = None


def _python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", Verdict.OK if ok else Verdict.FAIL, sys.version.split()[0],
                 None if ok else Text("Python 3.11 or newer is needed.",
                                      "Python 3.11 oder neuer wird benötigt."))


def _openssl() -> Check:
    ok = ssl.OPENSSL_VERSION_INFO >= (3, 0)
    return Check("openssl", Verdict.OK if ok else Verdict.FAIL, ssl.OPENSSL_VERSION,
                 None if ok else Text("OpenSSL 3.0 or newer is needed for brainpool TLS.",
                                      "Für Brainpool-TLS wird OpenSSL 3.0 oder neuer benötigt."))


def _brainpool_tls() -> Check:
    """Build the WAN profile's contexts on brainpoolP256r1 and complete one loopback handshake."""
    from app.security import tls
    from app.security.pki import create_demo_pki

    try:
        pki = create_demo_pki("ESLF0100000001", hosts=("localhost", "127.0.0.1"))
        with tempfile.TemporaryDirectory() as tmp:
            pki.write(Path(tmp))
            server = tls.server_context(tls.Interface.WAN, own=pki.tls_chain("gwa_tls"),
                                        client_trust=[pki.trust_pem()], client_cert="required")
            client = tls.client_context(tls.Interface.WAN, trust=[pki.trust_pem()],
                                        own=pki.tls_chain("technician"))
            cipher = _loopback_handshake(server, client)
        return Check("tls-brainpool", Verdict.OK, f"TLS 1.2 handshake with {cipher}")
    except (ssl.SSLError, OSError, ValueError) as exc:
        return Check("tls-brainpool", Verdict.FAIL, str(exc),
                     Text("The OpenSSL library lacks brainpool curves or the TR-03116-3 suites.",
                          "Der OpenSSL-Bibliothek fehlen Brainpool-Kurven oder die "
                          "TR-03116-3-Cipher-Suites."))


def _loopback_handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> str:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    errors: list[BaseException] = []

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        try:
            with server.wrap_socket(conn, server_side=True) as tls_conn:
                tls_conn.sendall(b"x")
        except (ssl.SSLError, OSError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                client.wrap_socket(raw, server_hostname="localhost") as conn:
            conn.recv(1)
            cipher = conn.cipher()[0]
    finally:
        thread.join(5)
        listener.close()
    if errors:
        raise errors[0]
    return cipher


def _schemas() -> Check:
    from app.security.xml import load_schema, schema_dir

    names = sorted(p.name for p in schema_dir().glob("*.xsd"))
    bad = []
    for name in names:
        try:
            load_schema(name)
        except Exception as exc:  # noqa: BLE001 - report every broken schema
            bad.append(f"{name}: {exc}")
    if not names or bad:
        return Check("schemas", Verdict.FAIL, "; ".join(bad) or "no schemas found",
                     Text("Reinstall the tool: its XML schemas are missing or damaged.",
                          "Installieren Sie das Werkzeug neu: seine XML-Schemas fehlen oder sind "
                          "beschädigt."))
    return Check("schemas", Verdict.OK, f"{len(names)} XSD files load")


def _keyring() -> Check:
    from app.security.secrets import keyring_available

    try:
        import keyring.backend

        known = [type(b).__name__ for b in keyring.backend.get_all_keyring()]
    except Exception as exc:  # noqa: BLE001
        return Check("keyring", Verdict.FAIL, f"keyring backends cannot be listed: {exc}",
                     Text("Reinstall the tool: the keyring package metadata is missing.",
                          "Installieren Sie das Werkzeug neu: die Metadaten des keyring-Pakets "
                          "fehlen."))
    secure, name = keyring_available()
    if secure:
        return Check("keyring", Verdict.OK, name)
    return Check("keyring", Verdict.WARN, f"no secure backend usable (found: {', '.join(known)})",
                 Text("Passwords cannot be saved on this computer; they are asked for each time.",
                      "Passwörter können auf diesem Rechner nicht gespeichert werden; sie werden "
                      "jedes Mal abgefragt."))


def _event_loop() -> Check:
    async def probe() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__name__

    return Check("asyncio", Verdict.OK, asyncio.run(probe()))


CORE_CHECKS: tuple[Callable[[], Check], ...] = (
    _python, _openssl, _brainpool_tls, _schemas, _keyring, _event_loop,
)


def run_core_checks() -> list[Check]:
    results = []
    for check in CORE_CHECKS:
        try:
            results.append(check())
        except Exception as exc:  # noqa: BLE001 - a self-check must report, not crash
            results.append(Check(check.__name__.strip("_"), Verdict.FAIL, repr(exc)))
    return results
