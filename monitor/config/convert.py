"""Value converters: each returns the value or raises ``_Invalid(expected ..., got ...)``."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.config.durations import parse_duration
from monitor.config.masking import Secret, _Masked, _MaskedFloat, _MaskedInt, _MaskedPath, _MaskedStr, redact


class _Invalid(Exception):
    """The value is unusable; the message says what was expected and what was found."""


Converter = Callable[[Any], Any]


def _suggest(word: object, options: Iterable[str]) -> str:
    if not isinstance(word, str) or isinstance(word, _Masked):
        return ""
    options = list(options)
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not match and len(word) >= 3:
        match = [option for option in options if option.startswith(word)][:1]
    return f" (did you mean {match[0]!r}?)" if match else ""


def _from_env(value: object, kind: type) -> object:
    """Convert a masked string from ${VAR} to the number or boolean the key expects, keeping the mask."""
    if not isinstance(value, _MaskedStr):
        return value
    text = value.strip().lower()
    if kind is bool:
        if text in ("true", "yes", "on", "1"):
            return True
        return False if text in ("false", "no", "off", "0") else value
    number: _MaskedInt | _MaskedFloat
    if kind is int and re.fullmatch(r"[+-]?\d+", text):
        number = _MaskedInt(int(text))
    elif kind is float and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?", text):
        number = _MaskedFloat(float(text))
    else:
        return value
    number.variables = value.variables
    return number


def _text(value: object, what: str = "a non-empty string") -> str:
    if not isinstance(value, str) or not value.strip():
        hint = f" (quote it: \"{value}\")" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
        raise _Invalid(f"expected {what}, got {redact(value)}{hint}")
    return value


def _named(pattern: str, what: str) -> Converter:
    regex = re.compile(pattern)

    def convert(value: object) -> str:
        text = _text(value, what)
        if not regex.fullmatch(text):
            raise _Invalid(f"expected {what}, got {redact(value)}")
        return text
    return convert


_model_name = _named(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}", "a model name (letters, digits, _ . / -)")
_webhook_name = _named(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}", "a webhook name (letters, digits, _ . -)")
_topic = _named(r"[A-Za-z0-9._-]{1,249}", "a Kafka topic name (letters, digits, . _ -)")
_header_name = _named(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", "an HTTP header name")


def _integer(minimum: int, maximum: int | None = None, what: str = "a positive integer") -> Converter:
    def convert(value: object) -> int:
        value = _from_env(value, int)
        if isinstance(value, bool) or not isinstance(value, int) \
                or value < minimum or (maximum is not None and value > maximum):
            raise _Invalid(f"expected {what}, got {redact(value)}")
        return value
    return convert


_count = _integer(1)


def _number(minimum: float | None = None, maximum: float | None = None, what: str = "a number") -> Converter:
    def convert(value: object) -> float:
        value = _from_env(value, float)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise _Invalid(f"expected {what}, got {redact(value)}")
        return value if isinstance(value, _Masked) else float(value)
    return convert


_share = _number(0.0, 1.0, "a share between 0 and 1")


def _boolean(value: object) -> bool:
    value = _from_env(value, bool)
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {redact(value)}")
    return value


def _duration(allow_zero: bool = False) -> Converter:
    def convert(value: object) -> float:
        if not isinstance(value, str):
            raise _Invalid(f"expected a duration like 10m, got {redact(value)} (durations need a unit: "
                           "500ms, 30s, 10m, 1h, 7d)")
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise _Invalid(f"expected a duration like 10m, got {redact(value)}") from None
        if seconds == 0 and not allow_zero:
            raise _Invalid(f"expected a duration greater than 0, got {redact(value)}")
        return _MaskedFloat(seconds) if isinstance(value, _Masked) else seconds
    return convert


def _choice(options: Iterable[str], what: str = "") -> Converter:
    options = tuple(options)

    def convert(value: object) -> str:
        if not isinstance(value, str) or value not in options:
            if what and isinstance(value, str):
                raise _Invalid(f"unknown {what} {redact(value)}{_suggest(value, options)}; "
                               f"expected one of {', '.join(options)}")
            raise _Invalid(f"expected one of {', '.join(options)}, got {redact(value)}{_suggest(value, options)}")
        return value
    return convert


def _secret(value: object) -> Secret:
    if not isinstance(value, str) or not value:
        raise _Invalid(f"expected a non-empty string, got {redact(value)}")
    return Secret(value)


def _http_url(value: object) -> str:
    text = _text(value, "an http(s) URL")
    try:
        parts = urlsplit(text)
        _ = parts.port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Invalid(f"expected an http(s) URL with a host, like https://ci.example.com/hooks/retrain, "
                       f"got {redact(value)}")
    return text


def _resolve_path(text: str, base_dir: Path) -> Path:
    """Make a configured path absolute against ``base_dir``, keeping the mask of a value from ${VAR}."""
    path = Path(text).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not isinstance(text, _Masked):
        return path
    masked = _MaskedPath(path)
    masked.variables = text.variables
    return masked
