"""Reference files -> profiles: CSV, Parquet and JSONL read alike; kinds inferred or configured; stored versioned."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from detectors.profile import ReferenceProfile
from monitor.cli import main
from monitor.errors import ProfileError
from monitor.reference.build import build_profile, read_table
from monitor.store import Store

FRAME = pd.DataFrame({
    "age": [41.0, 35.5, None, 60.0, 22.0, 41.0],
    "plan": ["gold", "silver", "gold", None, "bronze", "gold"],
    "visits": [3, 1, 4, 1, 5, 9],
    "vip": [True, False, True, True, False, False],
    "prediction": [0.9, 0.1, 0.8, 0.3, 0.2, 0.6],
    "label": [1, 0, 1, 0, 0, 1],
})


def write(tmp_path, fmt: str):
    path = tmp_path / f"reference.{fmt}"
    if fmt == "csv":
        FRAME.to_csv(path, index=False)
    elif fmt == "parquet":
        FRAME.to_parquet(path)
    else:
        path.write_text("\n".join(json.dumps({k: (None if pd.isna(v) else v) for k, v in row.items()})
                                  for row in FRAME.astype(object).to_dict("records")))
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_every_format_gives_the_same_profile(tmp_path, fmt):
    profile = build_profile(read_table(write(tmp_path, fmt)), None, "binary_classification", source=fmt)
    assert profile.layout.names == ("age", "plan", "visits", "vip", "prediction")
    assert [c.kind for c in profile.layout.columns] == ["numeric", "categorical", "numeric", "categorical", "numeric"]
    assert profile.layout.columns[1].vocab.categories == ("gold", "bronze", "silver")
    assert profile.layout.columns[3].vocab.categories == ("false", "true")
    assert profile.counts[0, 0] == 1 and profile.counts[1, 0] == 1
    reference = build_profile(read_table(write(tmp_path, "csv")), None, "binary_classification", source="csv")
    assert profile.content_hash() == reference.content_hash()


def test_configured_features_pick_and_type_columns(tmp_path):
    table = read_table(write(tmp_path, "csv"))
    profile = build_profile(table, [("visits", "categorical"), ("age", "numeric")], "regression", source="x")
    assert profile.layout.names == ("visits", "age", "prediction")
    assert profile.layout.columns[0].vocab.categories == ("1", "3", "4", "5", "9")


def test_problems_name_the_file_and_column(tmp_path):
    path = write(tmp_path, "csv")
    with pytest.raises(ProfileError, match=r"reference\.csv.*\['tenure'\] not found"):
        build_profile(read_table(path), [("tenure", "numeric")], "regression", source=str(path))
    with pytest.raises(ProfileError, match="cannot tell the format"):
        read_table(tmp_path / "reference.txt")
    with pytest.raises(ProfileError, match="no such file"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("age,plan\n")
    with pytest.raises(ProfileError, match="has no rows"):
        read_table(tmp_path / "empty.csv")


def test_reference_build_command_stores_versions(tmp_path, capsys, store_url):
    data = write(tmp_path, "parquet")
    config = tmp_path / "driftd.yaml"
    config.write_text(f"""
storage: {{url: "{store_url}"}}
models:
  - {{name: churn, task: binary_classification, reference: {{path: {data}}}, window: {{size: 1h}}}}
""")
    args = ["reference", "build", "-c", str(config), "--model", "churn", "--data", str(data)]
    assert main(args) == 0
    assert "stored reference churn@1 (6 rows, 5 columns" in capsys.readouterr().out
    assert main(args) == 0                                   # same content: same version
    assert "churn@1" in capsys.readouterr().out
    other = tmp_path / "other.csv"
    FRAME.assign(age=FRAME.age + 5).to_csv(other, index=False)
    assert main([*args[:-1], str(other)]) == 0
    assert "churn@2" in capsys.readouterr().out
    with Store.open(store_url) as store:
        latest = store.latest_profile("churn")
        assert latest.version == 2 and latest.source == str(other)
        profile = ReferenceProfile.from_bytes(latest.payload)
        assert latest.content_hash == profile.content_hash()
        assert np.isclose(profile.mean[0], FRAME.age.mean() + 5)
    assert main([*args[:4], "--model", "nope", "--data", str(data)]) == 2
    assert "nope" in capsys.readouterr().err
