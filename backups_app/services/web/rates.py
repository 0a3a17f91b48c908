"""Rates such as `120/min`: how many calls per period a setting allows (API_THROTTLE_RATE, API_FAILED_AUTH_RATE)."""

PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse(text: str) -> tuple[int, int]:
    """(calls, seconds); ValueError for anything else."""
    count, _, period = (text or "").partition("/")
    if not count.isdigit() or int(count) < 1 or period not in PERIODS:
        raise ValueError(f"{text!r} is no rate: write calls/period, e.g. 120/min (period s, min, h or day)")
    return int(count), PERIODS[period]


def problem(text: str) -> str:
    """Why a rate setting is unusable ("" when it is fine), for the system checks."""
    try:
        parse(text)
    except ValueError as exc:
        return str(exc)
    return ""
