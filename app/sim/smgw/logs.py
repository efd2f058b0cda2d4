"""The gateway's logs: the system log (Systemlog, service technician) and the consumer log
(Letztverbraucher-Log), each a sequence of entries with a strictly increasing index.

Event ids: only 16001 ("meter values sent to the market participant") is public (CONEXA);
the others in :data:`EVENTS` are the virtual SMGW's own catalogue, documented in ``docs/han.md``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
import random
from collections.abc import Iterable
from dataclasses import dataclass


class LogLevel(enum.IntEnum):
    """Levels as CONEXA reports them (4 Alert, 3 Error, 2 Warning, 1 Informational)."""

    INFO = 1
    WARNING = 2
    ERROR = 3
    ALERT = 4


class Event(enum.IntEnum):
    """Event ids of the virtual SMGW."""

    STARTED = 10001
    TIME_SYNC = 10010
    CLOCK_DEVIATION = 10011
    GWA_CHANNEL_UP = 11001
    GWA_CHANNEL_DOWN = 11002
    HAN_LOGIN = 12001
    HAN_LOGIN_FAILED = 12002
    HAN_LOCKED = 12003
    HAN_SESSION_ENDED = 12004
    SELF_TEST_STARTED = 13001
    SELF_TEST_PASSED = 13002
    SELF_TEST_FAILED = 13003
    METER_READING = 14001
    METER_MISSING = 14002
    VALUES_SENT = 16001
    FIRMWARE_VERIFIED = 17001


EVENTS: dict[Event, str] = {
    Event.STARTED: "SMGW started",
    Event.TIME_SYNC: "Time synchronised with the GWA time server",
    Event.CLOCK_DEVIATION: "Clock deviation above the permitted limit",
    Event.GWA_CHANNEL_UP: "TLS channel to the GWA established",
    Event.GWA_CHANNEL_DOWN: "TLS channel to the GWA closed",
    Event.HAN_LOGIN: "HAN login",
    Event.HAN_LOGIN_FAILED: "HAN login failed",
    Event.HAN_LOCKED: "HAN login locked",
    Event.HAN_SESSION_ENDED: "HAN session ended",
    Event.SELF_TEST_STARTED: "Self-test started",
    Event.SELF_TEST_PASSED: "Self-test passed",
    Event.SELF_TEST_FAILED: "Self-test failed",
    Event.METER_READING: "Meter reading received",
    Event.METER_MISSING: "Meter not reachable on the LMN",
    Event.VALUES_SENT: "Meter values sent to the market participant",
    Event.FIRMWARE_VERIFIED: "Firmware integrity verified",
}


@dataclass(frozen=True)
class GatewayLogEntry:
    """One log entry (fields as CONEXA's ``log`` reports them)."""

    index: int
    time: dt.datetime
    event_id: int
    message: str
    level: LogLevel = LogLevel.INFO
    event_sub_id: int = 0
    outcome: str = "success"
    subject: str = ""
    user: str = ""
    vendor_id: str = "BSI"
    version: str = "1"


class GatewayLog:
    """An append-only log with a capacity (the oldest entries drop out; indices go on)."""

    def __init__(self, kind: str, capacity: int = 50_000) -> None:
        self.kind = kind
        self.capacity = capacity
        self._entries: list[GatewayLogEntry] = []
        self._next = 1

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> tuple[GatewayLogEntry, ...]:
        return tuple(self._entries)

    @property
    def last_index(self) -> int:
        return self._next - 1

    def append(
        self,
        time: dt.datetime,
        event_id: int,
        message: str | None = None,
        *,
        level: LogLevel = LogLevel.INFO,
        event_sub_id: int = 0,
        outcome: str = "success",
        subject: str = "",
        user: str = "",
    ) -> GatewayLogEntry:
        if self._entries and time < self._entries[-1].time:
            time = self._entries[-1].time  # the log never runs backwards
        if message is None:
            known = {int(e) for e in EVENTS}
            message = EVENTS[Event(event_id)] if event_id in known else ""
        text = message
        entry = GatewayLogEntry(self._next, time, event_id, text, level, event_sub_id, outcome,
                                subject, user)
        self._next += 1
        self._entries.append(entry)
        if len(self._entries) > self.capacity:
            del self._entries[: len(self._entries) - self.capacity]
        return entry

    def query(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        from_index: int | None = None,
        count: int | None = None,
    ) -> list[GatewayLogEntry]:
        """Entries in index order; times inclusive; at most ``count``."""
        start = 0
        if from_index is not None:
            start = bisect.bisect_left([e.index for e in self._entries], from_index)
        out: list[GatewayLogEntry] = []
        for entry in self._entries[start:]:
            if since is not None and entry.time < since:
                continue
            if until is not None and entry.time > until:
                break
            out.append(entry)
            if count is not None and len(out) >= count:
                break
        return out


def generate_history(
    system: GatewayLog,
    consumer: GatewayLog,
    *,
    end: dt.datetime,
    system_entries: int,
    consumer_entries: int,
    subjects: Iterable[str] = (),
    seed: int = 1,
) -> None:
    """Fill both logs with a plausible, reproducible history ending at ``end``.

    The system log sees everything (channel, time sync, readings, transmissions); the consumer
    log only what concerns the consumer (transmissions of their data, logins).
    """
    rng = random.Random(seed)
    profiles = list(subjects) or ["01005e318027.taf7-1.sm"]
    step = dt.timedelta(minutes=15)
    span = max(system_entries, consumer_entries, 1)
    start = end - step * span
    cycle = (Event.GWA_CHANNEL_UP, Event.TIME_SYNC, Event.METER_READING, Event.VALUES_SENT,
             Event.GWA_CHANNEL_DOWN)
    for n in range(system_entries):
        moment = start + step * n + dt.timedelta(seconds=rng.randint(0, 600))
        event = cycle[n % len(cycle)]
        subject = profiles[n % len(profiles)] if event is Event.VALUES_SENT else ""
        message = None
        if event is Event.VALUES_SENT:
            first = 1000 + n * 4
            message = (f"{rng.randint(1, 4)} meter values sent to the market participant "
                       f"(Id={first} to Id={first + 3})")
        system.append(moment, event, message, subject=subject)
    for n in range(consumer_entries):
        moment = start + step * span * n / max(consumer_entries, 1)
        moment += dt.timedelta(seconds=rng.randint(0, 600))
        subject = profiles[n % len(profiles)]
        first = 5000 + n * 4
        consumer.append(
            moment, Event.VALUES_SENT,
            f"{rng.randint(1, 4)} meter values sent to the market participant "
            f"(Id={first} to Id={first + 3})",
            subject=subject,
        )
