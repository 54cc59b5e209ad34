"""What a demo run is given: its fixed settings, the user's :class:`DemoOptions`, and :class:`DemoError`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.errors import DriftdError

MODEL = "churn"
TOPICS = {"predictions": ("churn.predictions", 3), "labels": ("churn.labels", 1)}
"""Topic kind -> (name, partitions)."""
LABEL_SHARE, LABEL_DELAY_S = 0.5, 3.0
TICK_S = 0.1
ACCURACY_FLOOR = 0.6
PERFORMANCE_METRICS = ("accuracy", "roc_auc")
BROKER_READY_S, DAEMON_READY_S, STOP_WAIT_S, DELIVERY_WAIT_S = 20.0, 90.0, 20.0, 5.0
INSTALL_HINT = "pip install 'driftd[demo]'"


class DemoError(DriftdError):
    """The demo cannot start or keep running (missing broker, a part that died)."""


@dataclass(frozen=True)
class DemoOptions:
    """What ``driftd demo`` was asked for; times in seconds."""

    duration_s: float | None = None
    workdir: Path | None = None
    rate: float = 200.0
    drift_after_s: float = 60.0
    window_s: int = 20
    seed: int = 7

    def __post_init__(self) -> None:
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f"--duration: expected seconds > 0, got {self.duration_s:g}")
        if not 1 <= self.rate <= 5000:
            raise ValueError(f"--rate: expected predictions per second between 1 and 5000, got {self.rate:g}")
        if not self.drift_after_s >= 0:
            raise ValueError(f"--drift-after: expected seconds >= 0, got {self.drift_after_s:g}")
        if not 5 <= self.window_s <= 3600:
            raise ValueError(f"--window: expected whole seconds between 5 and 3600, got {self.window_s}")

    @property
    def min_events(self) -> int:
        """A window needs a quarter of a full window's events to be judged."""
        return max(50, int(self.rate * self.window_s / 4))
