"""docs/ is the users' reference as built: it must name exactly what the code knows, in both directions.

- Every configuration key the parser accepts is a row of a ``key`` table in docs/configuration.md,
  and every row there is a key the parser accepts. The keys come from the parser itself: a
  permissive probe document is parsed while every ``_Section`` (the parser's one place where a
  mapping's allowed keys are checked) records its path and allowed keys.
- Every metric ``Metrics`` registers is a row of the ``metric`` table in docs/metrics.md, with its
  type and labels, and every row there is a registered metric.
- Every rejection reason (``REASONS``) is a row of the ``reason`` table in docs/input.md, and back.
- Every command and long option of ``driftd`` appears in docs/cli.md (options also in option tables).

A table counts when its header row's first cell is the word named above; its rows' first cells
must each be one name in backticks.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"

_CODE = re.compile(r"`([^`]+)`")


# --- reading the docs' tables --------------------------------------------------------------------

def _cells(line: str) -> list[str]:
    """The cells of one Markdown table row (``\\|`` inside a cell is not a separator)."""
    inner = line.strip().strip("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _tables(page: str, header: str) -> list[list[str]]:
    """Body rows (as cells) of every table in ``docs/<page>`` whose first header cell is ``header``."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    rows: list[list[str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\s*\|[\s:|-]+\|\s*", lines[i + 1]):
            take = _cells(line)[0].lower() == header
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                if take:
                    rows.append(_cells(lines[i]))
                i += 1
            continue
        i += 1
    return rows


def _names(page: str, header: str) -> dict[str, list[str]]:
    """First-cell name -> row cells of the ``header`` tables of a page; each first cell must be one `name`."""
    out: dict[str, list[str]] = {}
    rows = _tables(page, header)
    assert rows, f"docs/{page} has no table whose first column is {header!r}"
    for cells in rows:
        match = re.fullmatch(r"`([^`]+)`", cells[0])
        assert match, f"docs/{page}: a {header!r} table row must start with one `name` in backticks: {cells[0]!r}"
        name = match.group(1)
        assert name not in out, f"docs/{page}: {name} is documented twice"
        out[name] = cells
    return out


def _report(what: str, undocumented: set[str], unknown: set[str], page: str) -> str:
    parts = []
    if undocumented:
        parts.append(f"{what} in the code but not in docs/{page}: {', '.join(sorted(undocumented))}")
    if unknown:
        parts.append(f"{what} in docs/{page} but not in the code: {', '.join(sorted(unknown))}")
    return "; ".join(parts)


# --- configuration keys --------------------------------------------------------------------------

def _generic(path: str) -> str:
    """``models[0].performance.rules.accuracy`` -> ``models[].performance.rules.<metric>`` (the docs' notation)."""
    path = re.sub(r"\[\d+\]", "[]", path)
    path = re.sub(r"^webhooks\.[^.\[]+", "webhooks.<name>", path)
    return re.sub(r"(\.performance\.rules)\.[^.]+$", r"\1.<metric>", path)


def code_config_keys() -> tuple[set[str], set[str]]:
    """(leaf keys, section keys) the parser accepts, in the docs' notation, read from the parser itself.

    The probe has every optional section present (each webhook format once, so each ``params``
    section is built; a feature; a performance rule) and may be invalid: the parser builds every
    section before it reports problems.
    """
    from monitor.config import WEBHOOK_FORMATS, parse_config
    from monitor.config.section import _Section
    from monitor.errors import ConfigError

    probe = {
        "kafka": {},
        "storage": {},
        "server": {},
        "limits": {},
        "models": [{"reference": {}, "features": [{}], "window": {}, "drift": {},
                    "performance": {"rules": {"accuracy": {}}}, "alerts": {}}],
        "webhooks": {f"probe_{fmt}": {"format": fmt} for fmt in WEBHOOK_FORMATS},
    }
    seen: list[tuple[str, tuple[str, ...]]] = []
    original = _Section.__init__

    def recording(self: _Section, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        seen.append((self.path, tuple(self.keys)))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_Section, "__init__", recording)
        try:
            parse_config(probe, "docs-probe.yaml", env={}, base_dir=DOCS)
        except ConfigError:
            pass
    sections = {_generic(path) for path, _ in seen}
    keys = {f"{_generic(path)}.{key}" if path else key for path, allowed in seen for key in allowed}
    containers = {key for key in keys if any(s == key or s.startswith((f"{key}.", f"{key}[]")) for s in sections)}
    return keys - containers, containers


def test_every_config_key_is_documented_and_every_documented_key_exists() -> None:
    leaves, containers = code_config_keys()
    assert "models[].window.size" in leaves and "webhooks.<name>.params.pipeline_id" in leaves  # the probe worked
    documented = set(_names("configuration.md", "key"))
    problem = _report("config keys", leaves - documented, documented - leaves - containers, "configuration.md")
    assert not problem, problem


# --- metrics -------------------------------------------------------------------------------------

def code_metrics() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Exposed name -> (type, label names) of every metric ``Metrics`` registers on a fresh registry."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics import MetricWrapperBase

    from monitor.export.metrics import Metrics

    registry = CollectorRegistry()
    metrics = Metrics(registry)

    def exposed(name: str, kind: str) -> str:
        return f"{name}_total" if kind == "counter" else name

    names = {exposed(family.name, family.type): family.type for family in registry.collect()}
    labels = {exposed(m._name, m._type): tuple(m._labelnames)  # prometheus_client keeps label names here
              for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)}
    assert set(labels) == set(names), "every registered metric is an attribute of Metrics"
    return {name: (kind, labels[name]) for name, kind in names.items()}


def test_every_metric_is_documented_and_every_documented_metric_exists() -> None:
    code = code_metrics()
    rows = _names("metrics.md", "metric")
    problem = _report("metrics", set(code) - set(rows), set(rows) - set(code), "metrics.md")
    assert not problem, problem
    for name, (kind, labels) in code.items():
        cells = rows[name]
        assert len(cells) >= 4, f"docs/metrics.md: {name}: expected columns metric | type | labels | meaning"
        assert cells[1] == kind, f"docs/metrics.md: {name} is a {kind}, documented as {cells[1]!r}"
        assert tuple(_CODE.findall(cells[2])) == labels, (
            f"docs/metrics.md: {name} has labels {list(labels)}, documented as {cells[2]!r}")


# --- rejection reasons ---------------------------------------------------------------------------

def test_every_rejection_reason_is_documented_and_every_documented_reason_exists() -> None:
    from monitor.ingest.decode import REASONS

    documented = set(_names("input.md", "reason"))
    problem = _report("rejection reasons", set(REASONS) - documented, documented - set(REASONS), "input.md")
    assert not problem, problem


# --- command line --------------------------------------------------------------------------------

def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, set[str]]:
    """Command path ("reference build") -> its long options, for every command of the parser."""
    out: dict[str, set[str]] = {prefix: set()}
    for action in parser._actions:  # argparse exposes its options only here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.update(_commands(sub, f"{prefix} {name}".strip()))
        else:
            out[prefix].update(o for o in action.option_strings if o.startswith("--") and o != "--help")
    return out


def test_every_command_and_option_is_documented() -> None:
    from monitor.cli import build_parser

    commands = _commands(build_parser())
    cli = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = sorted(f"driftd {name}" for name in commands if name and f"driftd {name}" not in cli)
    assert not missing, f"commands not in docs/cli.md: {', '.join(missing)}"
    code = set().union(*commands.values())
    rows = [cells[0] for page in ("cli.md", "webhooks.md") for cells in _tables(page, "option")]
    documented = {o for cell in rows for o in re.findall(r"--[a-z][a-z-]*", cell)}
    problem = _report("options", code - documented, documented - code, "cli.md (option tables)")
    assert not problem, problem
