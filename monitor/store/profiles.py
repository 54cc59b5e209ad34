"""Find or build each model's reference profile: the newest stored version, or built from its reference file (then stored)."""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

from detectors.profile import ReferenceProfile
from monitor.config import Config, ModelConfig
from monitor.errors import ProfileError
from monitor.reference.build import build_profile, read_table
from monitor.store.records import ProfileRecord
from monitor.store.store import Store

log = logging.getLogger(__name__)


def build_from_file(model: ModelConfig, path: os.PathLike[str] | str, config: Config) -> ReferenceProfile:
    """Build the model's profile from a reference file."""
    from pathlib import Path

    table = read_table(Path(path), model.reference.format)
    features = None if model.features is None else [(f.name, f.type) for f in model.features]
    return build_profile(table, features, model.task, source=str(path), bins=model.drift.bins,
                         sample_size=model.drift.sample_size, max_categories=config.limits.max_categories)


def build_in_child(model: ModelConfig, path: os.PathLike[str] | str, config: Config) -> ReferenceProfile:
    """:func:`build_from_file` in a short-lived child process (the daemon's way).

    Reading a reference file takes pandas and pyarrow, about 80 MB of resident memory that a
    long-running daemon would otherwise keep for its whole life. The child reloads the config
    from its file (same environment), so nothing but the profile's bytes crosses over. A config
    that did not come from a file is built in this process.
    """
    if not os.path.isfile(config.source):
        return build_from_file(model, path, config)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        blob = pool.submit(_build_bytes, config.source, model.name).result()
    return ReferenceProfile.from_bytes(blob)


def _build_bytes(source: str, name: str) -> bytes:
    from monitor.config import load_config

    config = load_config(source)
    model = config.model(name)
    assert model.reference.path is not None
    return build_from_file(model, model.reference.path, config).to_bytes()


def file_identity(path: os.PathLike[str] | str) -> dict[str, Any]:
    """What identifies a reference file's content cheaply: its path, size and modification time."""
    stat = os.stat(path)
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def store_profile(store: Store, model: ModelConfig, profile: ReferenceProfile, source: str,
                  identity: dict[str, Any], now: float) -> ProfileRecord:
    """Store a profile (a new version only when its content changed)."""
    built_with = {"bins": model.drift.bins, "sample_size": model.drift.sample_size, "task": model.task,
                  "features": None if model.features is None else [[f.name, f.type] for f in model.features],
                  "file": identity}
    return store.save_profile(model.name, profile.to_bytes(), profile.content_hash(), source, built_with, now)


def resolve(config: Config, store: Store | None, now: float,
            on_built: Callable[[str], None] | None = None,
            build: Callable[[ModelConfig, str, Config], ReferenceProfile] = build_from_file,
            ) -> dict[str, tuple[ReferenceProfile, int | None]]:
    """Profiles ready at start-up, by model name, with their stored version.

    A model with a reference file reuses the newest stored profile when it was built from the same
    file (path, size, modification time) with the same settings; otherwise the file is read and the
    profile stored. A model with ``reference: {events: N}`` reuses its newest stored profile, or is
    left out (the pipeline builds it from the first N events).
    """
    out: dict[str, tuple[ReferenceProfile, int | None]] = {}
    for model in config.models:
        latest = store.latest_profile(model.name) if store is not None else None
        path = model.reference.path
        if path is None:
            if latest is not None:
                out[model.name] = (ReferenceProfile.from_bytes(latest.payload), latest.version)
            continue
        try:
            identity = file_identity(path)
        except OSError as exc:
            raise ProfileError(f"model {model.name!r}: reference file {path}: {exc.strerror}") from exc
        if latest is not None and _same_build(latest, model, identity):
            out[model.name] = (ReferenceProfile.from_bytes(latest.payload), latest.version)
            continue
        if on_built is not None:
            on_built(model.name)
        profile = build(model, path, config)
        version = store_profile(store, model, profile, str(path), identity, now).version if store else None
        out[model.name] = (profile, version)
    return out


def _same_build(record: ProfileRecord, model: ModelConfig, identity: dict[str, Any]) -> bool:
    built = record.config
    features = None if model.features is None else [[f.name, f.type] for f in model.features]
    return (built.get("file") == identity and built.get("bins") == model.drift.bins
            and built.get("sample_size") == model.drift.sample_size and built.get("features") == features
            and built.get("task") == model.task)
