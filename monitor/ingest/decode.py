"""Decode a batch of raw messages (docs/input.md) into columns; reject bad ones per message, with a reason.

The fast path decodes the whole batch as one JSON array with msgspec into typed structs whose
feature fields are the configured models' feature names, so no per-event dict is built. When that
fails (one bad message spoils the array) every message is decoded on its own, and each bad one is
rejected with its reason while the good ones go on. Values that standard JSON forbids but Python's
``json`` writes (``NaN``, ``Infinity``) are accepted through a slower fallback: they are missing
values, which are data.
"""

from __future__ import annotations

import json
import math
from collections import Counter
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any, Callable, Mapping, Sequence

import msgspec
import numpy as np
from msgspec.structs import astuple

from monitor.config.model import TIMESTAMP_UNITS
from monitor.ingest.columns import categorical_column, numeric_column

PREDICTIONS, FEATURES, LABELS, MIXED = "predictions", "features", "labels", "mixed"
KINDS = (PREDICTIONS, FEATURES, LABELS, MIXED)
REASONS = ("not_json", "not_object", "bad_type", "missing_field", "bad_timestamp", "unknown_model", "oversized",
           "bad_id", "too_deep", "oversized_value", "future_timestamp", "internal_error", "unreadable_batch")
"""Every reason a message can be rejected for (the ``reason`` label of driftd_events_rejected_total)."""

MIN_TIMESTAMP = -62_135_596_800.0
"""0001-01-01T00:00:00Z: the earliest event time a window can be stored and printed with."""
MAX_TIMESTAMP = 253_370_764_800.0
"""9999-01-01T00:00:00Z: the latest event time accepted, a year short of what RFC 3339 can print, so that
the window holding it (up to a year long) can still be printed."""

MAX_ID_LENGTH = 255
"""Longest prediction id accepted (the store's key length)."""

CONTRACT_FIELDS = ("model", "model_version", "prediction_id", "timestamp", "features", "prediction", "label")
_REQUIRED = {PREDICTIONS: ("model", "timestamp", "prediction"), FEATURES: ("model", "timestamp"),
             LABELS: ("model", "prediction_id", "timestamp", "label"), MIXED: ("model", "timestamp")}
_UNSET = msgspec.UNSET
_Value = float | str | bool | None


@dataclass(frozen=True)
class Rejection:
    """One unusable message: its position in the batch, the reason (one of REASONS) and a detail line."""

    index: int
    reason: str
    detail: str


@dataclass(frozen=True)
class Records:
    """The accepted messages of one batch, as columns in batch order.

    ``index`` maps each accepted row back to its position in the input batch. ``kind`` is per row
    (predictions, features or labels): a mixed replay file holds all three. Feature columns hold
    the raw decoded values (numbers, strings, bools or None) per configured feature name, or typed
    numpy columns for the features the decoder was told the kind of.
    """

    index: np.ndarray
    kind: np.ndarray
    model: np.ndarray
    timestamp: np.ndarray
    prediction_id: list[str | None]
    model_version: list[str | None]
    features: dict[str, list[Any] | np.ndarray]
    prediction: list[Any]
    label: list[Any]
    extra_features: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return int(self.index.size)

    def take(self, rows: np.ndarray) -> "Records":
        """The sub-batch at positions ``rows`` (an index array into this batch)."""
        pick = rows.tolist()
        return Records(self.index[rows], self.kind[rows], self.model[rows], self.timestamp[rows],
                       [self.prediction_id[i] for i in pick], [self.model_version[i] for i in pick],
                       {name: col[rows] if isinstance(col, np.ndarray) else [col[i] for i in pick]
                        for name, col in self.features.items()},
                       [self.prediction[i] for i in pick], [self.label[i] for i in pick],
                       None if self.extra_features is None else [self.extra_features[i] for i in pick])


@dataclass
class Decoded:
    """What :meth:`Decoder.decode` returns: accepted records and rejections."""

    records: Records
    rejections: list[Rejection] = field(default_factory=list)

    def rejected_by_reason(self) -> Counter[str]:
        """Rejections counted by reason."""
        return Counter(r.reason for r in self.rejections)

    def reject_future(self, latest: Mapping[str, float]) -> "Decoded":
        """Reject as ``future_timestamp`` each record dated after its model's ``latest`` event time.

        The daemon passes its wall clock plus each model's ``window.max_future``, so one event from a
        producer with a broken clock never moves a watermark. Models not named are not checked.

        >>> d = Decoder("predictions", {}, {"m": ("x",)})
        >>> out = d.decode([b'{"model": "m", "timestamp": %d, "prediction": 1}' % t for t in (10, 99)])
        >>> later = out.reject_future({"m": 50.0})
        >>> later.records.timestamp.tolist(), [(r.index, r.reason) for r in later.rejections]
        ([10.0], [(1, 'future_timestamp')])
        """
        records = self.records
        if not len(records) or not latest or float(records.timestamp.max()) <= min(latest.values()):
            return self
        future = np.zeros(len(records), dtype=bool)
        for model, cutoff in latest.items():
            future |= (records.timestamp > cutoff) & (records.model == model)
        if not future.any():
            return self
        rejected = [Rejection(int(records.index[i]), "future_timestamp",
                              f"timestamp {records.timestamp[i]!r} is more than window.max_future ahead of the "
                              f"daemon's clock ({latest[records.model[i]]!r} at most)")
                    for i in np.flatnonzero(future).tolist()]
        return Decoded(records.take(np.flatnonzero(~future)), sorted(self.rejections + rejected, key=lambda r: r.index))

    def part(self, start: int, stop: int) -> "Decoded":
        """The messages at batch positions ``start`` to ``stop - 1``, numbered from 0 again.

        >>> d = Decoder("predictions", {}, {"m": ("x",)})
        >>> out = d.decode([b'{"model": "m", "timestamp": %d, "prediction": 1}' % t for t in (10, 20)] + [b"x"])
        >>> tail = out.part(1, 3)
        >>> tail.records.timestamp.tolist(), tail.records.index.tolist(), [(r.index, r.reason) for r in tail.rejections]
        ([20.0], [0], [(1, 'not_json')])
        """
        rows = np.flatnonzero((self.records.index >= start) & (self.records.index < stop))
        taken = self.records.take(rows)
        return Decoded(dataclasses.replace(taken, index=taken.index - start),
                       [dataclasses.replace(r, index=r.index - start) for r in self.rejections if start <= r.index < stop])

    def reject(self, index: int, reason: str, detail: str) -> "Decoded":
        """Message ``index`` rejected for ``reason`` (instead of what decoding made of it)."""
        rows = np.flatnonzero(self.records.index != index)
        others = [r for r in self.rejections if r.index != index]
        return Decoded(self.records.take(rows) if rows.size != len(self.records) else self.records,
                       sorted(others + [Rejection(index, reason, detail)], key=lambda r: r.index))


class Decoder:
    """Decodes batches of one topic kind, with the topic's field renaming, for the configured models.

    Parameters
    ----------
    kind
        predictions, features, labels, or mixed (a replay file: each line's kind is found from its fields).
    fields
        Contract field name -> the name used in the messages (docs/input.md ``fields:``); absent = same name.
    models
        Known model name -> its feature names; None for a model whose features are not known yet
        (inferred from its first events), whose features are then decoded as a free mapping.
    max_message_bytes
        Larger messages are rejected as ``oversized`` without being parsed.
    label_field
        For a mixed input: the name of the label field (from the labels topic's renaming).
    kinds
        Feature name -> ``numeric`` or ``categorical``: those columns come back typed (float64 with
        NaN for missing, or normalised category strings), so the work is done where decoding runs.
    max_value_length
        A message with a text value longer than this (in characters: a category, the prediction,
        the label, the model version) is rejected as ``oversized_value``.

    Examples
    --------
    >>> d = Decoder("predictions", {}, {"churn": ("age",)})
    >>> out = d.decode([b'{"model": "churn", "timestamp": 10, "features": {"age": 3}, "prediction": 1}', b'oops'])
    >>> out.records.features["age"], [(r.index, r.reason) for r in out.rejections]
    ([3.0], [(1, 'not_json')])
    """

    def __init__(self, kind: str, fields: Mapping[str, str], models: Mapping[str, Sequence[str] | None],
                 max_message_bytes: int = 1_048_576, label_field: str = "label",
                 kinds: Mapping[str, str] | None = None, max_value_length: int = 1024,
                 timestamp_unit: str = "seconds") -> None:
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
        if timestamp_unit not in TIMESTAMP_UNITS:
            raise ValueError(f"timestamp_unit: expected one of {', '.join(TIMESTAMP_UNITS)}, got {timestamp_unit!r}")
        unknown = sorted(set(fields) - set(CONTRACT_FIELDS))
        if unknown:
            raise ValueError(f"fields: unknown contract fields {unknown}; valid: {', '.join(CONTRACT_FIELDS)}")
        self._args = (kind, dict(fields), dict(models), max_message_bytes, label_field, dict(kinds or {}),
                      max_value_length, timestamp_unit)
        self.max_value_length = max_value_length
        self.timestamp_unit = timestamp_unit
        self._per_second = TIMESTAMP_UNITS[timestamp_unit]
        self.kind = kind
        self.models = dict(models)
        self.max_message_bytes = max_message_bytes
        self._free_features = any(v is None for v in self.models.values())
        names: list[str] = []
        for feats in self.models.values():
            for name in feats or ():
                if name not in names:
                    names.append(name)
        self.feature_names = tuple(names)
        self._struct = self._event_struct(fields, label_field)
        self._one = msgspec.json.Decoder(self._struct)
        self._many = msgspec.json.Decoder(list[self._struct])  # type: ignore[valid-type]
        self._attr = [attrgetter(f"f{i}") for i in range(len(self.feature_names))]
        self._convert = [_CONVERTERS.get((kinds or {}).get(name, ""), list) for name in self.feature_names]
        numeric = [i for i, name in enumerate(self.feature_names) if (kinds or {}).get(name) == "numeric"]
        self._numeric = numeric if len(numeric) > 1 else []
        self._pick_numeric = itemgetter(*numeric) if self._numeric and len(numeric) < len(self.feature_names) else None
        self._empty_features = self._feature_struct() if not self._free_features else None

    def __reduce__(self) -> tuple[type["Decoder"], tuple[Any, ...]]:
        """Pickled as its arguments (its msgspec types are built at run time): sent to a decoding process."""
        return Decoder, self._args

    def _event_struct(self, fields: Mapping[str, str], label_field: str) -> type:
        self._feature_struct = msgspec.defstruct(
            "Features", [(f"f{i}", _Value, None) for i in range(len(self.feature_names))],
            rename={f"f{i}": name for i, name in enumerate(self.feature_names)}, gc=False)
        features_type: Any = dict[str, Any] if self._free_features else self._feature_struct
        spec: list[tuple[str, Any, Any]] = [
            ("model", str | msgspec.UnsetType, _UNSET),
            ("model_version", str | int | None | msgspec.UnsetType, _UNSET),
            ("prediction_id", str | int | None | msgspec.UnsetType, _UNSET),
            ("timestamp", float | str | msgspec.UnsetType, _UNSET),
            ("features", features_type | None | msgspec.UnsetType, _UNSET),
            ("prediction", _Value | msgspec.UnsetType, _UNSET),
            ("label", _Value | msgspec.UnsetType, _UNSET),
        ]
        rename = {name: fields.get(name, name) for name, _, _ in spec}
        if self.kind == MIXED and "label" not in fields:
            rename["label"] = label_field
        return msgspec.defstruct("Event", spec, rename=rename, gc=False)

    def decode(self, values: Sequence[bytes | None]) -> Decoded:
        """Decode one batch; never raises for a bad message."""
        events: list[Any] = []
        positions: list[int] = []
        rejections: list[Rejection] = []
        if values and None not in values and max(map(len, values)) <= self.max_message_bytes:  # type: ignore[arg-type]
            try:
                joined = b"[" + b",".join(values) + b"]"  # type: ignore[arg-type]
                if not joined.isascii():
                    _utf8(joined)
                if _maybe_surrogate(joined):  # msgspec reads lone surrogates unevenly: check those one by one
                    raise UnicodeDecodeError("utf-8", b"", 0, 1, "surrogate escapes")
                events = self._many.decode(joined)
                positions = list(range(len(values)))
                if len(events) != len(values):  # a message held more than one JSON value: go one by one
                    events, positions = [], []
            except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError):
                events, positions = [], []
        if not positions and values:
            for i, raw in enumerate(values):
                event = self._decode_one(i, raw, rejections)
                if event is not None:
                    events.append(event)
                    positions.append(i)
        return Decoded(self._columns(events, positions, rejections), rejections)

    def _decode_one(self, i: int, raw: bytes | None, rejections: list[Rejection]) -> Any:
        if raw is None:
            rejections.append(Rejection(i, "not_json", "empty message (null value)"))
            return None
        if len(raw) > self.max_message_bytes:
            rejections.append(Rejection(i, "oversized", f"{len(raw)} bytes > max_message_bytes={self.max_message_bytes}"))
            return None
        try:
            if not raw.isascii():
                _utf8(raw)
            if _maybe_surrogate(raw) and _lone_surrogate(raw):
                rejections.append(Rejection(i, "not_json", "a string that is not valid Unicode (a lone surrogate)"))
                return None
            return self._one.decode(raw)
        except UnicodeDecodeError as exc:
            rejections.append(Rejection(i, "not_json", f"not UTF-8: {exc}"))
            return None
        except msgspec.ValidationError as exc:  # found while parsing: the rest may not even be JSON
            rejections.append(_invalid(i, raw, exc))
            return None
        except msgspec.DecodeError as exc:
            return self._decode_lenient(i, raw, exc, rejections)
        except RecursionError:  # the parser's nesting bound (the interpreter's recursion limit)
            rejections.append(Rejection(i, "too_deep", _TOO_DEEP))
            return None

    def _decode_lenient(self, i: int, raw: bytes, exc: Exception, rejections: list[Rejection]) -> Any:
        try:  # Python's json writes NaN and Infinity; read them, then convert (they become missing values)
            obj = json.loads(raw, parse_float=float if self._free_features else _float_or_overflow)
        except (ValueError, UnicodeDecodeError):
            rejections.append(Rejection(i, "not_json", str(exc)))
            return None
        except RecursionError:
            rejections.append(Rejection(i, "too_deep", _TOO_DEEP))
            return None
        try:
            return msgspec.convert(obj, self._struct, from_attributes=False, str_keys=True)
        except msgspec.ValidationError as err:
            rejections.append(Rejection(i, _reason_of(str(err)), str(err)))
            return None
        except RecursionError:
            rejections.append(Rejection(i, "too_deep", _TOO_DEEP))
            return None

    def _columns(self, events: list[Any], positions: list[int], rejections: list[Rejection]) -> Records:
        """Columns of the decoded events, checked column by column (no Python work per event and field)."""
        n = len(events)
        model = _objects(list(map(_GET["model"], events)))
        prediction = _objects(list(map(_GET["prediction"], events)))
        label = _objects(list(map(_GET["label"], events)))
        features = _objects(list(map(_GET["features"], events)))
        pid = _objects(list(map(_GET["prediction_id"], events)))
        kind = self._kinds(n, prediction, label, features)
        absent = {name: _absent(col) for name, col in
                  (("model", model), ("prediction", prediction), ("label", label), ("prediction_id", pid))}
        stamps, bad_stamp, stamp_absent = _timestamps(list(map(_GET["timestamp"], events)), self._per_second)
        absent["timestamp"] = stamp_absent
        missing = np.zeros(n, dtype=bool)
        for kind_name, required in _REQUIRED.items():
            rows = kind == kind_name
            if rows.any():
                for name in required:
                    if name != "features":
                        missing |= rows & absent[name]
        known = np.zeros(n, dtype=bool)
        for name in self.models:
            known |= model == name
        unknown = ~missing & ~known
        bad_time = ~missing & ~unknown & bad_stamp
        pid_text = _objects(_texts(pid))  # a number id is as long as its digits
        long_id = _too_long(pid_text, MAX_ID_LENGTH) & ~missing & ~unknown & ~bad_time
        for i in np.flatnonzero(missing | unknown | bad_time).tolist():
            rejections.append(self._rejection(positions[i], events[i], kind[i], bool(unknown[i])))
        for i in np.flatnonzero(long_id).tolist():
            rejections.append(Rejection(positions[i], "bad_id", f"prediction_id longer than {MAX_ID_LENGTH} characters"))
        rejections.sort(key=lambda r: r.index)
        keep = ~(missing | unknown | bad_time | long_id)
        rows = None if keep.all() else np.flatnonzero(keep)
        pick = (lambda col: col) if rows is None else (lambda col: col[rows])
        feats = pick(features)
        columns: dict[str, list[Any] | np.ndarray] = {}
        extra: list[dict[str, Any]] | None = None
        if self._free_features:
            extra = [f if isinstance(f, dict) else {} for f in feats.tolist()]
        else:
            no_features = _absent(feats)
            if no_features.any():
                feats = feats.copy()
                feats[no_features] = self._empty_features
            columns = self._feature_columns(feats.tolist())
        index = np.asarray(positions, dtype=np.int64)
        records = Records(
            index=pick(index), kind=pick(kind), model=pick(model), timestamp=pick(stamps),
            prediction_id=pick(pid_text).tolist(), model_version=_texts(pick(_objects(list(map(_GET["model_version"], events))))),
            features=columns, prediction=_values(pick(prediction)), label=_values(pick(label)), extra_features=extra)
        return self._without_long_values(records, rejections)

    def _without_long_values(self, records: Records, rejections: list[Rejection]) -> Records:
        """Reject the rows holding a text value longer than ``max_value_length`` (one pass per column)."""
        columns: list[tuple[str, Sequence[Any]]] = [
            ("prediction", records.prediction), ("label", records.label), ("model_version", records.model_version)]
        columns += [(f"features.{name}", col) for name, col in records.features.items()
                    if not isinstance(col, np.ndarray) or col.dtype == object]  # float columns hold no text
        long = np.zeros(len(records), dtype=bool)
        first: dict[int, str] = {}
        for name, column in columns:
            rows = _too_long(column, self.max_value_length)
            for i in np.flatnonzero(rows & ~long).tolist():
                first[i] = name
            long |= rows
        if not long.any():
            return records
        for i, name in first.items():
            rejections.append(Rejection(int(records.index[i]), "oversized_value",
                                        f"{name}: a value longer than max_value_length={self.max_value_length}"))
        rejections.sort(key=lambda r: r.index)
        return records.take(np.flatnonzero(~long))

    def _feature_columns(self, listed: list[Any]) -> dict[str, list[Any] | np.ndarray]:
        """Each configured feature's column, the numeric ones converted as one matrix where they can be.

        One tuple per event and one numpy conversion for all numeric features costs half as much as a
        pass per feature. numpy converts exactly as :func:`numeric_column` does (None is NaN, "2.5" is
        2.5, true is 1.0); a value it cannot convert ("gold") sends the batch column by column.
        """
        columns: dict[str, list[Any] | np.ndarray] = {}
        if self._numeric and listed:
            rows = list(map(astuple, listed))
            if self._pick_numeric is not None:
                rows = list(map(self._pick_numeric, rows))
            try:
                matrix = np.array(rows, dtype=np.float64).T.copy()  # one contiguous row per feature
            except (TypeError, ValueError):
                pass
            else:
                columns = {self.feature_names[i]: matrix[j] for j, i in enumerate(self._numeric)}
        for name, getter, convert in zip(self.feature_names, self._attr, self._convert):
            if name not in columns:
                columns[name] = convert(list(map(getter, listed)))
        return {name: columns[name] for name in self.feature_names}

    def _kinds(self, n: int, prediction: np.ndarray, label: np.ndarray, features: np.ndarray) -> np.ndarray:
        kind = np.empty(n, dtype=object)
        if self.kind != MIXED:
            kind[:] = self.kind
            return kind
        kind[:] = FEATURES
        kind[prediction != _UNSET] = PREDICTIONS
        kind[(label != _UNSET) & (features == _UNSET)] = LABELS
        return kind

    def _rejection(self, position: int, event: Any, kind: str, unknown: bool) -> Rejection:
        missing = [f for f in _REQUIRED[kind] if getattr(event, f) is _UNSET or getattr(event, f) is None]
        if missing:
            return Rejection(position, "missing_field", f"missing required field(s): {', '.join(missing)}")
        if unknown:
            return Rejection(position, "unknown_model", f"model {event.model!r} is not configured")
        return Rejection(position, "bad_timestamp", f"timestamp {event.timestamp!r}: expected Unix "
                                                    f"{self.timestamp_unit} (years 1 to 9998) or an RFC 3339 "
                                                    "string with an offset")


_GET = {name: attrgetter(name) for name in CONTRACT_FIELDS}
_TOO_DEEP = "nested deeper than the JSON parser's bound (the interpreter's recursion limit)"
_CONVERTERS: dict[str, Callable[[list[Any]], Any]] = {"numeric": numeric_column, "categorical": categorical_column}


_OVERFLOW = object()
"""What a number literal too large for a float (``1e999``) reads as in the lenient path: no field's type."""


def _float_or_overflow(text: str) -> Any:
    value = float(text)
    return _OVERFLOW if math.isinf(value) else value


def _maybe_surrogate(raw: bytes) -> bool:
    """Whether ``raw`` may escape a UTF-16 surrogate (``\\ud83d``): a quick test before the careful one."""
    return b"\\ud" in raw or b"\\uD" in raw


def _lone_surrogate(raw: bytes) -> bool:
    """Whether a string of the JSON message (a key or a value) holds a surrogate not in a pair."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return False  # not JSON, or too deep: the parser says so itself
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _utf8(raw: bytes) -> None:
    """Raise UnicodeDecodeError unless ``raw`` is UTF-8 (msgspec does not check what it skips)."""
    raw.decode("utf-8")


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _absent(column: np.ndarray) -> np.ndarray:
    """True where a field was not in the message or was null."""
    return np.asarray((column == _UNSET) | (column == None), dtype=bool)  # noqa: E711 (elementwise)


def _too_long(column: Sequence[Any] | np.ndarray, limit: int) -> np.ndarray:
    """True where a value is text longer than ``limit`` characters (ids, categories, predictions).

    >>> _too_long(["ab", None, 3.0, "abcd"], 3).tolist()
    [False, False, False, True]
    """
    values = column.tolist() if isinstance(column, np.ndarray) else column
    try:
        longest = max(map(len, filter(None, values)), default=0)  # text and missing values, as usual
    except TypeError:  # numbers or bools among them
        longest = max(map(len, (v for v in values if type(v) is str)), default=0)
    if longest <= limit:
        return np.zeros(len(values), dtype=bool)
    return np.array([type(v) is str and len(v) > limit for v in values], dtype=bool)


def _values(column: np.ndarray) -> list[Any]:
    """The column as a list, with absent fields as None."""
    unset = column == _UNSET
    if unset.any():
        column = column.copy()
        column[unset] = None
    return column.tolist()


def _texts(column: np.ndarray) -> list[str | None]:
    """Identifiers as text (a number id 7 is "7"); absent is None."""
    values = _values(column)
    if set(map(type, values)) <= {str, type(None)}:
        return values
    return [None if v is None else str(v) for v in values]


def _timestamps(raw: list[Any], per_second: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unix seconds per event (numbers are in units ``per_second`` of a second), with masks of bad and absent ones."""
    if set(map(type, raw)) <= {float}:  # numbers only (numpy would read "1" as 1.0 too: strings go one by one)
        stamps = np.array(raw, dtype=np.float64)
        if per_second != 1.0:
            stamps /= per_second
        absent = np.zeros(len(raw), dtype=bool)
    else:  # RFC 3339 strings or absent values among them: one by one
        absent = np.array([v is _UNSET or v is None for v in raw], dtype=bool)
        parsed = [None if a else _timestamp(v, per_second) for v, a in zip(raw, absent)]
        stamps = np.array([math.nan if v is None else v for v in parsed], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~((stamps >= MIN_TIMESTAMP) & (stamps <= MAX_TIMESTAMP)) & ~absent  # NaN and inf are out of range too
    return stamps, bad, absent


def _invalid(i: int, raw: bytes, exc: msgspec.ValidationError) -> Rejection:
    """The rejection of a message msgspec found the wrong shape: not JSON at all, too deep, or its reason."""
    try:
        json.loads(raw)
    except RecursionError:
        return Rejection(i, "too_deep", _TOO_DEEP)
    except (ValueError, UnicodeDecodeError) as err:
        return Rejection(i, "not_json", str(err))
    return Rejection(i, _reason_of(str(exc)), str(exc))


def _reason_of(message: str) -> str:
    if message.startswith("Object missing required field"):
        return "missing_field"
    if message.startswith("Expected `object`, got") and " - at " not in message:
        return "not_object"
    return "bad_type"


def _timestamp(value: Any, per_second: float = 1.0) -> float | None:
    if isinstance(value, float):
        return value / per_second if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return parsed.timestamp()
    return None
