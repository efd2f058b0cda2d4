"""German legal time (gesetzliche Zeit, Europe/Berlin) without a time zone database.

Gateways show local times in their HAN pages and answers (PPC portal without offset, EMH CASA
with ``+01:00``/``+02:00``). The EU rule in force since 1996 is computed directly: summer time
(MESZ, UTC+2) from the last Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC,
else winter time (MEZ, UTC+1). No ``zoneinfo`` is needed, which Windows lacks without the
``tzdata`` package.
"""

from __future__ import annotations

import datetime as dt

CET = dt.timedelta(hours=1)
CEST = dt.timedelta(hours=2)


def _last_sunday(year: int, month: int) -> dt.date:
    last = dt.date(year, month + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - 6) % 7)


def berlin_offset(moment: dt.datetime) -> dt.timedelta:
    """UTC offset of German local time at ``moment`` (aware)."""
    utc = moment.astimezone(dt.UTC)
    start = dt.datetime.combine(_last_sunday(utc.year, 3), dt.time(1), dt.UTC)
    end = dt.datetime.combine(_last_sunday(utc.year, 10), dt.time(1), dt.UTC)
    return CEST if start <= utc < end else CET


def to_local(moment: dt.datetime) -> dt.datetime:
    """German local time (naive) of an aware ``moment``."""
    if moment.tzinfo is None:
        raise ValueError("the time must be timezone-aware")
    return (moment.astimezone(dt.UTC) + berlin_offset(moment)).replace(tzinfo=None)


def from_local(local: dt.datetime) -> dt.datetime:
    """The UTC moment of a naive German local time. In the repeated hour of the autumn change
    the summer-time reading is taken; a time in the skipped spring hour counts as winter time."""
    naive = local.replace(tzinfo=None)
    summer = (naive - CEST).replace(tzinfo=dt.UTC)
    if berlin_offset(summer) == CEST:
        return summer
    return (naive - CET).replace(tzinfo=dt.UTC)


def local_with_offset(moment: dt.datetime) -> dt.datetime:
    """``moment`` in German local time as an aware value (``+01:00`` / ``+02:00``)."""
    return moment.astimezone(dt.timezone(berlin_offset(moment)))


def as_utc(moment: dt.datetime) -> dt.datetime:
    """An aware UTC value; a naive one is taken as UTC."""
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


__all__ = ["CEST", "CET", "as_utc", "berlin_offset", "from_local", "local_with_offset",
           "to_local"]
