"""``smgwct gwa``: the command against a reference GWA (technician API over mutual TLS) that runs
in a background thread, with PEM and PKCS#12 technician certificates."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from app.cli import main
from app.security.pki import DemoPki
from tests.integration.test_gwa_link_support import SMGW, FakeGwa, Result, free_port, start_server

pytestmark = pytest.mark.timeout(60)


class GwaThread:
    """The technician API with a scripted core on its own event loop and thread."""

    def __init__(self, pki: DemoPki, jobs: Path, *, port: int = 0, **core_args) -> None:
        self.loop = asyncio.new_event_loop()
        self.core: FakeGwa | None = None
        self.handle = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

        async def start():
            self.core = FakeGwa(**core_args)
            self.handle = await start_server(pki, self.core, jobs, port=port)

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(15)

    @property
    def url(self) -> str:
        return self.handle.url

    def call(self, fn, *args):
        async def run():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.handle.close(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@pytest.fixture(autouse=True)
def _english(monkeypatch):
    monkeypatch.setenv("SMGWCT_LANG", "en")


@pytest.fixture
def gwa(demo_pki, tmp_path):
    started = []

    def start(**kwargs):
        server = GwaThread(demo_pki, tmp_path / "jobs.sqlite", **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _pem_args(pki: DemoPki, url: str) -> list[str]:
    assert pki.directory is not None
    return ["--url", url, "--ca", str(pki.directory / "root.cert.pem"),
            "--cert", str(pki.directory / "technician.chain.pem"),
            "--key", str(pki.directory / "technician.key.pem")]


def _p12(pki: DemoPki, path: Path, password: bytes) -> Path:
    item = pki["technician"]
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"technician", item.key, item.cert, [pki["sub_ca"].cert],
        serialization.BestAvailableEncryption(password)))
    return path


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_status_json_shows_both_certificates(demo_pki, gwa, capsys):
    server = gwa()
    code = main(["gwa", "status", *_pem_args(demo_pki, server.url), "--json"])
    out = _lines(capsys.readouterr().out)
    assert code == 0
    assert out[0]["technician_sha256"] == demo_pki["technician"].sha256
    assert out[0]["gwa_sha256"] == demo_pki["gwa_tls"].sha256
    assert any(p["name"] == "self_test" and p["available"] for p in out[0]["processes"])


def test_run_with_pkcs12_prints_progress_and_result_as_json_lines(
        demo_pki, gwa, tmp_path, capsys, monkeypatch):
    server = gwa()
    p12 = _p12(demo_pki, tmp_path / "tech.p12", b"s3cret pass")
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret pass\n"))
    code = main(["gwa", "run", "time_sync", "--smgw-id", SMGW, "--param",
                 "server=ntp://ntp.example", "--url", server.url, "--ca",
                 str(demo_pki.directory / "root.cert.pem"), "--cert", str(p12),
                 "--password-stdin", "--json"])
    lines = _lines(capsys.readouterr().out)
    assert code == 0
    progress = [line for line in lines if line["type"] == "progress"]
    assert [p["sequence"] for p in progress] == list(range(1, len(progress) + 1))
    assert progress[0]["step"] == "accepted" and progress[-1]["state"] == "succeeded"
    result = lines[-1]
    assert result["type"] == "result" and result["ok"] and result["state"] == "succeeded"
    assert result["job_url"].startswith(server.url + "/tech/v1/jobs/")
    assert server.core.calls[0][1] == "time_sync"


def test_wrong_pkcs12_password_is_a_one_line_error(demo_pki, gwa, tmp_path, capsys, monkeypatch):
    server = gwa()
    p12 = _p12(demo_pki, tmp_path / "tech.p12", b"right")
    monkeypatch.setattr("sys.stdin", io.StringIO("wrong\n"))
    code = main(["gwa", "status", "--url", server.url, "--ca",
                 str(demo_pki.directory / "root.cert.pem"), "--cert", str(p12),
                 "--password-stdin"])
    err = capsys.readouterr().err
    assert code == 1
    assert "wrong password" in err and "Traceback" not in err
    assert server.core.calls == []


def test_key_material_is_refused_on_the_command_line(demo_pki, gwa, capsys):
    server = gwa()
    code = main(["gwa", "run", "pairing", "--smgw-id", SMGW, "--param", "server_id=1EMH0012345678",
                 "--param", "initial_key=00112233445566778899aabbccddeeff",
                 *_pem_args(demo_pki, server.url)])
    err = capsys.readouterr().err
    assert code == 1 and "--params-file" in err
    assert server.core.calls == []


def test_pairing_key_from_a_params_file(demo_pki, gwa, tmp_path, capsys):
    server = gwa()
    params = tmp_path / "pairing.json"
    params.write_text(json.dumps({"server_id": "1EMH0012345678",
                                  "initial_key": "00112233445566778899aabbccddeeff"}))
    code = main(["gwa", "run", "pairing", "--smgw-id", SMGW, "--params-file", str(params),
                 *_pem_args(demo_pki, server.url)])
    out = capsys.readouterr().out
    assert code == 0 and "OK: pairing" in out
    assert server.core.calls[0][2]["initial_key"] == bytes.fromhex(
        "00112233445566778899aabbccddeeff")


def test_failed_process_exits_non_zero(demo_pki, gwa, capsys):
    server = gwa(result=lambda _p, _params: Result(False, error_code="wake-up-unanswered"))
    code = main(["gwa", "run", "self_test", "--smgw-id", SMGW,
                 *_pem_args(demo_pki, server.url), "--json"])
    result = _lines(capsys.readouterr().out)[-1]
    assert code == 1
    assert result["ok"] is False and result["failure"]["reason"] == "wake-up-unanswered"


def test_offline_run_is_queued_and_flushed_once(demo_pki, gwa, capsys):
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    code = main(["gwa", "run", "self_test", "--smgw-id", SMGW, *_pem_args(demo_pki, url),
                 "--json"])
    queued = _lines(capsys.readouterr().out)[-1]
    assert code == 3 and queued["queued"] is True and queued["pending"] == 1

    code = main(["gwa", "queue", *_pem_args(demo_pki, url), "--json"])
    listed = _lines(capsys.readouterr().out)
    assert code == 0
    assert [e["idempotency_key"] for e in listed if e["type"] == "queued"] == [
        queued["idempotency_key"]]

    server = gwa(port=port)
    code = main(["gwa", "queue", "--flush", *_pem_args(demo_pki, url), "--json"])
    lines = _lines(capsys.readouterr().out)
    assert code == 0
    results = [line for line in lines if line["type"] == "result" and "state" in line]
    assert [r["idempotency_key"] for r in results] == [queued["idempotency_key"]]
    assert results[0]["ok"] and lines[-1]["remaining"] == 0
    assert len(server.core.calls) == 1

    code = main(["gwa", "queue", "--flush", *_pem_args(demo_pki, url), "--json"])
    assert code == 0 and _lines(capsys.readouterr().out)[-1]["sent"] == 0
    assert len(server.core.calls) == 1


def test_events_are_listed(demo_pki, gwa, capsys):
    server = gwa()
    server.call(server.core.publish, "SMGW_STARTED")
    server.call(server.core.publish, "METER_DETECTED")
    code = main(["gwa", "events", "--smgw-id", SMGW, *_pem_args(demo_pki, server.url), "--json"])
    lines = _lines(capsys.readouterr().out)
    assert code == 0
    assert [line["name"] for line in lines if line["type"] == "event"] == [
        "SMGW_STARTED", "METER_DETECTED"]
    assert lines[-1] == {"type": "result", "ok": True, "events": 2}


def test_missing_connection_options_are_explained(capsys):
    code = main(["gwa", "status", "--url", "https://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 1 and "--ca" in err and "--demo" in err
