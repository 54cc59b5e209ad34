"""dashboards/generate.py reproduces the committed dashboard JSON exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.dashboards.promql import DASHBOARD_FILES, DASHBOARDS, ROOT, load_dashboard, panels


def test_generate_reproduces_the_committed_json(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(DASHBOARDS / "generate.py"), "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for name in DASHBOARD_FILES:
        generated = (tmp_path / name).read_text(encoding="utf-8")
        committed = (DASHBOARDS / name).read_text(encoding="utf-8")
        assert generated == committed, f"dashboards/{name} is stale: run `make dashboards` and commit it"


def test_output_is_deterministic_and_importable(tmp_path: Path) -> None:
    for out in (tmp_path / "a", tmp_path / "b"):
        subprocess.run([sys.executable, str(DASHBOARDS / "generate.py"), "--out", str(out)], cwd=ROOT,
                       check=True, capture_output=True, timeout=120)
    for name in DASHBOARD_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        text = (tmp_path / "a" / name).read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_dashboards_use_the_datasource_variable_everywhere() -> None:
    for name in DASHBOARD_FILES:
        board = load_dashboard(name)
        assert board["uid"] and board["schemaVersion"] >= 39
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
        ids = [p["id"] for p in board["panels"]] + [p["id"] for p in panels(board) if p not in board["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for panel in panels(board):
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], f"{name}: panel {panel['title']!r} has no query"
            for target in panel["targets"]:
                assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
                assert target["expr"].strip(), panel["title"]


def test_model_dashboard_selects_its_model() -> None:
    board = load_dashboard("driftd-model.json")
    model = next(v for v in board["templating"]["list"] if v["name"] == "model")
    assert model["query"] == "label_values(driftd_window_events, model)"
    assert model["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    for panel in panels(board):
        for target in panel["targets"]:
            assert 'model="$model"' in target["expr"], (panel["title"], target["expr"])
