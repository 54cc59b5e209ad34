"""The configuration (docs/configuration.md): YAML -> frozen, validated dataclasses.

``load_config`` reads a file; ``parse_config`` validates already-loaded data. Validation
collects every problem as ``(key_path, message)`` and raises one ``ConfigError``; key paths
read like ``models[0].window.size``. Durations become float seconds in ``*_s`` fields.

``${VAR}`` and ``${VAR:-default}`` in any string value are read from the environment
(``$${`` writes a literal ``${``). A value produced that way is never shown: its ``repr`` is
``'***'``, and error messages print ``'***'`` in its place. Secrets (webhook ``secret``,
Kafka passwords) are held in ``Secret``; webhook header values are always masked. Other
modules that log configuration values should pass them through ``redact``.

This package imports only the standard library, PyYAML and (lazily) ``sqlalchemy.engine``,
so ``driftd check`` stays fast. Its modules, in the order data flows through them:
``masking`` (values never shown), ``model`` (constants and frozen dataclasses), ``expand``
(``${VAR}``), ``convert`` (one value), ``section`` (one mapping), ``parser`` (the top-level
sections), ``models`` (the models section), ``web`` (the exporter-toolkit file of
``server.web_config``); this file reads YAML and runs ``driftd check``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from monitor.config.expand import _expand
from monitor.config.masking import FrozenMap, Secret, _Masked, _MaskedPath, redact
from monitor.config.model import (
    CLASSIFICATION_METRICS as CLASSIFICATION_METRICS,
    DEFAULT_METRICS, FEATURE_TYPES as FEATURE_TYPES, METRICS_BY_TASK, PVALUE_STATISTICS,
    REFERENCE_FORMATS as REFERENCE_FORMATS,
    REGRESSION_METRICS as REGRESSION_METRICS,
    RESERVED_COLUMNS as RESERVED_COLUMNS,
    SASL_MECHANISMS as SASL_MECHANISMS,
    SECURITY_PROTOCOLS as SECURITY_PROTOCOLS,
    STATISTICS, TASKS, TOPIC_FIELDS,
    WEBHOOK_FORMATS as WEBHOOK_FORMATS,
    AlertsConfig, Bound, Config, DriftConfig, FeatureConfig, FieldsConfig, KafkaConfig, LimitsConfig, ModelConfig,
    PerformanceConfig, ReferenceConfig, ServerConfig, StorageConfig, TlsServerConfig, TopicsConfig, WebConfig,
    WebhookConfig, WindowConfig,
)
from monitor.config.parser import _Parser
from monitor.errors import ConfigError

__all__ = [
    "DEFAULT_METRICS", "METRICS_BY_TASK", "PVALUE_STATISTICS", "STATISTICS", "TASKS", "TOPIC_FIELDS",
    "Bound", "Config", "DriftConfig", "FeatureConfig", "FieldsConfig", "FrozenMap", "KafkaConfig",
    "LimitsConfig", "ModelConfig", "PerformanceConfig", "ReferenceConfig", "Secret", "ServerConfig",
    "StorageConfig", "TlsServerConfig", "TopicsConfig", "WebConfig", "WebhookConfig", "WindowConfig", "AlertsConfig",
    "check_files", "check_main", "load_config", "parse_config", "redact",
]


# --- reading --------------------------------------------------------------------------------

def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read, expand and validate a YAML configuration file; raise ``ConfigError`` listing every problem."""
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [("", f"cannot read the configuration file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [("", f"the file is not UTF-8 text (byte {exc.start})")]) from None
    data, duplicates = _read_yaml(source, text)
    base_dir = Path(source).resolve().parent
    try:
        config = parse_config(data, source, env, base_dir)
    except ConfigError as exc:
        raise ConfigError(source, duplicates + exc.problems) from None
    if duplicates:
        raise ConfigError(source, duplicates)
    return config


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader, also recording duplicate keys (which YAML would silently overwrite)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[str, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            marker = (key_node.tag, key_node.value)
            if marker in seen:
                mark = key_node.start_mark
                self.duplicates.append(
                    ("", f"line {mark.line + 1}, column {mark.column + 1}: duplicate key {key_node.value!r}; "
                         "YAML would silently keep only the last one"))
            seen.add(marker)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _read_yaml(source: str, text: str) -> tuple[object, list[tuple[str, str]]]:
    loader = _Loader(text)
    try:
        return loader.get_single_data(), loader.duplicates
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        context = f" ({exc.context})" if exc.context else ""
        raise ConfigError(source, [("", f"{where}invalid YAML: {exc.problem}{context}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [("", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()


def parse_config(data: object, source: str, env: Mapping[str, str] | None = None,
                 base_dir: Path | None = None) -> Config:
    """Validate loaded YAML data; relative paths resolve against ``base_dir`` (default: the cwd)."""
    problems: list[tuple[str, str]] = []
    env = os.environ if env is None else env
    base = Path.cwd() if base_dir is None else Path(base_dir).resolve()
    data = _expand(data, "", env, problems)
    if data is None:
        raise ConfigError(source, problems + [("", "the file is empty; expected a mapping with a 'models' list")])
    if not isinstance(data, dict):
        raise ConfigError(source, problems + [("", f"expected a mapping at the top level, got {redact(data)}")])
    config = _Parser(problems, base).config(source, data)
    if problems:
        raise ConfigError(source, problems)
    return config


# --- driftd check ---------------------------------------------------------------------------

def check_files(config: Config) -> list[tuple[str, str]]:
    """Return ``(key_path, message)`` for every file the configuration names that is not there."""
    problems: list[tuple[str, str]] = []

    def need_file(key: str, path: Path) -> None:
        shown = redact(path) if isinstance(path, _MaskedPath) else str(path)
        if not path.exists():
            problems.append((key, f"no such file: {shown}"))
        elif not path.is_file():
            problems.append((key, f"not a file: {shown}"))

    for index, model in enumerate(config.models):
        if model.reference.path is not None:
            need_file(f"models[{index}].reference.path", model.reference.path)
    if config.kafka is not None:
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(config.kafka, key)
            if value is not None:
                path = Path(value)
                if isinstance(value, _Masked):
                    path = _MaskedPath(value)
                    path.variables = value.variables
                need_file(f"kafka.{key}", path)
    folder = _sqlite_folder(config.storage.url)
    if folder is not None and not folder.is_dir():
        shown = "'***'" if isinstance(config.storage.url, _Masked) else str(folder)
        problems.append(("storage.url", f"the folder of the SQLite database does not exist: {shown}"))
    return problems


def _sqlite_folder(text: str) -> Path | None:
    from sqlalchemy.engine import make_url

    url = make_url(text)
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).parent


def check_main(path: str, env: Mapping[str, str] | None = None) -> int:
    """``driftd check``: print every problem as ``FILE: KEY: MESSAGE`` to stderr and return 2, or return 0."""
    try:
        config = load_config(path, env)
    except ConfigError as exc:
        _print_problems(exc.source, exc.problems)
        return 2
    problems = check_files(config)
    if problems:
        _print_problems(path, problems)
        return 2
    count = len(config.models)
    print(f"{path}: ok ({count} model{'' if count == 1 else 's'})")
    return 0


def _print_problems(source: str, problems: list[tuple[str, str]]) -> None:
    for key, message in problems:
        print(f"{source}: {key}: {message}" if key else f"{source}: {message}", file=sys.stderr)
