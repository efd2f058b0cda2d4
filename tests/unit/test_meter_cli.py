"""``smgwct meter``: the JSON contract of decode/read, one-line errors, list-ports, simulate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "sml"
EMH = FIXTURES / "EMH_eHZ-HW8E2A5L0EK2P.bin"
HEX = set("0123456789abcdef")


@pytest.fixture(autouse=True)
def _english(monkeypatch):
    monkeypatch.setenv("SMGWCT_LANG", "en")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["meter", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_contract(doc: dict) -> None:
    """Keys, types and hex form exactly as the contract says."""
    assert set(doc) == {"identity", "frames", "errors"}
    assert set(doc["identity"]) == {"server_id", "server_id_text", "manufacturer", "public_key"}
    for key in ("server_id", "public_key"):
        value = doc["identity"][key]
        assert value is None or (set(value) <= HEX and len(value) % 2 == 0)
    for frame in doc["frames"]:
        assert set(frame) == {"crc_ok", "server_id", "readings"}
        assert isinstance(frame["crc_ok"], bool)
        assert frame["server_id"] is None or set(frame["server_id"]) <= HEX
        for reading in frame["readings"]:
            assert set(reading) == {"obis", "value", "unit", "raw"}
            assert len(reading["obis"]) == 12 and set(reading["obis"]) <= HEX
            assert reading["value"] is None or isinstance(reading["value"], int | float)
    for error in doc["errors"]:
        assert set(error) == {"offset", "kind", "detail"}
        assert isinstance(error["offset"], int) and error["kind"] and error["detail"]


def assert_one_line_error(code: int, err: str) -> None:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("smgwct: ")
    assert "Traceback" not in err


# --- decode -----------------------------------------------------------------------------------


def test_decode_emh_dump_matches_the_contract(capsys):
    code, out, err = run_cli(capsys, "decode", str(EMH), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert_contract(doc)
    # checked by hand in the dump: 0b 06454d4801027153c8c6 after 07 0100000009ff
    assert doc["identity"]["server_id"] == "06454d4801027153c8c6"
    assert doc["identity"]["server_id_text"] == "1EMH110002878662"
    assert doc["identity"]["manufacturer"] == "EMH"
    assert len(doc["identity"]["public_key"]) == 96
    assert len(doc["frames"]) == 12 and all(f["crc_ok"] for f in doc["frames"])
    first = {r["obis"]: r for r in doc["frames"][0]["readings"]}
    # 07 0100010800ff 63 0182 01 62 1e 52 ff 56 00050076c8: 83916488 x 10^-1 Wh
    assert first["0100010800ff"] == {
        "obis": "0100010800ff", "value": 8391648.8, "unit": "Wh", "raw": 83916488,
    }
    assert first["0100000009ff"]["raw"] == "06454d4801027153c8c6"
    assert first["0100000009ff"]["value"] is None
    assert doc["errors"] and doc["errors"][-1]["kind"] == "truncated"


def test_decode_human_output_has_identity_card_and_registers(capsys):
    code, out, _ = run_cli(capsys, "decode", str(EMH))
    assert code == 0
    assert "Server ID" in out and "06454d4801027153c8c6" in out and "EMH" in out
    assert "1-0:1.8.0*255" in out and "Wh" in out and "Active energy import, total" in out
    assert "Telegrams: 12 (12 CRC OK), errors: 1" in out


def test_decode_in_german(capsys, monkeypatch):
    monkeypatch.setenv("SMGWCT_LANG", "de")
    code, out, _ = run_cli(capsys, "decode", str(EMH))
    assert code == 0
    assert "Server-ID" in out and "Hersteller" in out and "Wirkarbeit Bezug, gesamt" in out


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.bin")))
def test_every_fixture_decodes_to_the_contract(capsys, name):
    code, out, _ = run_cli(capsys, "decode", str(FIXTURES / name), "--json")
    assert code == 0
    doc = json.loads(out)
    assert_contract(doc)
    assert doc["frames"] and doc["identity"]["server_id"]


def test_decode_reads_standard_input():
    data = EMH.read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "app", "meter", "decode", "-", "--json"],
        input=data, capture_output=True, cwd=ROOT, timeout=60,
        env={**os.environ, "SMGWCT_LANG": "en"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["identity"]["server_id"] == "06454d4801027153c8c6"


def test_missing_file_is_one_line_without_traceback(capsys, tmp_path):
    code, out, err = run_cli(capsys, "decode", str(tmp_path / "nope.bin"), "--json")
    assert_one_line_error(code, err)
    assert "nope.bin" in err and out == ""


def test_directory_is_one_line_without_traceback(capsys, tmp_path):
    code, _, err = run_cli(capsys, "decode", str(tmp_path))
    assert_one_line_error(code, err)


def test_file_without_sml_fails_with_reason(capsys, tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("1.8.0(001234.5678*kWh)\n")
    code, out, err = run_cli(capsys, "decode", str(junk), "--json")
    assert_one_line_error(code, err)
    assert "No SML telegram" in err
    doc = json.loads(out)  # the contract is still printed: the errors say what was seen
    assert doc["frames"] == [] and doc["errors"][0]["kind"] == "garbage"


def test_unreadable_file_in_subprocess_has_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "app", "meter", "decode", str(tmp_path / "missing.bin")],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={**os.environ, "SMGWCT_LANG": "de"},
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "nicht lesbar" in done.stderr


# --- read -------------------------------------------------------------------------------------


def test_read_unopenable_port_is_one_line(capsys):
    code, out, err = run_cli(capsys, "read", "--port", "socket://127.0.0.1:1", "--json")
    assert_one_line_error(code, err)
    assert "socket://127.0.0.1:1" in err and out == ""


def test_read_rejects_nonpositive_seconds(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["meter", "read", "--port", "loop://", "--seconds", "0"])
    assert caught.value.code == 2


@pytest.fixture
def simulated_meter():
    """``smgwct meter simulate`` in a child process; yields its JSON line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "meter", "simulate", "--server-id", "1EMH0012345678",
         "--protocol", "both", "--push-interval", "0.2", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        yield json.loads(line)
    finally:
        if sys.platform == "win32":  # pragma: no cover
            proc.terminate()
        else:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 130, -signal.SIGINT) or sys.platform == "win32"


def test_simulate_then_read_sml_json(capsys, simulated_meter):
    assert simulated_meter["server_id"] == "0a01454d480000bc614e"
    assert simulated_meter["url"].startswith("socket://127.0.0.1:")
    code, out, err = run_cli(capsys, "read", "--port", simulated_meter["url"],
                             "--protocol", "sml", "--seconds", "1.0", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert_contract(doc)
    assert doc["identity"]["server_id"] == "0a01454d480000bc614e"
    assert doc["identity"]["server_id_text"] == "1EMH0012345678"
    assert doc["identity"]["manufacturer"] == "EMH"
    assert len(doc["frames"]) >= 3
    power = {r["obis"]: r for r in doc["frames"][-1]["readings"]}["0100100700ff"]
    assert power["value"] == 345.6 and power["unit"] == "W" and power["raw"] == 3456


def test_simulate_then_read_iec_human(capsys, simulated_meter):
    code, out, err = run_cli(capsys, "read", "--port", simulated_meter["url"],
                             "--protocol", "iec")
    assert code == 0, err
    assert "IEC 62056-21, 9600 Bd 7E1" in out
    assert "1EMH0012345678" in out
    assert "1-0:1.8.0*255" in out and "Wh" in out


# --- list-ports and simulate ------------------------------------------------------------------


def test_list_ports_json_flags_read_heads(capsys, monkeypatch):
    fake = [
        SimpleNamespace(device="/dev/ttyS0", description="n/a", hwid="n/a", vid=None, pid=None,
                        serial_number=None, manufacturer=None, product=None),
        SimpleNamespace(device="/dev/ttyUSB0", description="FT232R USB UART",
                        hwid="USB VID:PID=0403:6001 SER=A10K", vid=0x0403, pid=0x6001,
                        serial_number="A10K", manufacturer="FTDI", product="FT232R USB UART"),
        SimpleNamespace(device="/dev/ttyACM3", description="Hichi IR read head",
                        hwid="USB VID:PID=1234:5678", vid=0x1234, pid=0x5678,
                        serial_number=None, manufacturer=None, product=None),
    ]
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: fake)
    code, out, _ = run_cli(capsys, "list-ports", "--json")
    assert code == 0
    ports = json.loads(out)
    assert [p["device"] for p in ports] == ["/dev/ttyACM3", "/dev/ttyUSB0", "/dev/ttyS0"]
    assert [p["likely_read_head"] for p in ports] == [True, True, False]
    usb = ports[1]
    assert (usb["vid"], usb["pid"], usb["serial_number"]) == (0x0403, 0x6001, "A10K")
    assert usb["chip"] == "FTDI FT232R" and usb["hwid"].startswith("USB VID:PID")
    code, out, _ = run_cli(capsys, "list-ports")
    assert "* /dev/ttyUSB0" in out and "USB 0403:6001" in out


def test_list_ports_without_ports(capsys, monkeypatch):
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: [])
    code, out, _ = run_cli(capsys, "list-ports")
    assert code == 0 and "No serial ports found" in out


def test_simulate_unknown_scenario_is_one_line(capsys):
    code, _, err = run_cli(capsys, "simulate", "--scenario", "no-such-scenario")
    assert_one_line_error(code, err)
    assert "no-such-scenario" in err


def test_simulate_bad_server_id_is_one_line(capsys):
    code, _, err = run_cli(capsys, "simulate", "--server-id", "12345")
    assert_one_line_error(code, err)
    assert "server_id" in err
