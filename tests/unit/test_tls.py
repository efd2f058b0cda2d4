"""The TLS profiles: brainpool mutual TLS works; everything outside the profile is refused."""

from __future__ import annotations

import socket
import ssl
import threading
import warnings
from pathlib import Path

import pytest

from app.errors import InvalidValue
from app.security import tls
from app.security.pki import create_demo_pki
from app.security.tls import CertificateChain, Interface


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, *, hostname="localhost"):
    """Run one handshake over loopback; return (client result, server error)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server_result: dict[str, object] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls_conn:
                server_result["peer"] = tls_conn.getpeercert(binary_form=True)
                server_result["cipher"] = tls_conn.cipher()
                tls_conn.sendall(b"ok")
        except (ssl.SSLError, OSError) as exc:
            server_result["error"] = exc

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                client_ctx.wrap_socket(raw, server_hostname=hostname) as conn:
            data = conn.recv(2)
            return conn.cipher(), conn.version(), tls.peer_fingerprint(conn), data, server_result
    finally:
        thread.join(5)
        listener.close()


def test_brainpool_mutual_tls_handshake(demo_pki):
    server = tls.server_context(
        Interface.WAN, own=demo_pki.tls_chain("gwa_tls"),
        client_trust=[demo_pki.trust_pem()], client_cert="required")
    client = tls.client_context(
        Interface.WAN, trust=[demo_pki.trust_pem()], own=demo_pki.tls_chain("technician"))
    cipher, version, fp, data, srv = _handshake(server, client)
    assert data == b"ok"
    assert version == "TLSv1.2"
    assert cipher[0] == tls.SUITE_AES128_GCM
    assert fp == demo_pki["gwa_tls"].sha256
    # the server saw the technician's client certificate
    assert tls.fingerprint(srv["peer"]) == demo_pki["technician"].sha256


def test_mutual_tls_refuses_client_without_certificate(demo_pki):
    server = tls.server_context(
        Interface.WAN, own=demo_pki.tls_chain("gwa_tls"),
        client_trust=[demo_pki.trust_pem()], client_cert="required")
    client = tls.client_context(Interface.WAN, trust=[demo_pki.trust_pem()])
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _handshake(server, client)


def test_tls_1_1_is_refused(demo_pki):
    server = tls.server_context(Interface.HAN, own=demo_pki.tls_chain("gwa_tls"))
    warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is deprecated: that is the point
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.set_ciphers("ALL:@SECLEVEL=0")
    old.minimum_version = ssl.TLSVersion.TLSv1_1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL"):
        _handshake(server, old)


def test_non_ecdhe_ecdsa_suite_is_refused(demo_pki):
    server = tls.server_context(Interface.HAN, own=demo_pki.tls_chain("gwa_tls"))
    rsa_only = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    rsa_only.check_hostname = False
    rsa_only.verify_mode = ssl.CERT_NONE
    rsa_only.maximum_version = ssl.TLSVersion.TLSv1_2
    rsa_only.set_ecdh_curve("brainpoolP256r1")
    rsa_only.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305")
    with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE"):
        _handshake(server, rsa_only)


def test_wrong_ca_is_refused(demo_pki):
    other = create_demo_pki("EOTH0100000002")
    server = tls.server_context(Interface.WAN, own=demo_pki.tls_chain("gwa_tls"))
    client = tls.client_context(Interface.WAN, trust=[other.trust_pem()])
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        _handshake(server, client)
    assert "certificate" in str(tls.describe_ssl_error(info.value)).lower()


def test_pinned_self_signed_han_certificate(demo_pki):
    server = tls.server_context(Interface.HAN, own=demo_pki.tls_chain("han"))
    client = tls.client_context(Interface.HAN, trust=[demo_pki["han"].cert_pem],
                                check_hostname=False)
    *_, fp, data, _srv = _handshake(server, client)
    assert data == b"ok"
    assert fp == demo_pki["han"].sha256


def test_changed_pinned_certificate_is_refused(demo_pki, tmp_path: Path):
    # the gateway now presents a different self-signed certificate (e.g. a swapped device)
    other = create_demo_pki(demo_pki.smgw_id)
    other.write(tmp_path)
    server = tls.server_context(Interface.HAN, own=other.tls_chain("han"))
    client = tls.client_context(Interface.HAN, trust=[demo_pki["han"].cert_pem],
                                check_hostname=False)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, client)


def test_check_pin_detects_changed_fingerprint(demo_pki):
    server = tls.server_context(Interface.WAN, own=demo_pki.tls_chain("gwa_tls"))
    client = tls.client_context(Interface.WAN, trust=[demo_pki.trust_pem()])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server.wrap_socket(conn, server_side=True) as c:
                c.recv(1)
        except (ssl.SSLError, OSError):
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            client.wrap_socket(raw, server_hostname="localhost") as conn:
        assert tls.check_pin(conn, demo_pki["gwa_tls"].sha256) == demo_pki["gwa_tls"].sha256
        with pytest.raises(tls.PinMismatch) as info:
            tls.check_pin(conn, "00" * 32)
        assert "changed" in info.value.describe("en")
        assert "geändert" in info.value.describe("de")
    t.join(5)
    listener.close()


def test_fetch_certificate_for_first_contact(demo_pki):
    server = tls.server_context(Interface.HAN, own=demo_pki.tls_chain("han"))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server.wrap_socket(conn, server_side=True) as c:
                c.recv(1)
        except (ssl.SSLError, OSError):
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    der = tls.fetch_unverified_certificate("127.0.0.1", port)
    t.join(5)
    listener.close()
    assert tls.fingerprint(der) == demo_pki["han"].sha256


def test_group_outside_profile_is_refused():
    with pytest.raises(InvalidValue) as info:
        tls.client_context(Interface.WAN, trust=["x"], group="X25519")
    assert info.value.field == "tls_group"


def test_verification_needs_a_trust_anchor():
    with pytest.raises(InvalidValue):
        tls.client_context(Interface.HAN, trust=[])


@pytest.mark.parametrize("text", ["ab" * 32, ":".join(["AB"] * 32), "sha256=" + "0f" * 32])
def test_fingerprint_notations(text):
    assert len(tls.normalise_fingerprint(text)) == 64


def test_fingerprint_rejects_garbage():
    with pytest.raises(InvalidValue):
        tls.normalise_fingerprint("abc")


def test_chain_files(demo_pki):
    chain: CertificateChain = demo_pki.tls_chain("smgw_tls")
    assert chain.certfile.read_bytes().count(b"BEGIN CERTIFICATE") == 2
