"""Benchmark of the core path (issue 3): prints figures, asserts nothing.

1. decode + window throughput over 1 M generated events (20 numeric + 5 categorical features),
   in process, chunked as `driftd replay` reads a file;
2. `driftd replay --dry-run` end to end as a subprocess, with its peak RSS, at 100 k and 1 M events
   (RSS should not depend on the number of events);
3. the time to judge one 100 k-event window against a profile of a 1 M-row reference.

    .venv/bin/python bench/replay.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NUMERIC = [f"n{i}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
START = 1763798400.0


def reference_table(rows: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    table: dict[str, np.ndarray] = {name: rng.normal(i, 1 + i / 10, rows) for i, name in enumerate(NUMERIC)}
    for i, name in enumerate(CATEGORICAL):
        table[name] = rng.choice([f"v{k}" for k in range(5 + i)], rows).astype(object)
    table["prediction"] = rng.random(rows)
    return table


def write_events(path: Path, n: int, per_hour: int, seed: int = 2) -> None:
    """n prediction events; a third of the numeric features shift in the second half."""
    rng = np.random.default_rng(seed)
    encoder = msgspec.json.Encoder()
    block = 50_000
    with open(path, "wb") as out:
        for first in range(0, n, block):
            m = min(block, n - first)
            idx = np.arange(first, first + m)
            shifted = idx >= n // 2
            num = {name: rng.normal(i, 1 + i / 10, m) + np.where(shifted & (i % 3 == 0), 0.5, 0.0)
                   for i, name in enumerate(NUMERIC)}
            cat = {name: rng.choice([f"v{k}" for k in range(5 + i)], m) for i, name in enumerate(CATEGORICAL)}
            ts = START + idx * (3600.0 / per_hour)
            pred = rng.random(m)
            lines = []
            for j in range(m):
                features: dict[str, object] = {name: float(col[j]) for name, col in num.items()}
                features.update({name: str(col[j]) for name, col in cat.items()})
                lines.append(encoder.encode({"model": "bench", "timestamp": float(ts[j]),
                                             "prediction_id": str(first + j), "features": features,
                                             "prediction": float(pred[j])}))
            out.write(b"\n".join(lines) + b"\n")


def write_config(path: Path, reference: Path) -> None:
    path.write_text(f"""
storage: {{url: "sqlite:///{path.parent}/bench.db"}}
models:
  - name: bench
    task: binary_classification
    reference: {{path: {reference}}}
    window: {{size: 1h, min_events: 100}}
    drift: {{statistics: [psi, ks, wasserstein, jensenshannon, chisquare], rules: {{psi: 0.2}}}}
""")


def decode_and_window(config_path: Path, events: Path) -> tuple[int, float]:
    """Events/s through decode + window exactly as `driftd replay` runs them (file read included)."""
    from monitor.config import load_config
    from monitor.replay import _decoder, chunks
    from monitor.store.profiles import resolve
    from monitor.windows.pipeline import Pipeline

    config = load_config(config_path)
    pipeline = Pipeline(config, resolve(config, None, time.time()))
    n = 0
    now = 0.0
    started = time.perf_counter()
    decoder = _decoder(config, pipeline)
    with open(events, "rb") as stream:
        for lines, _ in chunks(stream):
            records = decoder.decode(lines).records
            now = max(now, float(records.timestamp.max()))
            pipeline.feed(records, "bench", now)
            pipeline.tick(now)
            n += len(records)
    return n, time.perf_counter() - started


def replay_subprocess(config_path: Path, events: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `driftd replay --dry-run` run."""
    cmd = ["/usr/bin/env", str(ROOT / ".venv/bin/python"), "-c",
           "import resource, sys; from monitor.cli import main; code = main(sys.argv[1:]); "
           "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)",
           "--log-level", "WARNING", "replay", "-c", str(config_path), "--input", str(events), "--dry-run",
           "--json", "--no-progress"]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"replay failed: {done.stderr}")
    json.loads(done.stdout)
    rss_kb = int(done.stderr.strip().splitlines()[-1])
    return seconds, rss_kb / 1024.0


def judge_time(reference_rows: int, window_events: int) -> float:
    from detectors.profile import ReferenceProfile
    from monitor.judge.verdict import DriftRules, judge
    from monitor.windows.tumbling import ClosedWindow

    table = reference_table(reference_rows)
    kinds = {**{n: "numeric" for n in NUMERIC}, **{c: "categorical" for c in CATEGORICAL}}
    profile = ReferenceProfile.build({k: table[k] for k in kinds}, kinds)
    window_table = reference_table(window_events, seed=9)
    summary = profile.window()
    summary.update({k: window_table[k] for k in kinds}, n=window_events)
    closed = ClosedWindow("bench", 0.0, 3600.0, summary, None, "bench")
    rules = DriftRules(("psi", "ks", "wasserstein", "jensenshannon", "chisquare"), {"psi": 0.2}, 0.5)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        judge(closed, profile, 1, rules)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        reference = work / "reference.parquet"
        pd.DataFrame(reference_table(200_000)).to_parquet(reference)
        config = work / "bench.yaml"
        write_config(config, reference)
        print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, numpy {np.__version__}")
        big, small = work / "events.jsonl", work / "events-small.jsonl"
        started = time.perf_counter()
        write_events(big, args.events, per_hour=100_000)
        write_events(small, args.events // 10, per_hour=100_000)
        print(f"generated {args.events:,} events ({big.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - started:.1f}s")

        n, seconds = decode_and_window(config, big)
        print(f"read + decode + window, as `driftd replay` runs them: {n:,} events in {seconds:.2f}s = "
              f"{n / seconds:,.0f} events/s (target >= 200,000)")
        for events, path in ((args.events // 10, small), (args.events, big)):
            seconds, rss_mb = replay_subprocess(config, path)
            print(f"driftd replay --dry-run, {events:,} events: {seconds:.2f}s wall "
                  f"({events / seconds:,.0f} events/s incl. start-up, profile build, judging), "
                  f"peak RSS {rss_mb:.0f} MB")
        print(f"judge one 100k-event window vs a 1M-row reference (25 features, 5 statistics): "
              f"{judge_time(1_000_000, 100_000) * 1000:.0f} ms (target < 200 ms)")


if __name__ == "__main__":
    main()
