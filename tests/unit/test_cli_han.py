"""``smgwct han``: the JSON contract of info, logs as CSV/XML, one-line errors, pins, secrets.

``--demo`` starts the embedded default inside the command; the tests without it run the
embedded default in a thread of their own, as a gateway on the network would be.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from app.cli import main
from app.report.log_export import from_csv, from_xml
from app.security.tls import format_fingerprint
from app.sim.embedded import EmbeddedDefault
from app.transports.han.base import LogKind
from app.transports.han.pinning import PinStore, fetch_candidate

HEX = set("0123456789abcdef")
TECHNICIAN = ("ethe0390000001.srv", "Demo-Service-2026")


@pytest.fixture(autouse=True)
def _english(monkeypatch):
    monkeypatch.setenv("SMGWCT_LANG", "en")


def han(capsys, *argv: str, stdin: str | None = None,
        monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["han", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str) -> str:
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("smgwct: ") and "Traceback" not in err
    return lines[0]


class Gateway:
    """The embedded default served from a thread with its own event loop."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.demo = EmbeddedDefault(data_dir=data_dir)
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.demo.start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert ready.wait(30)
        assert self.demo.context.han is not None and self.demo.pki is not None
        self.host, self.port = self.demo.context.han.host, self.demo.context.han.port
        self.sha256 = self.demo.pki["han"].sha256

    def args(self, *extra: str) -> list[str]:
        return ["--host", self.host, "--port", str(self.port), "--vendor", "theben",
                "--user", TECHNICIAN[0], *extra]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.demo.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gw = Gateway(tmp_path / "gw")
    yield gw
    gw.stop()


# --- demo mode ----------------------------------------------------------------------------------


def test_info_json_contract(capsys):
    code, out, err = han(capsys, "info", "--demo", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert {"vendor", "smgw_id", "firmware", "state", "time", "certificates", "meters"} <= set(doc)
    assert doc["vendor"] == "theben"
    assert doc["smgw_id"] == "ETHE0390000001" == doc["smgw_id"].upper()
    assert doc["firmware"] and all(set(f) == {"component", "version", "hash"}
                                   for f in doc["firmware"])
    assert all(set(f["hash"]) <= HEX and len(f["hash"]) == 64 for f in doc["firmware"])
    assert len(doc["state"]) == 8 and set(doc["state"]) <= HEX
    assert doc["time"].startswith("20")
    for cert in doc["certificates"]:
        assert {"role", "subject", "not_after", "sha256"} <= set(cert)
        assert len(cert["sha256"]) == 64 and set(cert["sha256"]) <= HEX
    assert "han_tls" in {c["role"] for c in doc["certificates"]}
    assert {m["server_id"] for m in doc["meters"]} == {"1EMH0012345678", "1DZG0042123440"}


def test_info_as_text_and_meters(capsys):
    code, out, _err = han(capsys, "info", "--demo")
    assert code == 0
    assert "SMGW-ID: ETHE0390000001" in out and "SHA-256" in out
    code, out, _err = han(capsys, "meters", "--demo", "--json")
    assert code == 0
    meters = json.loads(out)
    assert {m["server_id"] for m in meters} == {"1EMH0012345678", "1DZG0042123440"}
    assert all(m["values_available"] is False for m in meters)  # the technician's account


def test_logs_as_csv_paged_past_one_answer(capsysbinary, tmp_path):
    code = main(["han", "logs", "--demo", "--count", "1600", "--from-index", "3",
                 "--format", "csv"])
    out, _err = capsysbinary.readouterr()
    assert code == 0
    assert out.startswith(b"\xef\xbb\xbf") and b";" in out.splitlines()[0]
    entries = from_csv(out)
    assert len(entries) == 1600 and entries[0].index == 3 and entries[-1].index == 1602
    assert {e.kind for e in entries} == {LogKind.SYSTEM}

    target = tmp_path / "consumer.xml"
    assert main(["han", "logs", "--demo", "--kind", "consumer", "--out", str(target)]) == 0
    consumer = from_xml(target.read_bytes())
    assert consumer and {e.kind for e in consumer} == {LogKind.CONSUMER}
    assert b'smgwId="ETHE0390000001"' in target.read_bytes()


def test_logs_time_filter_and_json(capsys):
    code, out, _err = han(capsys, "logs", "--demo", "--json", "--from",
                          "2000-01-01T00:00:00Z", "--to", "2000-01-02T00:00:00Z")
    assert code == 0 and json.loads(out) == []
    code, _out, err = han(capsys, "logs", "--demo", "--from", "last tuesday")
    line = assert_one_line_error(code, err)
    assert "from" in line


def test_wrong_password_is_one_line_and_exit_1(capsys, monkeypatch):
    code, out, err = han(capsys, "info", "--demo", "--password-stdin", stdin="wrong\n",
                         monkeypatch=monkeypatch)
    line = assert_one_line_error(code, err)
    assert "password" in line and out == ""


def test_pin_that_does_not_match_is_refused(capsys):
    code, out, err = han(capsys, "info", "--demo", "--json", "--pin", "ab" * 32)
    line = assert_one_line_error(code, err)
    assert "--pin" in line and "refused" in line and out == ""
    code, _out, err = han(capsys, "info", "--demo", "--pin", "not-a-fingerprint")
    assert "64 hex digits" in assert_one_line_error(code, err)


def test_selftest_in_demo_mode(capsys):
    # each --demo run starts a fresh gateway; the lock is tested against a running one below
    code, out, _err = han(capsys, "selftest", "--demo", "--json")
    assert code == 0 and json.loads(out)["accepted"] is True


def test_missing_host_is_one_line(capsys):
    code, _out, err = han(capsys, "info", "--user", "x")
    assert "--host" in assert_one_line_error(code, err)


# --- a gateway on the "network" -----------------------------------------------------------------


def test_explicit_pin_unattended_and_nothing_stored(capsys, monkeypatch, gateway: Gateway):
    code, out, err = han(capsys, "info", "--json", *gateway.args("--pin", gateway.sha256,
                                                                 "--password-stdin"),
                         stdin=TECHNICIAN[1] + "\n", monkeypatch=monkeypatch)
    assert code == 0, err
    assert json.loads(out)["smgw_id"] == "ETHE0390000001"
    assert PinStore().entries() == []  # --pin neither reads nor changes the pin store


def test_without_pin_a_non_interactive_run_refuses(capsys, monkeypatch, gateway: Gateway):
    code, out, err = han(capsys, "info", *gateway.args("--password-stdin"),
                         stdin=TECHNICIAN[1] + "\n", monkeypatch=monkeypatch)
    line = assert_one_line_error(code, err)
    assert "cannot ask" in line and format_fingerprint(gateway.sha256) in line
    assert PinStore().entries() == []


def test_interactive_run_confirms_the_fingerprint_once(capsys, monkeypatch, gateway: Gateway):
    monkeypatch.setattr("app.cli.han._interactive", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": TECHNICIAN[1])
    code, out, err = han(capsys, "info", "--json", *gateway.args(), stdin="y\n",
                         monkeypatch=monkeypatch)
    assert code == 0, err
    assert format_fingerprint(gateway.sha256) in err and "[y/N]" in err
    pins = PinStore().entries()
    assert {p.sha256 for p in pins} == {gateway.sha256}
    assert any(p.smgw_id == "ETHE0390000001" for p in pins)  # bound after identify

    # from now on the stored pin is used without asking, also non-interactively
    monkeypatch.setattr("app.cli.han._interactive", lambda: False)
    code, out, err = han(capsys, "meters", "--json", *gateway.args("--password-stdin"),
                         stdin=TECHNICIAN[1] + "\n", monkeypatch=monkeypatch)
    assert code == 0, err
    assert "[y/N]" not in err


def test_changed_certificate_against_the_stored_pin_is_refused(capsys, monkeypatch, tmp_path,
                                                               gateway: Gateway):
    # pin another gateway's certificate for this address, as if the gateway had been swapped
    other = EmbeddedDefault(data_dir=tmp_path / "other")

    async def pin_other() -> None:
        await other.start()
        try:
            assert other.context.han is not None
            candidate = await fetch_candidate(other.context.han.host, other.context.han.port)
        finally:
            await other.stop()
        swapped = type(candidate)(gateway.host, gateway.port, candidate.pem, candidate.sha256,
                                  candidate.group)
        PinStore().confirm(swapped, candidate.sha256)

    asyncio.run(pin_other())
    code, out, err = han(capsys, "info", *gateway.args("--password-stdin"),
                         stdin=TECHNICIAN[1] + "\n", monkeypatch=monkeypatch)
    line = assert_one_line_error(code, err)
    assert "has changed" in line and "refused" in line and out == ""


def test_selftest_lock_exit_3_with_time(capsys, monkeypatch, gateway: Gateway):
    for expected in (0, 3):
        code, out, err = han(capsys, "selftest", "--json",
                             *gateway.args("--pin", gateway.sha256, "--password-stdin"),
                             stdin=TECHNICIAN[1] + "\n", monkeypatch=monkeypatch)
        assert code == expected, err
    doc = json.loads(out)
    assert doc["accepted"] is False and 500 < doc["retry_after_seconds"] <= 600
    assert doc["retry_at"] and "10 minutes" in doc["message"]
    assert len(err.strip().splitlines()) == 1


def test_client_certificate_from_pkcs12(capsys, monkeypatch, tmp_path, gateway: Gateway):
    tech = gateway.demo.pki["technician"]
    p12 = tmp_path / "technician.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"technician", tech.key, tech.cert, [gateway.demo.pki["sub_ca"].cert],
        BestAvailableEncryption(b"p12-secret")))
    folders: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        folder = real_mkdtemp(*args, **kwargs)
        folders.append(Path(folder))
        return folder

    monkeypatch.setattr("tempfile.mkdtemp", recording_mkdtemp)
    monkeypatch.setattr("app.cli.han._interactive", lambda: True)
    asked: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt="": asked.append(prompt) or "p12-secret")
    code, out, err = han(capsys, "info", "--json",
                         *gateway.args("--pin", gateway.sha256, "--cert", str(p12)))
    assert code == 0, err
    assert json.loads(out)["smgw_id"] == "ETHE0390000001"
    assert asked == ["Password of technician.p12: "]  # the PKCS#12 password, no HAN password
    assert folders and not any(f.exists() for f in folders)  # the PEM files are gone

    monkeypatch.setattr("getpass.getpass", lambda prompt="": "wrong")
    code, _out, err = han(capsys, "info", *gateway.args("--pin", gateway.sha256,
                                                        "--cert", str(p12)))
    assert "wrong password" in assert_one_line_error(code, err)
