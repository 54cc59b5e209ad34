"""Values that must never be shown: ``Secret``, the masked values read from ``${VAR}``, ``redact``.

A value read from the environment keeps a mask (``_MaskedStr``, ``_MaskedInt``, ...) whose
``repr`` is ``'***'``; messages show values through ``redact``/``_plain`` so the mask holds.
``FrozenMap`` is the immutable mapping the configuration objects hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Secret:
    """A secret string: ``repr``/``str`` show ``Secret('***')``; ``reveal()`` returns the value."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_value", str(value))

    def reveal(self) -> str:
        """Return the secret itself; call it only where the value is used, never to log it."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (Secret, (self._value,))


class _Masked:
    """Marks a value read from the environment (or a header value): its repr is ``'***'``."""

    __slots__ = ()
    variables: tuple[str, ...] = ()


class _MaskedStr(_Masked, str):
    def __new__(cls, value: str, variables: tuple[str, ...] = ()) -> "_MaskedStr":
        text = super().__new__(cls, value)
        text.variables = variables
        return text

    def __repr__(self) -> str:
        return "'***'"

    def __reduce__(self) -> Any:
        return (_MaskedStr, (str(self), self.variables))


class _MaskedInt(_Masked, int):
    def __repr__(self) -> str:
        return "***"

    __str__ = int.__repr__


class _MaskedFloat(_Masked, float):
    def __repr__(self) -> str:
        return "***"

    __str__ = float.__repr__


class _MaskedPath(type(Path())):  # type: ignore[misc]
    def __repr__(self) -> str:
        return "Path('***')"


def redact(value: object, limit: int = 60) -> str:
    """Show a configuration value in a message: ``'***'`` for anything read from the environment."""
    if isinstance(value, (_Masked, _MaskedPath)):
        names = getattr(value, "variables", ())
        origin = f" (from {', '.join('${' + name + '}' for name in names)})" if names else ""
        return f"'***'{origin}"
    if isinstance(value, Secret):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _plain(value: object) -> str:
    """A value as bare text in a message, ``'***'`` when it came from the environment."""
    return "'***'" if isinstance(value, (_Masked, _MaskedPath)) else str(value)


def _listing(values: Iterable[object]) -> str:
    return ", ".join(_plain(value) for value in values)


def _mask_like(original: object, value: str) -> str:
    """Keep the mask on a string derived from a masked one."""
    if isinstance(original, _MaskedStr):
        return _MaskedStr(value, original.variables)
    return value


class FrozenMap(Mapping[K, V], Generic[K, V]):
    """An immutable, hashable mapping that keeps insertion order."""

    __slots__ = ("_data",)

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        self._data: dict[K, V] = dict(items)

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)
