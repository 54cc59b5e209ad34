"""driftd's detectors next to Evidently, NannyML and plain scipy on one seeded workload (issue 7).

Prints figures, asserts nothing. Run it in its own virtualenv (`make bench` creates bench/.venv
from bench/requirements-peers.txt plus `pip install -e .`); the peers never enter the main .venv.

Workload (seeded, the same for every tool): a 1,000,000-row reference and a 100,000-row window
of 20 numeric and 5 categorical features; some numeric features shift in mean or scale, some
categorical ones change their frequencies (one gains a category the reference never saw), the
rest do not change (see FEATURES below). No value is missing.

Each tool judges the window in a fresh subprocess, so that its peak RSS is its own (read from
`os.wait4`'s ru_maxrss of that child; this parent imports nothing heavy, so the high-water mark a
child inherits from it at exec is negligible; the child's /proc VmHWM is printed alongside).
Only the judging is timed (wall and process CPU seconds; the median of --repeat runs for driftd
and scipy, of --peer-repeat runs for Evidently and NannyML, which take a minute each):

- driftd: ReferenceProfile.build on the reference ("fit"), then summarising the window
  (WindowSummary.update over the raw columns) plus detectors.compare with psi, ks, wasserstein,
  jensenshannon and chisquare ("judge");
- Evidently: Report([DataDriftPreset(method="psi")]) and Report([DataDriftPreset()]) (default
  methods), Dataset.from_pandas of both frames included in the judge time (it has no fit);
- NannyML: UnivariateDriftCalculator (continuous: kolmogorov_smirnov, wasserstein, jensen_shannon;
  categorical: chi2, jensen_shannon; one chunk = the whole window), fit and calculate timed apart;
- scipy: ks_2samp in a Python loop over the numeric features, on the full columns (the baseline).

Then an untimed check process computes docs/statistics.md reference computations directly with
numpy/scipy (PSI, JS and chi-square over the PSI bins of the full data; KS and Wasserstein on the
very samples driftd kept) and the tables put every tool's values side by side.

    bench/.venv/bin/python bench/peers.py [--reference-rows 1000000] [--window-rows 100000]
                                          [--repeat 5] [--peer-repeat 1]
"""

from __future__ import annotations

import os

# Before any peer library is imported, here and (inherited) in every child process.
os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"
os.environ["WHYLOGS_NO_ANALYTICS"] = "True"
os.environ["DO_NOT_TRACK"] = "1"             # Evidently's telemetry switch
os.environ["ITERATIVE_DO_NOT_TRACK"] = "1"   # iterative-telemetry, used by Evidently

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = 20251122
STATISTICS = ("psi", "ks", "wasserstein", "jensenshannon", "chisquare")

# name -> (reference distribution, what changes in the window). sd = the reference's std.
FEATURES: dict[str, tuple[str, str]] = {
    "n0": ("normal(0, 1)", "mean +0.02 sd"),
    "n1": ("normal(1, 1.1)", "mean +0.1 sd"),
    "n2": ("normal(2, 1.2)", "mean +0.25 sd"),
    "n3": ("normal(3, 1.3)", "mean +0.5 sd"),
    "n4": ("normal(4, 1.4)", "scale x1.05"),
    "n5": ("normal(5, 1.5)", "scale x1.2"),
    "n6": ("normal(6, 1.6)", "scale x1.5"),
    "n7": ("normal(7, 1.7)", "scale x2"),
    "n8": ("lognormal(0, 0.5)", "log-mean +0.1"),
    "n9": ("normal(9, 1.9)", "mean +0.2sd, x1.2"),
    "n10": ("normal(10, 2)", "-"),
    "n11": ("normal(11, 2.1)", "-"),
    "n12": ("normal(12, 2.2)", "-"),
    "n13": ("normal(13, 2.3)", "-"),
    "n14": ("normal(14, 2.4)", "-"),
    "n15": ("uniform(0, 1)", "-"),
    "n16": ("exponential(1)", "-"),
    "n17": ("lognormal(0, 1)", "-"),
    "n18": ("poisson(3) (ties)", "-"),
    "n19": ("poisson(3) (ties)", "rate 3 -> 3.3"),
    "c0": ("3 categories", "-"),
    "c1": ("5 categories", "-"),
    "c2": ("8 categories", "freq. +-1 pt"),
    "c3": ("12 categories", "freq. reversed"),
    "c4": ("20 categories", "freq. shifted + new (2%)"),
}
NUMERIC = [name for name in FEATURES if name.startswith("n")]
CATEGORICAL = [name for name in FEATURES if name.startswith("c")]
CATEGORY_COUNTS = {"c0": 3, "c1": 5, "c2": 8, "c3": 12, "c4": 20}


# ---------------------------------------------------------------------------------------------
# The workload: generated the same way (same seed) in every child, never timed.

def _numeric(rng: Any, name: str, n: int, window: bool) -> Any:
    import numpy as np

    i = int(name[1:])
    if i <= 7 or 9 <= i <= 14:  # normal(i, 1 + i/10)
        mean, sd = float(i), 1.0 + i / 10
        shift, scale = 0.0, 1.0
        if window:
            shift = {0: 0.02, 1: 0.1, 2: 0.25, 3: 0.5, 9: 0.2}.get(i, 0.0) * sd
            scale = {4: 1.05, 5: 1.2, 6: 1.5, 7: 2.0, 9: 1.2}.get(i, 1.0)
        return rng.normal(mean + shift, sd * scale, n)
    if i == 8:
        return rng.lognormal(0.1 if window else 0.0, 0.5, n)
    if i == 15:
        return rng.uniform(0.0, 1.0, n)
    if i == 16:
        return rng.exponential(1.0, n)
    if i == 17:
        return rng.lognormal(0.0, 1.0, n)
    if i == 18:
        return rng.poisson(3.0, n).astype(np.float64)
    return rng.poisson(3.3 if window else 3.0, n).astype(np.float64)  # n19


def _category_probabilities(name: str, window: bool) -> tuple[list[str], Any]:
    import numpy as np

    k = CATEGORY_COUNTS[name]
    labels = [f"{name}_{j}" for j in range(k)]
    p = np.arange(k, 0, -1, dtype=np.float64)  # a skewed but stable base distribution
    p /= p.sum()
    if window and name == "c2":
        p = p + np.where(np.arange(k) % 2 == 0, 0.01, -0.01)
    elif window and name == "c3":
        p = p[::-1].copy()
    elif window and name == "c4":
        p = np.sqrt(p) / np.sqrt(p).sum() * 0.98
        labels = labels + [f"{name}_new"]
        p = np.append(p, 0.02)
    return labels, p / p.sum()


def workload(reference_rows: int, window_rows: int) -> tuple[Any, dict[str, Any], Any, dict[str, Any]]:
    """(reference numeric matrix (features x rows), reference categorical columns, window matrix, window columns).

    Numeric values sit in one C-ordered (features x rows) float64 matrix, so both a dict of row
    views (driftd's input) and a DataFrame over its transpose (the peers' input) share one copy.
    Categorical columns are object arrays whose elements are the same few str objects.
    """
    import numpy as np

    rng = np.random.default_rng(SEED)
    out = []
    for rows, window in ((reference_rows, False), (window_rows, True)):
        matrix = np.empty((len(NUMERIC), rows), dtype=np.float64)
        for j, name in enumerate(NUMERIC):
            matrix[j] = _numeric(rng, name, rows, window)
        categorical = {}
        for name in CATEGORICAL:
            labels, p = _category_probabilities(name, window)
            codes = rng.choice(len(labels), size=rows, p=p)
            categorical[name] = np.array(labels, dtype=object)[codes]
        out.extend([matrix, categorical])
    return out[0], out[1], out[2], out[3]


def as_columns(matrix: Any, categorical: dict[str, Any]) -> dict[str, Any]:
    columns = {name: matrix[j] for j, name in enumerate(NUMERIC)}
    columns.update(categorical)
    return columns


def as_frame(matrix: Any, categorical: dict[str, Any]) -> Any:
    import pandas as pd

    frame = pd.DataFrame(matrix.T, columns=NUMERIC, copy=False)
    for name in CATEGORICAL:
        frame[name] = categorical[name]
    return frame


# ---------------------------------------------------------------------------------------------
# Children: one per tool, each writes one JSON document into the work directory.

def _mid(runs: list[float]) -> float:
    """The median run: robust to a noisy neighbour without favouring the luckiest run."""
    import statistics

    return float(statistics.median(runs))


class Data:
    """The workload as every child holds it: numeric rows shared by the column dict and the DataFrame."""

    def __init__(self, args: argparse.Namespace) -> None:
        ref, ref_cat, win, win_cat = workload(args.reference_rows, args.window_rows)
        self.ref_matrix, self.win_matrix = ref, win
        self.ref_categorical, self.win_categorical = ref_cat, win_cat
        self.ref_columns, self.win_columns = as_columns(ref, ref_cat), as_columns(win, win_cat)
        self.ref_frame, self.win_frame = as_frame(ref, ref_cat), as_frame(win, win_cat)


def child_workload(args: argparse.Namespace) -> dict[str, Any]:
    Data(args)
    return {}


def child_driftd(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from detectors.compare import compare
    from detectors.profile import ReferenceProfile

    data = Data(args)
    reference, window = data.ref_columns, data.win_columns
    kinds = {**{name: "numeric" for name in NUMERIC}, **{name: "categorical" for name in CATEGORICAL}}
    build, summarise, judge, cpu = [], [], [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        profile = ReferenceProfile.build(reference, kinds)
        build.append(time.perf_counter() - started)
    for _ in range(args.repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        summary = profile.window()
        summary.update(window, n=args.window_rows)
        middle = time.perf_counter()
        result = compare(profile, summary, STATISTICS)
        summarise.append(middle - started)
        judge.append(time.perf_counter() - middle)
        cpu.append(time.process_time() - cpu_started)
    values = {stat: dict(zip(result.columns, result.values[stat].tolist())) for stat in result.values}
    pvalues = {stat: dict(zip(result.columns, result.pvalues[stat].tolist())) for stat in result.pvalues}
    # The exact inputs of KS and Wasserstein, for the check process.
    np.savez(Path(args.work) / "driftd-samples.npz",
             **{f"ref/{name}": profile.sample_of(name) for name in NUMERIC},
             **{f"win/{name}": sample for name, sample in zip(NUMERIC, summary.samples)})
    return {"fit": _mid(build), "summarise": _mid(summarise), "compare": _mid(judge),
            "judge": _mid([s + c for s, c in zip(summarise, judge)]), "judge_cpu": _mid(cpu), "runs": args.repeat,
            "values": values, "pvalues": pvalues,
            "std": {name: float(profile.std[profile.layout.names.index(name)]) for name in NUMERIC},
            "sample_size": int(profile.sample_of(NUMERIC[0]).size), "reservoir": int(summary.samples[0].size)}


def child_scipy(args: argparse.Namespace) -> dict[str, Any]:
    from scipy.stats import ks_2samp

    data = Data(args)
    ref, win = data.ref_matrix, data.win_matrix
    runs, cpu = [], []
    for _ in range(args.repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        results = [ks_2samp(ref[j], win[j]) for j in range(len(NUMERIC))]
        runs.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return {"judge": _mid(runs), "judge_cpu": _mid(cpu), "runs": args.repeat,
            "values": {"ks": {n: float(r.statistic) for n, r in zip(NUMERIC, results)}},
            "pvalues": {"ks": {n: float(r.pvalue) for n, r in zip(NUMERIC, results)}}}


def _evidently(args: argparse.Namespace, method: str | None) -> dict[str, Any]:
    import evidently
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    data = Data(args)
    reference, window = data.ref_frame, data.win_frame
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    runs, cpu = [], []
    for _ in range(args.repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        ref_data = Dataset.from_pandas(reference, data_definition=definition)
        cur_data = Dataset.from_pandas(window, data_definition=definition)
        snapshot = Report([DataDriftPreset(method=method)]).run(current_data=cur_data, reference_data=ref_data)
        metrics = snapshot.dict()["metrics"]
        runs.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    values: dict[str, dict[str, float]] = {}
    for metric in metrics:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            values.setdefault(str(config.get("method")), {})[config["column"]] = float(metric["value"])
    return {"judge": _mid(runs), "judge_cpu": _mid(cpu), "runs": args.repeat, "values": values,
            "version": evidently.__version__}


def child_evidently_psi(args: argparse.Namespace) -> dict[str, Any]:
    return _evidently(args, "psi")


def child_evidently_default(args: argparse.Namespace) -> dict[str, Any]:
    return _evidently(args, None)


def child_nannyml(args: argparse.Namespace) -> dict[str, Any]:
    import nannyml
    from nannyml.drift.univariate import UnivariateDriftCalculator

    warnings.filterwarnings("ignore", message="The resulting number of chunks is too low")
    data = Data(args)
    reference, window = data.ref_frame, data.win_frame
    fit, calculate, cpu = [], [], []
    for _ in range(args.repeat):
        calculator = UnivariateDriftCalculator(
            column_names=NUMERIC + CATEGORICAL, treat_as_categorical=CATEGORICAL,
            continuous_methods=["kolmogorov_smirnov", "wasserstein", "jensen_shannon"],
            categorical_methods=["chi2", "jensen_shannon"], chunk_size=args.window_rows)
        started = time.perf_counter()
        calculator.fit(reference)
        middle, cpu_middle = time.perf_counter(), time.process_time()
        frame = calculator.calculate(window).filter(period="analysis").to_df()
        fit.append(middle - started)
        calculate.append(time.perf_counter() - middle)
        cpu.append(time.process_time() - cpu_middle)
    if len(frame) != 1:
        raise SystemExit(f"NannyML made {len(frame)} analysis chunks, expected 1")
    values: dict[str, dict[str, float]] = {}
    for column, method, field in frame.columns:
        if column != "chunk" and field == "value":
            values.setdefault(method, {})[column] = float(frame[(column, method, field)].iloc[0])
    return {"fit": _mid(fit), "judge": _mid(calculate), "judge_cpu": _mid(cpu), "runs": args.repeat, "values": values,
            "version": nannyml.__version__}


def child_check(args: argparse.Namespace) -> dict[str, Any]:
    """docs/statistics.md reference computations, straight from numpy and scipy (not timed)."""
    import numpy as np
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

    ref, ref_cat, win, win_cat = workload(args.reference_rows, args.window_rows)
    samples = np.load(Path(args.work) / "driftd-samples.npz")
    values: dict[str, dict[str, float]] = {key: {} for key in (
        "psi", "jensenshannon", "chisquare", "ks_same", "wasserstein_same", "wasserstein_full")}
    pvalues: dict[str, dict[str, float]] = {"chisquare": {}, "ks_same": {}}

    def psi(r: Any, c: Any) -> float:
        rp = np.maximum(r / r.sum(), 1e-4)
        cp = np.maximum(c / c.sum(), 1e-4)
        return float(np.sum((cp - rp) * np.log(cp / rp)))

    for j, name in enumerate(NUMERIC):
        r, c = ref[j], win[j]
        edges = np.unique(np.quantile(r, np.linspace(0, 1, 11))[1:-1])
        nbins = edges.size + 1
        r_counts = np.concatenate([[0], np.bincount(np.searchsorted(edges, r, side="right"), minlength=nbins)])
        c_counts = np.concatenate([[0], np.bincount(np.searchsorted(edges, c, side="right"), minlength=nbins)])
        values["psi"][name] = psi(r_counts, c_counts)
        values["jensenshannon"][name] = float(jensenshannon(r_counts, c_counts, base=2))
        std = float(np.std(r))
        values["wasserstein_full"][name] = float(wasserstein_distance(r, c)) / (std or 1.0)
        rs, cs = samples[f"ref/{name}"], samples[f"win/{name}"]
        test = ks_2samp(rs, cs)
        values["ks_same"][name], pvalues["ks_same"][name] = float(test.statistic), float(test.pvalue)
        values["wasserstein_same"][name] = float(wasserstein_distance(rs, cs)) / (std or 1.0)
    for name in CATEGORICAL:
        r, c = ref_cat[name], win_cat[name]
        labels, ref_counts = np.unique(r.astype(str), return_counts=True)
        known = dict(zip(labels.tolist(), ref_counts.tolist()))
        win_labels, win_counts = np.unique(c.astype(str), return_counts=True)
        seen = dict(zip(win_labels.tolist(), win_counts.tolist()))
        r_counts = np.array([0] + [known[k] for k in sorted(known)] + [0])  # missing, categories, unseen
        c_counts = np.array([0] + [seen.get(k, 0) for k in sorted(known)]
                            + [sum(v for k, v in seen.items() if k not in known)])
        values["psi"][name] = psi(r_counts, c_counts)
        values["jensenshannon"][name] = float(jensenshannon(r_counts, c_counts, base=2))
        table = np.vstack([r_counts, c_counts])
        table = table[:, table.sum(axis=0) > 0]
        stat, p, _, _ = chi2_contingency(table)
        values["chisquare"][name], pvalues["chisquare"][name] = float(stat), float(p)
    return {"values": values, "pvalues": pvalues}


CHILDREN: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "workload": child_workload,
    "scipy": child_scipy,
    "driftd": child_driftd,
    "evidently-psi": child_evidently_psi,
    "evidently-default": child_evidently_default,
    "nannyml": child_nannyml,
    "check": child_check,
}


def _vm_hwm_kb() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def run_child(args: argparse.Namespace) -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    result = CHILDREN[args.child](args)
    result["vm_hwm_kb"] = _vm_hwm_kb()
    with open(Path(args.work) / f"{args.child}.json", "w") as out:
        json.dump(result, out)


# ---------------------------------------------------------------------------------------------
# Parent: stdlib only, so the children's RSS is theirs.

PEERS = ("evidently-psi", "evidently-default", "nannyml")


def spawn(name: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--work", args.work,
           "--reference-rows", str(args.reference_rows), "--window-rows", str(args.window_rows),
           "--repeat", str(args.peer_repeat if name in PEERS else args.repeat)]
    log_path = Path(args.work) / f"{name}.log"
    started = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        sys.stderr.write(log_path.read_text()[-4000:])
        raise SystemExit(f"bench/peers.py: the {name} child failed (exit {process.returncode})")
    result: dict[str, Any] = json.loads((Path(args.work) / f"{name}.json").read_text())
    result["rss_mb"] = usage.ru_maxrss / 1024.0  # Linux: kilobytes
    result["wall"] = wall
    print(f"  {name:<18} done in {wall:6.1f}s wall", flush=True)
    return result


def fmt(value: float | None, spec: str = ".6g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def table(headers: list[str], rows: list[list[str]], title: str | None = None) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    left = {0} | ({len(headers) - 1} if headers[-1] == "note" else set())

    def render(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    line = render(headers).rstrip()
    print(line)
    print("-" * len(line))
    for row in rows:
        print(render(row).rstrip())


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("numpy", "scipy", "pandas", "evidently", "nannyml"):
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            found.append(f"{package} (not installed)")
    return ", ".join(found)


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def _mem_gib() -> str:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return "? GiB"


def report(args: argparse.Namespace, r: dict[str, dict[str, Any]]) -> None:
    print(f"\nmachine: {os.cpu_count()} cores ({_cpu()}), {_mem_gib()} RAM, python {platform.python_version()}; "
          f"{_versions()}")
    print(f"workload: reference {args.reference_rows:,} rows, window {args.window_rows:,} rows, "
          f"{len(NUMERIC)} numeric + {len(CATEGORICAL)} categorical features")
    print(f"times: median of {args.repeat} runs (driftd, scipy) / {args.peer_repeat} (Evidently, NannyML), "
          f"wall seconds of the judging only; the machine may be shared, so expect noise")
    base = r["workload"]["rss_mb"]
    d, s, ep, ed, nm = r["driftd"], r["scipy"], r["evidently-psi"], r["evidently-default"], r["nannyml"]

    def rss(x: dict[str, Any]) -> str:
        return f"{x['rss_mb']:.0f}"

    def over(x: dict[str, Any]) -> str:
        return f"{x['rss_mb'] - base:+.0f}"

    def hwm(x: dict[str, Any]) -> str:
        return f"{x['vm_hwm_kb'] / 1024:.0f}"

    def secs(x: dict[str, Any], key: str) -> str:
        return fmt(x.get(key), ".3f")

    rows = [
        ["workload only (generate + DataFrames)", "-", "-", "-", rss(r["workload"]), hwm(r["workload"]), "+0",
         "the data every child holds"],
        ["scipy ks_2samp loop (baseline)", "-", secs(s, "judge"), secs(s, "judge_cpu"), rss(s), hwm(s), over(s),
         "KS only, 20 numeric, full columns"],
        ["driftd detectors", secs(d, "fit"), secs(d, "judge"), secs(d, "judge_cpu"), rss(d), hwm(d), over(d),
         f"judge = summarise {d['summarise']:.3f} + compare {d['compare']:.3f}; 5 statistics"],
        ['Evidently DataDriftPreset(method="psi")', "-", secs(ep, "judge"), secs(ep, "judge_cpu"), rss(ep), hwm(ep),
         over(ep), "Dataset.from_pandas + Report.run"],
        ["Evidently DataDriftPreset() (defaults)", "-", secs(ed, "judge"), secs(ed, "judge_cpu"), rss(ed), hwm(ed),
         over(ed), "wasserstein (numeric), jensenshannon (categorical)"],
        ["NannyML UnivariateDriftCalculator", secs(nm, "fit"), secs(nm, "judge"), secs(nm, "judge_cpu"), rss(nm),
         hwm(nm), over(nm), "ks, wasserstein, js / chi2, js; 1 chunk"],
    ]
    table(["tool", "fit/build s", "judge s", "judge CPU s", "peak RSS MB", "VmHWM MB", "vs workload", "note"], rows,
          "Timing and memory (each tool in its own process; peak RSS = ru_maxrss of that child from os.wait4, "
          "VmHWM = the child's own /proc high-water mark)")

    check = r["check"]
    cv, cp = check["values"], check["pvalues"]
    ev_psi = ep["values"].get("psi", {})
    ev_w = ed["values"].get("Wasserstein distance (normed)", {})
    ev_js = ed["values"].get("Jensen-Shannon distance", {})
    nm_v = nm["values"]
    dv, dp = d["values"], d["pvalues"]
    std_of = d["std"]

    rows = []
    for name in NUMERIC:
        rows.append([name, FEATURES[name][1], fmt(s["values"]["ks"][name]), fmt(cv["ks_same"][name]),
                     fmt(dv["ks"][name]), fmt(nm_v["kolmogorov_smirnov"][name]),
                     fmt(cp["ks_same"][name], ".3g"), fmt(dp["ks"][name], ".3g")])
    table(["feature", "window", "scipy full", "scipy same", "driftd", "NannyML", "p scipy same", "p driftd"], rows,
          f"KS statistic (scipy full = ks_2samp on all {args.reference_rows:,} x {args.window_rows:,} values; "
          "scipy same = ks_2samp on driftd's reference sample and window reservoir)")

    rows = []
    for name in NUMERIC:
        nm_w = nm_v["wasserstein"][name]
        rows.append([name, FEATURES[name][1], fmt(cv["wasserstein_full"][name]), fmt(cv["wasserstein_same"][name]),
                     fmt(dv["wasserstein"][name]), fmt(ev_w.get(name)), fmt(nm_w / std_of[name]), fmt(nm_w)])
    table(["feature", "window", "scipy full", "scipy same", "driftd", "Evidently", "NannyML/std", "NannyML raw"],
          rows, "Wasserstein / np.std(reference) (Evidently default method: normed the same way; NannyML: not "
                "normed, shown raw and divided by the reference std)")

    rows = []
    for name in NUMERIC + CATEGORICAL:
        rows.append([name, FEATURES[name][1], fmt(cv["psi"][name]), fmt(dv["psi"][name]), fmt(ev_psi.get(name))])
    table(["feature", "window", "numpy §3", "driftd", "Evidently"], rows,
          "PSI (numpy §3 = docs/statistics.md written directly in numpy: reference deciles, missing bin, floor 1e-4)")

    rows = []
    for name in NUMERIC + CATEGORICAL:
        nm_js = nm_v["jensen_shannon"].get(name)
        rows.append([name, FEATURES[name][1], fmt(cv["jensenshannon"][name]), fmt(dv["jensenshannon"][name]),
                     fmt(nm_js), fmt(ev_js.get(name))])
    table(["feature", "window", "scipy", "driftd", "NannyML", "Evidently"], rows,
          "Jensen-Shannon distance (scipy = jensenshannon(base=2) on the PSI bins' counts; NannyML: base 2 on "
          "its own bins; Evidently: natural log, categorical only by default)")

    rows = []
    for name in CATEGORICAL:
        rows.append([name, FEATURES[name][1], fmt(cv["chisquare"][name]), fmt(dv["chisquare"][name]),
                     fmt(nm_v["chi2"][name]), fmt(cp["chisquare"][name], ".3g"), fmt(dp["chisquare"][name], ".3g")])
    table(["feature", "window", "scipy", "driftd", "NannyML", "p scipy", "p driftd"], rows,
          "Chi-square statistic (scipy = chi2_contingency on the 2 x k table over the PSI bins)")

    print("\nHeadline")
    print(f"  driftd judge {d['judge']:.3f}s (summarise {d['summarise']:.3f}s + compare {d['compare']:.3f}s)")
    for label, other in (('Evidently DataDriftPreset(method="psi")', ep), ("Evidently DataDriftPreset()", ed)):
        print(f"  vs {label}: {other['judge'] / d['judge']:,.0f}x faster (target >= 100x); "
              f"compare alone {other['judge'] / d['compare']:,.0f}x")
    print(f"  vs NannyML calculate: {nm['judge'] / d['judge']:,.1f}x faster (target: faster); "
          f"build vs NannyML fit: {nm['fit'] / d['fit']:,.1f}x")
    print(f"  vs the scipy ks_2samp loop: {s['judge'] / d['judge']:,.1f}x (driftd does 5 statistics on 25 features)")

    def max_diff(ours: dict[str, float], theirs: dict[str, float]) -> float:
        return max(abs(ours[k] - theirs[k]) for k in theirs)

    diffs = [
        ("psi", max_diff(dv["psi"], cv["psi"]), "vs numpy, full data"),
        ("ks statistic", max_diff(dv["ks"], cv["ks_same"]), "vs ks_2samp, same samples"),
        ("ks p-value", max_diff(dp["ks"], cp["ks_same"]), "vs ks_2samp, same samples"),
        ("wasserstein", max_diff(dv["wasserstein"], cv["wasserstein_same"]),
         "vs wasserstein_distance / np.std, same samples"),
        ("jensenshannon", max_diff(dv["jensenshannon"], cv["jensenshannon"]), "vs jensenshannon(base=2), full data"),
        ("chisquare statistic", max_diff(dv["chisquare"], cv["chisquare"]), "vs chi2_contingency, full data"),
        ("chisquare p-value", max_diff(dp["chisquare"], cp["chisquare"]), "vs chi2_contingency, full data"),
    ]
    print("  max |driftd - scipy/numpy| per statistic (target ~1e-9):")
    for label, value, how in diffs:
        print(f"    {label:<20} {value:.2e}  ({how})")
    print(f"  sampling (docs/statistics.md defaults): reference sample {d['sample_size']:,} of {args.reference_rows:,} "
          f"values, window reservoir {d['reservoir']:,}; max |driftd ks - scipy full| = "
          f"{max_diff(dv['ks'], s['values']['ks']):.2e}, max |driftd wasserstein - scipy full| = "
          f"{max_diff(dv['wasserstein'], cv['wasserstein_full']):.2e}")
    print(f"  Evidently default wasserstein vs scipy full / np.std: max diff "
          f"{max_diff({k: ev_w[k] for k in NUMERIC if k in ev_w}, {k: cv['wasserstein_full'][k] for k in ev_w}):.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-rows", type=int, default=1_000_000)
    parser.add_argument("--window-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed runs of driftd and the scipy loop (the median is reported)")
    parser.add_argument("--peer-repeat", type=int, default=1,
                        help="timed runs of Evidently and NannyML (a minute each at the default sizes)")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return
    with tempfile.TemporaryDirectory(prefix="driftd-peers-") as work:
        args.work = work
        print(f"bench/peers.py: {args.reference_rows:,}-row reference, {args.window_rows:,}-row window, "
              f"each tool in its own process ({sys.executable})", flush=True)
        results = {name: spawn(name, args) for name in
                   ("workload", "scipy", "driftd", "check", "evidently-psi", "evidently-default", "nannyml")}
        report(args, results)


if __name__ == "__main__":
    main()
