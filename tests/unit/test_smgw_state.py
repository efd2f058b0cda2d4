"""The virtual SMGW's state model: lockout countdown, sessions, self-test lock, state code, logs."""

from __future__ import annotations

import datetime as dt

import pytest

from app.sim.smgw import ManualClock, Scenario
from app.sim.smgw.access import (
    LockoutPolicy,
    LoginGuard,
    SelfTestGate,
    SelfTestLocked,
    SessionPolicy,
    SessionTable,
)
from app.sim.smgw.logs import Event, GatewayLog, LogLevel
from app.sim.smgw.state import CertificateState, GatewayCertificate, SecureState
from app.transports.han.state_code import StateFlag, decode_state


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC))


def test_lockout_counts_down_and_releases(clock: ManualClock) -> None:
    guard = LoginGuard(LockoutPolicy(max_failures=5, lock_seconds=300), clock)
    for _ in range(4):
        assert guard.failure("lv") == 0
    assert guard.remaining("lv") == 0
    assert guard.failure("lv") == 300
    clock.advance(120)
    assert guard.remaining("lv") == pytest.approx(180)
    assert guard.failure("lv") == pytest.approx(180)  # failures while locked do not extend it
    clock.advance(180)
    assert guard.remaining("lv") == 0
    assert guard.failures("lv") == 0  # the count starts afresh after the lock
    assert guard.failure("lv") == 0


def test_success_resets_the_failure_count(clock: ManualClock) -> None:
    guard = LoginGuard(LockoutPolicy(max_failures=3, lock_seconds=60), clock)
    guard.failure("srv")
    guard.failure("srv")
    guard.success("srv")
    guard.failure("srv")
    guard.failure("srv")
    assert guard.remaining("srv") == 0
    assert guard.failure("srv") == 60


def test_unknown_names_lock_like_known_ones(clock: ManualClock) -> None:
    guard = LoginGuard(LockoutPolicy(max_failures=2, lock_seconds=10), clock)
    guard.failure("nobody")
    assert guard.failure("nobody") == 10


def test_self_test_lock_with_fake_clock(clock: ManualClock) -> None:
    gate = SelfTestGate(600, clock)
    assert gate.remaining() == 0
    gate.start()
    clock.advance(1)
    with pytest.raises(SelfTestLocked) as locked:
        gate.start()
    assert locked.value.remaining == pytest.approx(599)
    clock.advance(598)
    with pytest.raises(SelfTestLocked):
        gate.start()
    clock.advance(1)
    gate.start()


def test_session_takeover_ends_the_older_session(clock: ManualClock) -> None:
    table = SessionTable(SessionPolicy.TAKEOVER, 600, clock)
    first = table.use("lv", "n1")
    assert first.accepted and first.new
    assert table.use("lv", "n1").accepted and not table.use("lv", "n1").new
    second = table.use("lv", "n2")
    assert second.accepted and second.replaced is not None and second.replaced.token == "n1"
    assert table.was_ended("lv", "n1")
    assert table.current("lv").token == "n2"


def test_session_refuse_until_idle_timeout(clock: ManualClock) -> None:
    table = SessionTable(SessionPolicy.REFUSE, 600, clock)
    table.use("lv", "n1")
    clock.advance(100)
    busy = table.use("lv", "n2")
    assert not busy.accepted and busy.busy_seconds == pytest.approx(500)
    table.use("lv", "n1")  # activity keeps the first session alive
    clock.advance(599)
    assert not table.use("lv", "n2").accepted
    clock.advance(2)
    assert table.use("lv", "n2").accepted
    assert table.was_ended("lv", "n1")


def test_session_follows_a_renewed_nonce(clock: ManualClock) -> None:
    table = SessionTable(SessionPolicy.REFUSE, 600, clock)
    table.use("lv", "old")
    table.rebind("lv", "old", "new")
    decision = table.use("lv", "new")
    assert decision.accepted and not decision.new


def test_default_state_is_normal_operation() -> None:
    state = Scenario.load("default").build_state()
    assert state.state_code() == "a0000000"
    decoded = decode_state(state.state_code())
    assert decoded.normal and decoded.secure_states == ()


def test_drift_beyond_27_seconds_means_secure_state_application(clock: ManualClock) -> None:
    state = Scenario.load("default").build_state(clock=clock)
    state.drift_seconds = 27.0
    assert SecureState.APPLICATION not in state.secure_states()
    state.drift_seconds = -28.0
    assert state.secure_states() == {SecureState.APPLICATION}
    flags = decode_state(state.state_code()).flags
    assert StateFlag.SECURE_STATE in flags and StateFlag.SECURE_APPLICATION in flags
    assert state.now() == clock.now() - dt.timedelta(seconds=28)


def test_han_wan_bridge_switches_han_off() -> None:
    state = Scenario.load("default").build_state()
    state.conditions.han_wan_separated = False
    assert not state.han_available
    decoded = decode_state(state.state_code())
    assert decoded.secure_states == ("connectivity",)
    assert StateFlag.HAN_DISABLED in decoded.flags
    assert "HAN und WAN nicht getrennt" in decoded.describe().de


def test_guetesiegel_certificates_show_in_the_state(demo_pki) -> None:
    state = Scenario.load("default").build_state()
    state.certificates.append(GatewayCertificate("wan_sig", demo_pki["smgw_sig"].cert_pem,
                                                 CertificateState.GUETESIEGEL, 0))
    assert state.state_code() == "a0800000"


def test_missing_meter_and_self_test_findings(clock: ManualClock) -> None:
    data = Scenario.load("default")
    state = data.build_state(clock=clock)
    state.meters[1].present = False
    user = state.users["ethe0390000001.lv"]
    report = state.run_self_test(user)
    assert not report.passed and report.findings == ("meter 1DZG0042123440 not reachable",)
    assert state.consumer_log.entries[-1].event_id == Event.SELF_TEST_FAILED
    assert state.consumer_log.entries[-1].level is LogLevel.ERROR


def test_log_query_by_index_time_and_count() -> None:
    log = GatewayLog("system", capacity=100)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for i in range(150):
        log.append(start + dt.timedelta(minutes=i), Event.TIME_SYNC)
    assert len(log) == 100 and log.entries[0].index == 51  # capacity keeps the newest
    assert [e.index for e in log.query(from_index=140)] == list(range(140, 151))
    assert [e.index for e in log.query(count=3)] == [51, 52, 53]
    since = start + dt.timedelta(minutes=120)
    until = start + dt.timedelta(minutes=122)
    assert [e.index for e in log.query(since=since, until=until)] == [121, 122, 123]
    assert log.entries[0].message == "Time synchronised with the GWA time server"


def test_log_never_runs_backwards() -> None:
    log = GatewayLog("consumer")
    late = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    log.append(late, Event.HAN_LOGIN)
    entry = log.append(late - dt.timedelta(hours=1), Event.HAN_LOGIN)
    assert entry.time == late and entry.index == 2


def test_register_counts_forward_from_the_start(clock: ManualClock) -> None:
    """A meter's register is one function of time: its history lies below, later values above,
    and the gateway labels them with its own (drifting) clock."""
    state = Scenario.load("default").build_state(clock=clock)
    state.drift_seconds = 0.0
    meter = state.meters[0]
    register = meter.registers[0]  # 1.8.0, scaler -1, +420 Wh/h
    now = clock.now()
    assert register.anchor == now
    assert register.value_at(now, now) == register.value
    assert register.value_at(now - dt.timedelta(hours=1), now) == register.value - 4200
    assert state.register_value(meter, register) == register.value
    clock.advance(3600)
    assert state.register_value(meter, register) == register.value + 4200
    # the gateway's clock runs 60 s ahead: its "now" is the same moment of the meter
    state.drift_seconds = 60.0
    assert state.register_value(meter, register) == register.value + 4200
    assert meter.values_at(clock.now())[register.obis] == (register.value + 4200) / 10


def test_a_meter_wired_in_later_has_no_older_values(clock: ManualClock) -> None:
    state = Scenario.load("default").build_state(clock=clock)
    meter = state.meters[0]
    register = meter.registers[0]
    meter.since = state.now()
    earlier = state.now() - dt.timedelta(hours=5)
    assert state.register_value(meter, register, earlier) == \
        state.register_value(meter, register, meter.since)


def test_energy_never_goes_backwards_between_nearby_moments(clock: ManualClock) -> None:
    state = Scenario.load("default").build_state(clock=clock)
    register = state.meters[0].registers[0]
    seen = [register.value_at(clock.now() + dt.timedelta(seconds=s / 7), clock.now())
            for s in range(0, 700)]
    assert seen == sorted(seen) and seen[-1] > seen[0]
