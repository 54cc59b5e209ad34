"""``${VAR}`` and ``${VAR:-default}`` expansion: every string of the loaded YAML, masked when expanded."""

from __future__ import annotations

import re
from collections.abc import Mapping

from monitor.config.masking import _MaskedStr


def _join(path: str, key: str) -> str:
    """The key path of ``key`` under ``path``: ``models[0].window`` + ``size``, or just ``key`` at the top."""
    return f"{path}.{key}" if path else key


class _Unset:
    """Stands for a value whose ${VAR} could not be expanded (already reported)."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _expand(data: object, path: str, env: Mapping[str, str], problems: list[tuple[str, str]],
            done: dict[int, object] | None = None) -> object:
    """Expand ${VAR} in every string; ``done`` maps id(node) -> result so YAML aliases are expanded once."""
    if isinstance(data, str):
        return _expand_text(data, path, env, problems) if "${" in data else data
    if not isinstance(data, (dict, list)):
        return data
    done = {} if done is None else done
    if id(data) in done:
        if done[id(data)] is _UNSET:
            problems.append((path, "a YAML alias that contains itself"))
        return done[id(data)]
    done[id(data)] = _UNSET
    result: object
    if isinstance(data, dict):
        result = {key: _expand(value, _join(path, str(key)), env, problems, done) for key, value in data.items()}
    else:
        result = [_expand(item, f"{path}[{index}]", env, problems, done) for index, item in enumerate(data)]
    done[id(data)] = result
    return result


def _expand_text(text: str, path: str, env: Mapping[str, str], problems: list[tuple[str, str]]) -> object:
    parts: list[str] = []
    variables: list[str] = []
    failed = False
    position = 0
    while (start := text.find("$", position)) >= 0:
        parts.append(text[position:start])
        if text.startswith("$${", start):
            parts.append("${")
            position = start + 3
            continue
        if not text.startswith("${", start):
            parts.append("$")
            position = start + 1
            continue
        end = text.find("}", start + 2)
        if end < 0:
            problems.append((path, "unterminated ${ (write $${ for a literal ${)"))
            return _UNSET
        name, has_default, default = text[start + 2:end].partition(":-")
        position = end + 1
        if not _VARIABLE.match(name):
            problems.append((path, "malformed ${...}: expected ${NAME} or ${NAME:-default}, "
                                   "NAME made of letters, digits and _"))
            failed = True
            continue
        value = env.get(name)
        if value is None or (has_default and value == ""):
            if not has_default:
                problems.append((path, f"environment variable {name} is not set"))
                failed = True
                continue
            value = default
        variables.append(name)
        parts.append(value)
    parts.append(text[position:])
    if failed:
        return _UNSET
    if not variables:
        return "".join(parts)
    return _MaskedStr("".join(parts), tuple(dict.fromkeys(variables)))

