"""The optical link against the virtual meter: real pty with pyserial (Linux), socket:// URLs,
SML push and IEC 62056-21 mode C, fault injection, silence, cancellation."""

from __future__ import annotations

import asyncio
import hashlib
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain import Obis
from app.protocols.iec62056_21 import SerialSettings
from app.sim.meter import MeterFaults, MeterProfile, VirtualMeter, pty_supported
from app.transports.optical import (
    ALIGN_HINT,
    OpticalLink,
    OpticalReadError,
    OpticalSnapshot,
)
from app.transports.serial_ports import SerialChannel, SerialLinkError

EASYMETER = Path(__file__).resolve().parents[1] / "fixtures/sml/EasyMeter_Q3A_A1064V1009.bin"
IMPORT = Obis(1, 0, 1, 8, 0)
EXPORT = Obis(1, 0, 2, 8, 0)
POWER = Obis(1, 0, 16, 7, 0)
KEY = bytes(range(1, 49))

needs_pty = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and pty_supported()), reason="ptys need Linux"
)
ENDPOINTS = [pytest.param("tcp", id="socket"), pytest.param("pty", id="pty", marks=needs_pty)]


def profile(**changes) -> MeterProfile:
    base = dict(public_key=KEY, push_interval=0.2, import_wh=5_000_000.0, export_wh=1234.5,
                power_w=720.0, model="VIRT-OPT-1")
    base.update(changes)
    return MeterProfile.example(**base)


def serial_reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("serial-reader")]


async def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def assert_identity(snap: OpticalSnapshot, meter: VirtualMeter) -> None:
    ident = snap.identity
    assert ident.server_id == meter.profile.server_id
    assert ident.server_id.text == "1EMH0012345678"
    assert ident.manufacturer == "EMH"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_sml_push_read_through_pyserial(endpoint):
    async with VirtualMeter(profile(), endpoint=endpoint) as meter:
        if endpoint == "pty":
            assert meter.url.startswith("/dev/")  # a real tty device that pyserial opens
        else:
            assert meter.url.startswith("socket://127.0.0.1:")
        frames_seen: list[int] = []
        snap = await OpticalLink(meter.url).read(
            "sml", seconds=1.5, on_frame=lambda s: frames_seen.append(s.status.frames)
        )
        elapsed = meter.elapsed()
    assert snap.source == "sml"
    assert_identity(snap, meter)
    assert snap.identity.public_key == KEY
    imported = snap.value(IMPORT)
    assert Decimal("5000000.0") <= imported <= Decimal(5_000_000 + 720 / 3600 * elapsed + 0.1)
    assert snap.get(IMPORT).unit == "Wh"
    assert snap.value(EXPORT) == Decimal("1234.5")
    assert snap.value(POWER) == Decimal("720.0") and snap.get(POWER).unit == "W"
    status = snap.status
    assert status.protocol == "sml" and status.settings == "9600 Bd 8N1"
    assert status.frames_ok >= 4 and status.frame_errors == 0 and status.garbage_bytes == 0
    assert status.hint is None
    assert frames_seen == sorted(frames_seen) and frames_seen[-1] == status.frames
    doc = snap.to_json_dict()
    assert set(doc) == {"identity", "frames", "errors"}
    assert doc["identity"]["public_key"] == KEY.hex()
    assert doc["frames"][0]["server_id"] == meter.profile.server_id.hex
    assert not serial_reader_threads()


@pytest.mark.parametrize(
    ("meter_protocol", "expected"), [("sml", "sml"), ("iec", "iec62056-21"), ("both", "sml")]
)
async def test_auto_detection_picks_what_the_meter_speaks(meter_protocol, expected):
    statuses = []
    async with VirtualMeter(profile(protocol=meter_protocol)) as meter:
        link = OpticalLink(meter.url, detect_seconds=1.0)
        snap = await link.read("auto", seconds=1.5, on_status=statuses.append)
    assert snap.source == expected
    assert_identity(snap, meter)
    assert snap.value(POWER) == Decimal("720.0")
    said = " ".join(t.en for t in statuses)
    assert "9600 Bd 8N1" in said
    if expected != "sml":
        assert "300 Bd 7E1" in said


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_iec_mode_c_readout_with_baud_switch(endpoint):
    async with VirtualMeter(profile(protocol="iec"), endpoint=endpoint) as meter:
        snap = await OpticalLink(meter.url).read("iec")
    assert snap.source == "iec62056-21"
    assert_identity(snap, meter)
    assert snap.identity.firmware == "VIRT-OPT-1"  # the identification string
    assert snap.value(IMPORT) >= Decimal("5000000.0") and snap.get(IMPORT).unit == "Wh"
    assert snap.value(POWER) == Decimal("720.0")
    assert snap.status.settings == "9600 Bd 7E1"
    assert snap.status.baud_switch_refused is False and snap.status.hint is None
    assert meter.stats.baud_switches == [9600] and meter.stats.iec_readouts == 1
    assert snap.frames[0].crc_ok is True


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_iec_refused_baud_switch_falls_back_to_300_baud(endpoint):
    faults = MeterFaults(refuse_baud_switch=True)
    statuses = []
    async with VirtualMeter(profile(protocol="iec"), endpoint=endpoint, faults=faults) as meter:
        started = time.monotonic()
        snap = await OpticalLink(meter.url).read("iec", on_status=statuses.append)
        took = time.monotonic() - started
    assert snap.status.baud_switch_refused is True
    assert snap.status.settings == "300 Bd 7E1"
    assert snap.status.frames_ok == 1
    assert "refused the baud rate switch" in snap.status.hint.en
    assert_identity(snap, meter)
    assert snap.value(POWER) == Decimal("720.0")
    # the first data message went out at 300 Bd while the head listened at 9600 Bd
    assert meter.stats.garbled_bytes > 0
    assert meter.stats.iec_requests == 2 and meter.stats.baud_switches == []
    assert any("300 Bd" in t.en for t in statuses)
    assert took < 10


async def test_iec_bytes_with_parity_bit_are_masked_to_seven_bits():
    faults = MeterFaults(parity_bits=True)
    async with VirtualMeter(profile(protocol="iec"), faults=faults) as meter:
        snap = await OpticalLink(meter.url).read("iec")
    assert_identity(snap, meter)
    assert snap.value(POWER) == Decimal("720.0")


async def test_garbage_and_crc_errors_are_counted_with_align_hint():
    faults = MeterFaults(corrupt_every=2, garbage_every=3, garbage_bytes=40)
    async with VirtualMeter(profile(push_interval=0.15), faults=faults) as meter:
        snap = await OpticalLink(meter.url).read("sml", seconds=1.6)
    status = snap.status
    assert status.frame_errors >= 2
    assert status.garbage_bytes >= 40 and status.garbage_bytes % 40 == 0
    assert status.frames_ok >= 2 and status.frames == status.frames_ok + status.frame_errors
    assert status.hint == ALIGN_HINT
    assert "Lesekopf ausrichten" in status.hint.de
    kinds = {e.kind for e in snap.errors}
    assert "crc" in kinds and "garbage" in kinds
    assert snap.crc_ok is False
    assert any(not f["crc_ok"] for f in snap.to_json_dict()["frames"])
    assert_identity(snap, meter)  # the good telegrams still give the meter


async def test_only_damaged_telegrams_raise_noise_error_with_hint():
    faults = MeterFaults(corrupt_every=1)
    async with VirtualMeter(profile(public_key=b""), faults=faults) as meter:
        with pytest.raises(OpticalReadError) as caught:
            await OpticalLink(meter.url).read("sml", seconds=1.0)
    err = caught.value
    # the flipped bit sits in the GetListResponse of every telegram: no register survives
    assert err.kind == "noise"
    assert err.status.frame_errors >= 3 and err.status.frames_ok == 0
    assert err.hint == ALIGN_HINT
    assert "Lesekopf ausrichten" in err.describe("de")
    assert "\n" not in err.describe("en")
    assert any(e.kind == "crc" for e in err.errors)


async def test_iec_bcc_errors_are_counted_and_reported():
    faults = MeterFaults(corrupt_every=1)
    async with VirtualMeter(profile(protocol="iec"), faults=faults) as meter:
        link = OpticalLink(meter.url, iec_attempts=2)
        with pytest.raises(OpticalReadError) as caught:
            await link.read("iec")
    err = caught.value
    assert err.kind == "protocol"
    assert err.status.frame_errors == 2
    assert [e.kind for e in err.errors] == ["bcc", "bcc"]
    assert err.hint == ALIGN_HINT


async def test_silent_meter_gives_timeout_naming_what_was_tried():
    faults = MeterFaults(silence=True)
    async with VirtualMeter(profile(protocol="both"), faults=faults) as meter:
        link = OpticalLink(meter.url, detect_seconds=1.0)
        started = time.monotonic()
        with pytest.raises(OpticalReadError) as caught:
            await link.read("auto", seconds=5)
        took = time.monotonic() - started
    err = caught.value
    assert err.kind == "timeout"
    text = err.describe("en")
    assert "9600 Bd 8N1" in text and "300 Bd 7E1" in text and meter.url in text
    assert "9600 Bd 8N1" in err.describe("de")
    # 1 s listening for SML + 2 s waiting for the identification, nothing more
    assert 2.5 < took < 5.0
    assert err.status.bytes_received == 0


async def test_silent_sml_read_times_out_after_the_given_seconds():
    async with VirtualMeter(profile(), faults=MeterFaults(silence=True)) as meter:
        started = time.monotonic()
        with pytest.raises(OpticalReadError) as caught:
            await OpticalLink(meter.url).read("sml", seconds=1.0)
        took = time.monotonic() - started
    assert caught.value.kind == "timeout"
    assert 0.9 < took < 2.5


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_cancellation_closes_the_port(endpoint):
    async with VirtualMeter(profile(protocol="sml"), endpoint=endpoint) as meter:
        link = OpticalLink(meter.url)
        seen: list[OpticalSnapshot] = []
        task = asyncio.create_task(link.read("sml", None, seen.append))
        await until(lambda: len(seen) >= 2)
        assert link.is_open and serial_reader_threads()
        if endpoint == "tcp":
            assert meter.open_connections == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not link.is_open
        await until(lambda: not serial_reader_threads(), 3.0)
        if endpoint == "tcp":
            await until(lambda: meter.open_connections == 0, 3.0)
        # the port is free again: a second read works
        snap = await link.read("sml", seconds=0.6)
        assert snap.status.frames_ok >= 1


async def test_cancellation_in_the_middle_of_an_iec_readout_closes_the_port():
    faults = MeterFaults(refuse_baud_switch=True)  # makes the readout take a few seconds
    async with VirtualMeter(profile(protocol="iec"), faults=faults) as meter:
        link = OpticalLink(meter.url)
        task = asyncio.create_task(link.read("iec"))
        await until(lambda: meter.stats.iec_requests >= 1)
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await until(lambda: meter.open_connections == 0, 3.0)
    assert not serial_reader_threads()


@pytest.mark.parametrize(
    "port", ["socket://127.0.0.1:1", "/dev/nonexistent-read-head", "nosuchscheme://x"]
)
async def test_unopenable_port_is_a_clear_error(port):
    with pytest.raises(SerialLinkError) as caught:
        await OpticalLink(port).read("sml", seconds=1)
    assert caught.value.kind == "open"
    line = caught.value.describe("de")
    assert port in line and "\n" not in line and "Lesekopf" in line


async def test_meter_hanging_up_is_reported():
    meter = VirtualMeter(profile())
    await meter.start()
    link = OpticalLink(meter.url)
    task = asyncio.create_task(link.read("sml", None))
    await until(lambda: meter.open_connections == 1)
    await meter.stop()
    with pytest.raises(SerialLinkError) as caught:
        await asyncio.wait_for(task, 5)
    assert caught.value.kind == "closed"
    assert not link.is_open


async def test_channel_masks_seven_bit_data_and_applies_settings():
    channel = await SerialChannel.open("loop://", SerialSettings(9600, 8, "N", 1))
    try:
        await channel.write(b"\xaf\x21")
        await until(lambda: not channel._queue.empty(), 2)
        assert await channel.read(1.0) == b"\xaf\x21"
        await channel.configure(SerialSettings(300))  # 7E1
        assert channel.settings.parity == "E"
        await channel.write(b"\xaf\x21")
        data = b""
        while len(data) < 2:
            data += await channel.read(1.0)
        assert data == b"/!"
        assert await channel.read(0.05) == b""
    finally:
        await channel.close()
    assert not channel.is_open


@pytest.mark.parametrize("chunk", [1, 7, 4096])
async def test_real_dump_replayed_over_socket_counts_its_damaged_telegrams(chunk):
    """EasyMeter Q3A capture: starts mid-telegram (445 bytes lead-in), 7 telegrams of which 3
    are damaged (lost bytes, CRC), whatever the chunking on the line."""
    dump = EASYMETER.read_bytes()  # noqa: ASYNC240 (small file, test only)

    async def replay(reader, writer):
        await asyncio.sleep(0.3)  # pyserial drops what arrives while socket:// opens
        for i in range(0, len(dump), chunk):
            writer.write(dump[i : i + chunk])
        await writer.drain()
        await reader.read()  # until the link hangs up
        writer.close()

    server = await asyncio.start_server(replay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        snap = await OpticalLink(f"socket://127.0.0.1:{port}").read("sml", seconds=1.5)
    finally:
        server.close()
    status = snap.status
    assert (status.frames, status.frames_ok, status.frame_errors) == (7, 4, 3)
    assert status.garbage_bytes == 0  # the lead-in is not noise
    assert status.hint == ALIGN_HINT
    assert snap.identity.server_id.text == "1ESY1162232997"
    assert snap.get(IMPORT).unit == "Wh"
    assert [f.crc_ok for f in snap.frames].count(False) == 3


async def test_every_meter_of_the_demo_scenario_can_be_read():
    from app.errors import ConfigurationError
    from app.sim.meter import load_demo_meters, start_demo_meters

    try:
        profiles = load_demo_meters("default")
    except ConfigurationError:
        pytest.skip("no default demo scenario in this tree")
    if not profiles:
        pytest.skip("the default demo scenario has no meters")
    meters = await start_demo_meters("default")
    try:
        assert [m.profile for m in meters] == profiles
        for meter in meters:
            snap = await OpticalLink(meter.url).read("sml", seconds=1.3)
            assert snap.identity.server_id == meter.profile.server_id
            assert snap.value(IMPORT) >= Decimal(str(meter.profile.import_wh))
            assert snap.value(POWER) == Decimal(str(meter.profile.power_w))
    finally:
        for meter in meters:
            await meter.stop()


async def test_public_key_fingerprint_is_sha256_of_the_key():
    from app.transports.optical import public_key_fingerprint

    assert public_key_fingerprint(KEY) == hashlib.sha256(KEY).hexdigest()
