"""One mapping of the loaded YAML: its keys checked, its values converted, its problems recorded."""

from __future__ import annotations

from typing import Any

from monitor.config.convert import Converter, _Invalid, _suggest
from monitor.config.expand import _UNSET, _join
from monitor.config.masking import redact


class _Section:
    """One mapping of the YAML: checks its keys, converts values, records problems under its path."""

    def __init__(self, problems: list[tuple[str, str]], path: str, data: object, keys: tuple[str, ...],
                 required: tuple[str, ...] = (), must_exist: bool = False) -> None:
        self.problems, self.path, self.keys = problems, path, keys
        if data is None and must_exist:
            problems.append((path, f"expected a mapping with {', '.join(required)}, got nothing"))
        self.present = data is not None and data is not _UNSET
        self.bad: set[str] = set()
        self.unknown = False
        if self.present and not isinstance(data, dict):
            self.problems.append((path, f"expected a mapping, got {redact(data)}"))
            data, self.present = {}, False
        self.data: dict[Any, Any] = data if isinstance(data, dict) else {}
        for key in self.data:
            if not isinstance(key, str):
                self.problems.append((path, f"keys must be strings, got {key!r}"))
            elif key not in keys:
                self.unknown = True
                self.problems.append((self.key(key), f"unknown key {key!r}{_suggest(key, keys)}; "
                                                     f"valid keys: {', '.join(keys)}"))
        for key in required if self.present else ():
            if self.data.get(key) is None:
                self.problems.append((self.key(key), "required key is missing"))
                self.bad.add(key)

    def key(self, key: str) -> str:
        return _join(self.path, key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def add(self, key: str, message: str) -> None:
        self.problems.append((self.key(key) if key else self.path, message))
        self.bad.add(key)

    def get(self, key: str, convert: Converter, default: Any = None) -> Any:
        """Return the converted value, or ``default`` when absent or (after recording why) unusable."""
        value = self.data.get(key)
        if value is _UNSET:
            self.bad.add(key)
            return default
        if value is None:
            return default
        try:
            return convert(value)
        except _Invalid as exc:
            self.add(key, str(exc))
            return default

    def items(self, key: str) -> list[tuple[str, Any]] | None:
        """Return ``(key_path, raw_item)`` pairs of a list value, or None when absent or not a list."""
        value = self.data.get(key)
        if value is _UNSET:
            self.bad.add(key)
        if value is None or value is _UNSET:
            return None
        if not isinstance(value, list):
            self.add(key, f"expected a list, got {redact(value)}")
            return None
        return [(f"{self.key(key)}[{index}]", item) for index, item in enumerate(value)]

    def get_list(self, key: str, convert: Converter, default: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        """Convert every item of a list, reporting bad and repeated items by index."""
        pairs = self.items(key)
        if pairs is None:
            return default if not self.has(key) else ()
        result: list[Any] = []
        for item_path, item in pairs:
            try:
                converted = convert(item) if item is not _UNSET else None
            except _Invalid as exc:
                self.problems.append((item_path, str(exc)))
                self.bad.add(key)
                continue
            if converted in result:
                self.problems.append((item_path, f"{redact(item)} is listed twice"))
                self.bad.add(key)
            elif converted is not None:
                result.append(converted)
        return tuple(result)

    def child(self, key: str, keys: tuple[str, ...], required: tuple[str, ...] = ()) -> "_Section":
        return _Section(self.problems, self.key(key), self.data.get(key), keys, required)

    def entries(self, key: str) -> list[tuple[str, str, Any]]:
        """Return ``(key_path, name, raw_value)`` for a mapping whose keys are user-chosen names."""
        value = self.data.get(key)
        if value is _UNSET:
            self.bad.add(key)
        if value is None or value is _UNSET:
            return []
        if not isinstance(value, dict):
            self.add(key, f"expected a mapping, got {redact(value)}")
            return []
        out = []
        for name, item in value.items():
            if not isinstance(name, str) or not name:
                self.add(key, f"keys must be non-empty strings, got {name!r}")
            else:
                out.append((_join(self.key(key), name), name, item))
        return out


def _convert_at(problems: list[tuple[str, str]], path: str, value: object, convert: Converter) -> Any:
    if value is _UNSET:
        return None
    try:
        return convert(value)
    except _Invalid as exc:
        problems.append((path, str(exc)))
        return None

