"""`driftd replay` end to end: the bundled drifting sample, values checked against scipy, stored on both databases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from monitor.cli import main
from monitor.config import load_config
from monitor.store import Store
from tests.fixtures.paths import ROOT

SAMPLE = ROOT / "config" / "sample.yaml"
EVENTS = ROOT / "config" / "data" / "churn_events.jsonl"
REFERENCE = ROOT / "config" / "data" / "churn_reference.csv"


def write_config(tmp_path: Path, url: str, extra: str = "", window: str = "{size: 1h, allowed_lateness: 5m, min_events: 200}",
                 reference: str | None = None) -> Path:
    shutil.copy(REFERENCE, tmp_path / "reference.csv")
    path = tmp_path / "driftd.yaml"
    path.write_text(f"""
storage: {{url: "{url}"}}
models:
  - name: churn
    task: binary_classification
    reference: {reference or '{path: reference.csv}'}
    window: {window}
    drift:
      statistics: [psi, ks, wasserstein, jensenshannon, chisquare]
      rules: {{psi: 0.2, chisquare: 0.001}}
      drift_share: 0.3
      critical_features: [age]
    performance: {{metrics: [accuracy, f1, roc_auc, brier], min_labels: 50}}
{extra}""")
    return path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def replay_json(capsys, config: Path, *flags: str) -> dict:
    code, out, err = run(capsys, "--log-level", "WARNING", "replay", "-c", str(config), "--input", str(EVENTS),
                         "--json", "--no-progress", *flags)
    assert code == 0, err
    return json.loads(out)


def events_by_hour() -> dict[float, list[dict]]:
    windows: dict[float, list[dict]] = {}
    for line in EVENTS.read_bytes().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("model") != "churn" or "features" not in event:
            continue
        if not isinstance(event.get("timestamp"), (int, float)) or "prediction" not in event:
            continue
        windows.setdefault(np.floor(event["timestamp"] / 3600) * 3600, []).append(event)
    return windows


def contract_psi(ref: np.ndarray, cur: np.ndarray) -> float:
    """docs/statistics.md PSI, written out independently: decile edges, missing bin, 1e-4 floor."""
    ref_ok, cur_ok = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    edges = np.unique(np.quantile(ref_ok, np.linspace(0, 1, 11))[1:-1])
    r = np.append(np.bincount(np.searchsorted(edges, ref_ok, side="right"), minlength=edges.size + 1), ref.size - ref_ok.size)
    c = np.append(np.bincount(np.searchsorted(edges, cur_ok, side="right"), minlength=edges.size + 1), cur.size - cur_ok.size)
    rp, cp = np.maximum(r / r.sum(), 1e-4), np.maximum(c / c.sum(), 1e-4)
    return float(np.sum((cp - rp) * np.log(cp / rp)))


def test_replay_shows_which_windows_drift_and_why(capsys, tmp_path):
    doc = replay_json(capsys, write_config(tmp_path, f"sqlite:///{tmp_path}/d.db"), "--dry-run")
    (model,) = doc["models"]
    windows = model["windows"]
    assert [w["start"] for w in windows] == [f"2025-11-22T{h:02d}:00:00Z" for h in (13, 12, 11, 10, 9, 8)]
    assert all(w["judged"] for w in windows)
    assert [w["drifted"] for w in windows] == [True, True, True, False, False, False]
    newest = windows[0]
    assert newest["features"]["age"]["drifted"] and any(r["feature"] == "age" for r in newest["reasons"])
    assert newest["prediction"]["psi"] > 0.0
    # labels stop following the score after the drift: performance drops
    assert windows[-1]["performance"]["roc_auc"] > 0.6 and newest["performance"]["roc_auc"] < 0.6
    assert doc["rejected"] == {"bad_timestamp": 1, "missing_field": 1, "not_json": 2, "not_object": 1, "unknown_model": 1}
    assert sum(w["events"] for w in windows) == sum(len(v) for v in events_by_hour().values())


def test_replayed_values_equal_scipy_on_the_same_events(capsys, tmp_path):
    import pandas as pd

    doc = replay_json(capsys, write_config(tmp_path, f"sqlite:///{tmp_path}/d.db"), "--dry-run")
    reference = pd.read_csv(REFERENCE)
    by_hour = events_by_hour()
    for window in doc["models"][0]["windows"]:
        start = pd.Timestamp(window["start"]).timestamp()
        events = by_hour[start]
        assert window["events"] == len(events)
        for name in ("age", "tenure", "monthly_charges"):
            ref = reference[name].to_numpy(dtype=float)
            cur = np.array([np.nan if e["features"][name] is None else e["features"][name] for e in events])
            got = window["features"][name]
            ks = stats.ks_2samp(ref[np.isfinite(ref)], cur[np.isfinite(cur)])
            assert got["psi"] == pytest.approx(contract_psi(ref, cur), rel=1e-9, abs=1e-12)
            assert got["ks"] == pytest.approx(ks.statistic, rel=1e-9)
            assert got["ks_pvalue"] == pytest.approx(ks.pvalue, rel=1e-9, abs=1e-300)
            wd = stats.wasserstein_distance(ref[np.isfinite(ref)], cur[np.isfinite(cur)]) / np.std(ref[np.isfinite(ref)])
            assert got["wasserstein"] == pytest.approx(wd, rel=1e-9)
            assert got["missing_ratio"] == pytest.approx(np.mean(~np.isfinite(cur)))
        for name in ("plan", "region"):
            categories = sorted(set(reference[name]), key=lambda c: (-int((reference[name] == c).sum()), c))
            r = np.array([(reference[name] == c).sum() for c in categories] + [0])
            values = [e["features"][name] for e in events]
            c = np.array([values.count(k) for k in categories] + [sum(v not in categories for v in values)])
            table = np.vstack([r, c])
            table = table[:, table.sum(axis=0) > 0]
            chi = stats.chi2_contingency(table)
            got = window["features"][name]
            assert got["chisquare"] == pytest.approx(chi.statistic, rel=1e-9)
            assert got["chisquare_pvalue"] == pytest.approx(chi.pvalue, rel=1e-9, abs=1e-300)
            assert got["jensenshannon"] == pytest.approx(distance.jensenshannon(r, c, base=2), rel=1e-9)


def test_replay_stores_windows_and_status_reads_them(capsys, tmp_path, store_url):
    config = write_config(tmp_path, store_url)
    replayed = replay_json(capsys, config)
    code, out, err = run(capsys, "status", "-c", str(config), "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["models"][0]["windows"] == [
        {k: v for k, v in w.items()} for w in replayed["models"][0]["windows"]]
    code, out, _ = run(capsys, "status", "-c", str(config), "--limit", "2")
    assert code == 0 and "model churn: 2 window(s)" in out and "DRIFT" in out
    with Store.open(store_url) as store:
        assert store.latest_profile("churn").version == 1
        assert len(store.list_windows("churn")) == 6
    replay_json(capsys, config)  # replaying again replaces the same windows: no duplicates
    with Store.open(store_url) as store:
        assert len(store.list_windows("churn")) == 6 and store.latest_profile("churn").version == 1


def test_dry_run_stores_nothing(capsys, tmp_path):
    replay_json(capsys, write_config(tmp_path, f"sqlite:///{tmp_path}/d.db"), "--dry-run")
    assert not (tmp_path / "d.db").exists()


def test_count_windows_and_a_reference_from_the_first_events(capsys, tmp_path):
    config = write_config(tmp_path, f"sqlite:///{tmp_path}/d.db", window="{events: 1000, min_events: 500}",
                          reference="{events: 1500}")
    doc = replay_json(capsys, config, "--dry-run")
    windows = doc["models"][0]["windows"]
    predictions = sum(len(v) for v in events_by_hour().values())
    assert sum(w["events"] for w in windows) == predictions - 1500
    assert [w["events"] for w in windows][1:] == [1000] * (len(windows) - 1)
    assert windows[0]["drifted"] is True and windows[-1]["drifted"] is False


def test_table_output_and_summary_line(capsys, tmp_path):
    code, out, err = run(capsys, "replay", "-c", str(write_config(tmp_path, f"sqlite:///{tmp_path}/d.db")),
                         "--input", str(EVENTS), "--dry-run", "--no-progress")
    assert code == 0, err
    assert "model churn: 6 window(s)" in out and "age psi=" in out
    assert "rejected: bad_timestamp=1, missing_field=1, not_json=2" in out and "dry run: nothing stored" in out


def test_bad_config_and_missing_input_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [{name: m, task: nope}]\n")
    code, _, err = run(capsys, "replay", "-c", str(bad), "--input", str(EVENTS))
    assert code == 2 and "models[0].task" in err
    code, _, err = run(capsys, "replay", "-c", str(write_config(tmp_path, "sqlite:///x.db")), "--input", "nope.jsonl")
    assert code == 2 and "no such file" in err


def test_sample_config_loads():
    assert load_config(SAMPLE).models[0].name == "churn"
