"""Durations as the configuration writes them (``500ms``, ``30s``, ``10m``, ``1h``, ``7d``), in seconds."""

from __future__ import annotations

import re

UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
"""Seconds per unit, in the order they are tried (``ms`` before ``m``)."""

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")


def parse_duration(text: str) -> float:
    """Return the seconds in a duration string: a number with a unit, or several (``1h30m``).

    Plain numbers are refused: a duration always says its unit. Raises ``ValueError``.

    >>> parse_duration("500ms"), parse_duration("30s"), parse_duration("1h30m"), parse_duration("7d")
    (0.5, 30.0, 5400.0, 604800.0)
    """
    if not isinstance(text, str) or not _WHOLE.fullmatch(text.strip()):
        raise ValueError("expected a duration like 10m (units: ms, s, m, h, d)")
    return sum(float(number) * UNITS[unit] for number, unit in _PART.findall(text.strip()))


def format_duration(seconds: float) -> str:
    """Write seconds in the largest unit that expresses them exactly (the inverse of ``parse_duration``).

    >>> format_duration(3600), format_duration(0.5), format_duration(90), format_duration(0)
    ('1h', '500ms', '90s', '0s')
    """
    if seconds == 0:
        return "0s"
    for unit in ("d", "h", "m", "s", "ms"):
        count = seconds / UNITS[unit]
        if abs(count - round(count)) < 1e-9 and round(count) != 0:
            return f"{round(count)}{unit}"
    return f"{seconds:g}s"
