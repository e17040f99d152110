"""The range of times the proxy accepts, and safe conversions to and from stored timestamps (pure).

A time is data from the client (`X-Memory-Time`, `occurred_at` in the API, an import line). One
out of Python's range once stopped every write: `0001-01-01T00:00:00+14:00` is year 0 in UTC,
which `datetime.fromtimestamp` refuses when the row is read back. So times are checked at the
edge, and what the store hands back is converted without ever raising.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from proxy.core.errors import TimeOutOfRange

__all__ = [
    "EARLIEST",
    "FUTURE_SLACK",
    "LATEST",
    "check_event_time",
    "check_expiry",
    "from_timestamp",
    "not_after",
    "utc",
]

# When a turn or memory may have happened: from 1900 to a day from now (clock skew, time zones).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
# The latest time stored: far inside datetime's range in any time zone (9999-12-31T23:59-14:00
# is year 10000 in UTC). Expiries may be set up to it.
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def utc(value: datetime) -> datetime:
    """A time without zone is taken as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check_event_time(value: datetime, now: datetime) -> datetime:
    """When something happened: 1900-01-01 to now + 1 day, in UTC."""
    value = _to_utc(value)
    if value < EARLIEST or value > now + FUTURE_SLACK:
        raise TimeOutOfRange(
            f"must be between {EARLIEST.date().isoformat()} and a day from now"
            " (an ISO 8601 time, e.g. 2023-05-08T13:56:00Z)"
        )
    return value


def check_expiry(value: datetime) -> datetime:
    """An expiry: 1900-01-01 to 9000-01-01, in UTC (whether it is ahead is the caller's rule)."""
    value = _to_utc(value)
    if value < EARLIEST or value >= LATEST:
        raise TimeOutOfRange(
            f"must be between {EARLIEST.date().isoformat()} and {LATEST.date().isoformat()}"
        )
    return value


def not_after(value: datetime, now: datetime) -> datetime:
    """A time clamped to now: a statement dated in the future must not outrank what the user
    says tomorrow (newest wins compares these)."""
    return min(value, now)


def from_timestamp(value: object) -> datetime:
    """A stored timestamp as a UTC time; never raises (a bad value is clamped into range)."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return EARLIEST
    if math.isnan(seconds) or seconds < EARLIEST.timestamp():
        return EARLIEST
    if seconds > LATEST.timestamp():
        return LATEST
    return datetime.fromtimestamp(seconds, tz=UTC)


def _to_utc(value: datetime) -> datetime:
    """In UTC; a time whose UTC form leaves datetime's range (year 0 or 10000) is out of range."""
    try:
        return utc(value).astimezone(UTC)
    except (OverflowError, ValueError):
        raise TimeOutOfRange("is outside the range of representable times") from None
