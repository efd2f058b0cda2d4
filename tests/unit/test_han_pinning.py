"""Trust on first use: the pin store confirms explicitly, persists, enforces and fails closed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.errors import ConfigurationError, InvalidValue
from app.security.pki import create_demo_pki
from app.transports.han.errors import HanCertificateChanged
from app.transports.han.pinning import (
    PIN_FILE,
    CertificateCandidate,
    PinnedCertificate,
    PinStore,
    certificate_group,
    data_dir,
)


def _candidate(demo_pki, host: str = "192.168.1.200", port: int = 443) -> CertificateCandidate:
    cert = demo_pki["han"]
    return CertificateCandidate(host, port, cert.cert_pem, cert.sha256,
                                certificate_group(cert.cert_pem))


def test_default_location_honours_the_data_dir(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMGWCT_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    assert PinStore().path == tmp_path / PIN_FILE


def test_nothing_is_pinned_without_the_matching_confirmation(demo_pki, tmp_path: Path) -> None:
    store = PinStore(tmp_path / "pins.json")
    candidate = _candidate(demo_pki)
    with pytest.raises(InvalidValue) as info:
        store.confirm(candidate, "ab" * 32)
    assert info.value.field == "fingerprint"
    with pytest.raises(InvalidValue):
        store.confirm(candidate, "not a fingerprint")
    assert store.entries() == [] and not (tmp_path / "pins.json").exists()


def test_confirm_persist_bind_and_enforce(demo_pki, tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    store = PinStore(path)
    candidate = _candidate(demo_pki)
    pin = store.confirm(candidate, candidate.fingerprint_display)  # "AB:CD:..." is accepted
    assert pin.address == "192.168.1.200:443" and pin.group == "brainpoolP256r1"
    bound = store.bind(pin, "ethe0390000001")
    assert bound.smgw_id == "ETHE0390000001"
    again = PinStore(path)
    assert again.get(smgw_id="ETHE0390000001").sha256 == candidate.sha256
    assert again.get(host="192.168.1.200", port=443).smgw_id == "ETHE0390000001"
    again.check_identity("ETHE0390000001", candidate.sha256)
    with pytest.raises(HanCertificateChanged) as info:
        again.check_identity("ethe0390000001", "cd" * 32)
    assert info.value.expected == candidate.sha256 and info.value.actual == "cd" * 32
    assert "geändert" in info.value.describe("de")


def test_a_gateway_pinned_elsewhere_cannot_be_rebound(demo_pki, tmp_path: Path) -> None:
    store = PinStore(tmp_path / "pins.json")
    first = store.confirm(_candidate(demo_pki), demo_pki["han"].sha256, smgw_id="ETHE0390000001")
    other = create_demo_pki("ETHE0390000001")
    impostor = PinnedCertificate.from_pem(other["han"].cert_pem, address="10.0.0.1:443")
    with pytest.raises(HanCertificateChanged):
        store.bind(impostor, "ETHE0390000001")
    assert store.get(smgw_id="ETHE0390000001").sha256 == first.sha256


def test_forget_after_a_confirmed_change(demo_pki, tmp_path: Path) -> None:
    store = PinStore(tmp_path / "pins.json")
    store.confirm(_candidate(demo_pki), demo_pki["han"].sha256, smgw_id="ETHE0390000001")
    assert store.forget(smgw_id="ETHE0390000001", host="192.168.1.200", port=443)
    assert PinStore(tmp_path / "pins.json").entries() == []
    assert not store.forget(smgw_id="ETHE0390000001")


@pytest.mark.parametrize(
    "content",
    ["{broken", json.dumps({"format": "other", "version": 1, "pins": {}}),
     json.dumps({"format": "smgwct-han-pins", "version": 1,
                 "pins": {"smgw:X": {"pem": "x", "sha256": "00", "group": "g",
                                     "confirmed_at": "2026-01-01T00:00:00+00:00"}}})],
)
def test_a_damaged_file_fails_closed(tmp_path: Path, content: str) -> None:
    path = tmp_path / "pins.json"
    path.write_text(content, "utf-8")
    with pytest.raises(ConfigurationError) as info:
        PinStore(path)
    assert str(path) in info.value.describe("en")


def test_a_tampered_fingerprint_is_detected(demo_pki, tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    store = PinStore(path)
    store.confirm(_candidate(demo_pki), demo_pki["han"].sha256)
    data = json.loads(path.read_text("utf-8"))
    for entry in data["pins"].values():
        entry["sha256"] = "ee" * 32
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(ConfigurationError):
        PinStore(path)


def test_pinned_context_trusts_only_that_certificate(demo_pki) -> None:
    pin = PinnedCertificate.from_pem(demo_pki["han"].cert_der)
    context = pin.ssl_context()
    assert context.check_hostname is False
    assert context.cert_store_stats()["x509"] == 1
