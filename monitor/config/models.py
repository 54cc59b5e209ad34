"""The ``models`` section: each model's reference, features, window, drift, performance and alerts."""

from __future__ import annotations

from pathlib import Path

from monitor.config.convert import (
    _choice, _count, _duration, _integer, _Invalid, _model_name, _number, _resolve_path, _share, _suggest, _text,
)
from monitor.config.expand import _UNSET
from monitor.config.masking import FrozenMap, _listing, _plain, redact
from monitor.config.model import (
    CLASSIFICATION_METRICS, DEFAULT_METRICS, FEATURE_TYPES, METRICS_BY_TASK, PVALUE_STATISTICS, REFERENCE_FORMATS,
    REGRESSION_METRICS, RESERVED_COLUMNS, STATISTICS, TASKS, AlertsConfig, Bound, DriftConfig, FeatureConfig,
    ModelConfig, PerformanceConfig, ReferenceConfig, WindowConfig,
)
from monitor.config.section import _convert_at, _Section

_MODEL_KEYS = ("name", "task", "reference", "features", "window", "drift", "performance", "alerts")
_WINDOW_KEYS = ("size", "events", "allowed_lateness", "min_events", "idle_close", "max_future")
_DRIFT_KEYS = ("statistics", "rules", "drift_share", "critical_features", "bins", "sample_size")
_PERFORMANCE_KEYS = ("metrics", "threshold", "label_ttl", "min_labels", "rules", "positive_label")
_COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst", ".zip")
_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class _ModelsParser:
    """Builds the models section, collecting every problem; alerts may name only ``webhook_names``."""

    def __init__(self, problems: list[tuple[str, str]], base_dir: Path, webhook_names: tuple[str, ...]) -> None:
        self.problems = problems
        self.base_dir = base_dir
        self.webhook_names = webhook_names

    def models(self, top: _Section) -> tuple[ModelConfig, ...]:
        pairs = top.items("models")
        if pairs is None:
            return ()
        if not pairs:
            top.add("models", "expected at least one model")
        models: list[ModelConfig] = []
        first_index: dict[str, int] = {}
        for index, (path, raw) in enumerate(pairs):
            model = self.model(_Section(self.problems, path, raw, _MODEL_KEYS,
                                        ("name", "task", "reference", "window"), must_exist=True))
            if model.name in first_index:
                self.problems.append((f"{path}.name", f"duplicate model name {model.name!r} "
                                                      f"(also models[{first_index[model.name]}])"))
            elif model.name is not None:
                first_index[model.name] = index
            models.append(model)
        return tuple(models)

    def model(self, sec: _Section) -> ModelConfig:
        name = sec.get("name", _model_name)
        task = sec.get("task", _choice(TASKS, "task"))
        reference = self.reference(sec.child("reference", ("path", "events", "format")))
        features = self.features(sec)
        window = self.window(sec.child("window", _WINDOW_KEYS))
        drift = self.drift(sec.child("drift", _DRIFT_KEYS), None if "features" in sec.bad else features)
        performance = self.performance(sec.child("performance", _PERFORMANCE_KEYS), task)
        alerts = self.alerts(sec.child("alerts", ("consecutive_windows", "cooldown", "webhooks")))
        return ModelConfig(name, task, reference, features, window, drift, performance, alerts)

    def reference(self, sec: _Section) -> ReferenceConfig:
        _exactly_one(sec, "path", "events", "a file to read", "a count of first live events")
        text = sec.get("path", _text)
        fmt = sec.get("format", _choice(REFERENCE_FORMATS, "format"))
        if sec.has("format") and sec.has("events") and not sec.has("path"):
            sec.add("format", "only applies to a reference read from a file (reference.path)")
        if text is not None and fmt is None and "format" not in sec.bad:
            fmt = _format_from_extension(text)
            if fmt is None:
                sec.add("path", f"cannot tell the format of {redact(text)} from its extension; "
                                f"set reference.format to one of {', '.join(REFERENCE_FORMATS)}")
        return ReferenceConfig(path=None if text is None else _resolve_path(text, self.base_dir),
                               events=sec.get("events", _count), format=fmt)

    def features(self, sec: _Section) -> tuple[FeatureConfig, ...] | None:
        pairs = sec.items("features")
        if pairs is None:
            return None if not sec.has("features") else ()
        if not pairs:
            sec.add("features", "expected at least one feature; leave features out to infer them from the reference")
        features: list[FeatureConfig] = []
        first_index: dict[str, int] = {}
        for index, (path, raw) in enumerate(pairs):
            item = _Section(self.problems, path, raw, ("name", "type"), ("name", "type"), must_exist=True)
            name = item.get("name", _text)
            if name in RESERVED_COLUMNS:
                item.add("name", f"{name!r} is reserved for the {name} column of reference files")
            elif name in first_index:
                item.add("name", f"duplicate feature {name!r} (also features[{first_index[name]}])")
            elif name is not None:
                first_index[name] = index
            features.append(FeatureConfig(name, item.get("type", _choice(FEATURE_TYPES, "feature type"))))
            if item.bad or not item.present:
                sec.bad.add("features")
        return tuple(features)

    def window(self, sec: _Section) -> WindowConfig:
        _exactly_one(sec, "size", "events", "a time window like 1h", "a count window like 10000")
        size = sec.get("size", _duration())
        events = sec.get("events", _count)
        by_count = sec.has("events") and not sec.has("size")
        for key in ("allowed_lateness", "max_future"):
            if by_count and sec.has(key):
                sec.add(key, "only applies to time windows (window.size)")
        min_events = sec.get("min_events", _count, min(100, events) if by_count and events else 100)
        if by_count and events and min_events > events:
            sec.add("min_events", f"{_plain(min_events)} is more than window.events ({_plain(events)}): "
                                  "no window would ever be judged")
        return WindowConfig(
            size_s=size,
            events=events,
            allowed_lateness_s=sec.get("allowed_lateness", _duration(allow_zero=True), 0.0),
            min_events=min_events,
            idle_close_s=sec.get("idle_close", _duration(), size),
            max_future_s=sec.get("max_future", _duration(), WindowConfig.max_future_s),
        )

    def drift(self, sec: _Section, features: tuple[FeatureConfig, ...] | None) -> DriftConfig:
        statistics = sec.get_list("statistics", _choice(STATISTICS, "statistic"), STATISTICS)
        if sec.has("statistics") and not statistics and "statistics" not in sec.bad:
            sec.add("statistics", f"expected at least one of {', '.join(STATISTICS)}")
        rules: dict[str, float] = {}
        for path, name, raw in sec.entries("rules"):
            threshold = self.drift_rule(path, name, raw, statistics, "statistics" in sec.bad)
            if threshold is not None:
                rules[name] = threshold
        if not sec.has("rules"):
            rules = {"psi": 0.2} if "psi" in statistics else {}
        critical = sec.get_list("critical_features", _text)
        if features is not None and "critical_features" not in sec.bad:
            names = [feature.name for feature in features]
            for index, name in enumerate(critical):
                if name not in names:
                    self.problems.append((f"{sec.key('critical_features')}[{index}]",
                                          f"{name!r} is not a feature of this model{_suggest(name, names)}; "
                                          f"features: {_listing(names)}"))
        return DriftConfig(
            statistics=statistics,
            rules=FrozenMap(rules),
            drift_share=sec.get("drift_share", _share, 0.5),
            critical_features=critical,
            bins=sec.get("bins", _integer(2, 1000, "an integer from 2 to 1000"), 10),
            sample_size=sec.get("sample_size", _integer(100, None, "an integer of at least 100"), 100_000),
        )

    def drift_rule(self, path: str, name: str, raw: object, statistics: tuple[str, ...],
                   statistics_bad: bool) -> float | None:
        if name not in STATISTICS:
            self.problems.append((path, f"unknown statistic {name!r}{_suggest(name, STATISTICS)}; "
                                        f"expected one of {', '.join(STATISTICS)}"))
            return None
        if name not in statistics and not statistics_bad:
            self.problems.append((path, f"a rule for {name!r}, which is not in drift.statistics "
                                        f"({_listing(statistics)})"))
        if name in PVALUE_STATISTICS:
            convert = _number(0.0, 1.0, "a p-value between 0 and 1")
        else:
            convert = _number(0.0, None, "a threshold of at least 0")
        threshold: float | None = _convert_at(self.problems, path, raw, convert)
        return threshold

    def performance(self, sec: _Section, task: str | None) -> PerformanceConfig:
        valid = METRICS_BY_TASK.get(task or "", CLASSIFICATION_METRICS + REGRESSION_METRICS)
        metrics = sec.get_list("metrics", lambda value: _metric(value, task, valid),
                               DEFAULT_METRICS.get(task or "", ()))
        if sec.has("metrics") and not metrics and "metrics" not in sec.bad:
            sec.add("metrics", f"expected at least one of {', '.join(valid)}")
        rules: dict[str, Bound] = {}
        for path, name, raw in sec.entries("rules"):
            try:
                _metric(name, task, valid)
            except _Invalid as exc:
                self.problems.append((path, str(exc)))
                continue
            if name not in metrics and "metrics" not in sec.bad:
                self.problems.append((path, f"a rule for {name!r}, which is not in performance.metrics "
                                            f"({_listing(metrics)})"))
            rules[name] = self.bound(path, raw)
        return PerformanceConfig(
            metrics=metrics,
            threshold=sec.get("threshold", _share, 0.5),
            label_ttl_s=sec.get("label_ttl", _duration(), 7 * 86400.0),
            min_labels=sec.get("min_labels", _count, 100),
            rules=FrozenMap(rules),
            positive_label=sec.get("positive_label", _label_value, 1),
        )

    def bound(self, path: str, raw: object) -> Bound:
        if raw is None or (raw is not _UNSET and not isinstance(raw, dict)):
            self.problems.append((path, f"expected a mapping like {{below: 0.8}} or {{above: 0.3}}, got {redact(raw)}"))
            raw = None
        sec = _Section(self.problems, path, raw, ("below", "above"))
        below = sec.get("below", _number())
        above = sec.get("above", _number())
        if not sec.present:
            pass
        elif below is None and above is None and not sec.bad and not sec.unknown:
            sec.problems.append((sec.path, "expected below, above or both, like {below: 0.8}"))
        elif below is not None and above is not None and below >= above:
            sec.problems.append((sec.path, f"below ({_plain(below)}) must be less than above ({_plain(above)}), "
                                           "or the rule would always hold"))
        return Bound(below, above)

    def alerts(self, sec: _Section) -> AlertsConfig:
        names = sec.get_list("webhooks", _text)
        if "webhooks" not in sec.bad:
            for index, name in enumerate(names):
                if name not in self.webhook_names:
                    defined = (f"defined webhooks: {', '.join(self.webhook_names)}" if self.webhook_names
                               else "no webhooks are defined (add them under the top-level webhooks key)")
                    self.problems.append((f"{sec.key('webhooks')}[{index}]", f"no webhook named {name!r}"
                                          f"{_suggest(name, self.webhook_names)}; {defined}"))
        return AlertsConfig(
            consecutive_windows=sec.get("consecutive_windows", _count, 1),
            cooldown_s=sec.get("cooldown", _duration(allow_zero=True), 0.0),
            webhooks=names,
        )


def _exactly_one(sec: _Section, first: str, second: str, first_is: str, second_is: str) -> None:
    if not sec.present:
        return
    if sec.has(first) and sec.has(second):
        sec.add("", f"give either {first} or {second}, not both")
    elif not sec.has(first) and not sec.has(second) and first not in sec.bad and second not in sec.bad:
        sec.add("", f"expected {first} ({first_is}) or {second} ({second_is})")


def _format_from_extension(text: str) -> str | None:
    suffixes = [suffix.lower() for suffix in Path(text).suffixes]
    if len(suffixes) >= 2 and suffixes[-1] in _COMPRESSIONS:
        fmt = _EXTENSIONS.get(suffixes[-2])
        return fmt if fmt in ("csv", "jsonl") else None
    return _EXTENSIONS.get(suffixes[-1]) if suffixes else None


def _metric(value: object, task: str | None, valid: tuple[str, ...]) -> str:
    known = CLASSIFICATION_METRICS + REGRESSION_METRICS
    if not isinstance(value, str) or value not in known:
        raise _Invalid(f"unknown metric {redact(value)}{_suggest(value, valid)}; "
                       f"expected one of {', '.join(valid)}")
    if value not in valid:
        raise _Invalid(f"{value!r} is not available for {_plain(task)}; expected one of {', '.join(valid)}")
    return value


def _label_value(value: object) -> str | int | bool:
    if isinstance(value, (str, int)) and not isinstance(value, float):
        return value
    raise _Invalid(f"expected a class label (a string, an integer or a boolean), got {redact(value)}")
