"""Seeded synthetic traffic for a churn model whose inputs drift after a while (demo, samples, benchmarks).

Before ``drift_at`` the events follow the reference distribution; from then on ``age`` shifts up,
``plan`` moves towards ``bronze``, and the labels stop following the score (performance drops).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

PLANS = ("gold", "silver", "bronze")
REGIONS = ("north", "south", "east", "west")


@dataclass(frozen=True)
class ChurnTraffic:
    """Generator of reference rows and live messages for the ``churn`` model."""

    seed: int = 7
    model: str = "churn"
    model_version: str = "7"

    def _features(self, rng: np.random.Generator, n: int, drifted: bool) -> dict[str, np.ndarray]:
        age = rng.normal(48.0 if drifted else 40.0, 10.0, n).round(1)
        tenure = rng.exponential(24.0, n).round(1)
        spend = rng.lognormal(3.5, 0.4, n).round(2)
        plan_p = (0.15, 0.25, 0.6) if drifted else (0.3, 0.4, 0.3)
        plan = rng.choice(PLANS, n, p=plan_p)
        region = rng.choice(REGIONS, n)
        tenure[rng.random(n) < 0.02] = np.nan  # some missing values: data, not errors
        return {"age": age, "tenure": tenure, "monthly_charges": spend, "plan": plan, "region": region}

    @staticmethod
    def _score(f: dict[str, np.ndarray]) -> np.ndarray:
        tenure = np.nan_to_num(f["tenure"], nan=24.0)
        z = -1.0 + 0.04 * (f["age"] - 40.0) - 0.03 * (tenure - 24.0) + 0.6 * (f["plan"] == "bronze")
        return 1.0 / (1.0 + np.exp(-z))

    def reference(self, n: int = 5000) -> dict[str, np.ndarray]:
        """Reference rows: features, the model's score as ``prediction``, and ``label``."""
        rng = np.random.default_rng(self.seed)
        f = self._features(rng, n, drifted=False)
        score = self._score(f)
        return {**f, "prediction": score.round(4), "label": (rng.random(n) < score).astype(int)}

    def messages(self, start: float, seconds: float, per_second: float, drift_at: float,
                 label_share: float = 0.5, label_delay_s: float = 600.0) -> Iterator[dict[str, object]]:
        """Prediction messages in time order, then label messages for ``label_share`` of them, delayed."""
        rng = np.random.default_rng(self.seed + 1)
        n = int(seconds * per_second)
        stamps = start + np.sort(rng.random(n)) * seconds
        drifted = stamps >= drift_at
        f = self._features(rng, n, drifted=False)
        g = self._features(rng, n, drifted=True)
        f = {k: np.where(drifted, g[k], v) for k, v in f.items()}
        score = self._score(f)
        truth = np.where(drifted, rng.random(n) < 0.5, rng.random(n) < score).astype(int)
        labelled = rng.random(n) < label_share
        for i in range(n):
            features = {k: (None if isinstance(v[i], float) and np.isnan(v[i]) else v[i].item()) for k, v in f.items()}
            yield {"model": self.model, "model_version": self.model_version, "prediction_id": f"p{i}",
                   "timestamp": round(float(stamps[i]), 3), "features": features,
                   "prediction": round(float(score[i]), 4)}
        for i in np.flatnonzero(labelled).tolist():
            yield {"model": self.model, "prediction_id": f"p{i}", "timestamp": round(float(stamps[i]) + label_delay_s, 3),
                   "label": int(truth[i])}


def write_reference_csv(path: str, traffic: ChurnTraffic, n: int = 5000) -> None:
    """Write the reference rows as CSV."""
    import pandas as pd

    pd.DataFrame(traffic.reference(n)).to_csv(path, index=False)
