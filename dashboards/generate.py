"""Build driftd's Grafana dashboards as code (grafana-foundation-sdk) and write their JSON.

Two dashboards, both on a Prometheus data source chosen by the ``datasource`` variable, so
the JSON imports into any Grafana:

- ``driftd-overview.json``: every model at once: drifted models, drift share, alerts, events
  consumed / rejected / late, consumer lag, batch time, label joins, webhook backlog.
- ``driftd-model.json``: one model (variable ``model``): per-feature drift statistics with the
  rule thresholds drawn in, p-values, missing ratios, prediction drift, performance, windows.

Every query uses only the metrics of docs/metrics.md (tests/dashboards checks it, and runs every
query against a real Prometheus scraping a real daemon). Drift thresholds are configuration,
not metrics: the panels draw the defaults (``psi: 0.2``, ``drift_share: 0.5``, a p-value of
0.01, ``accuracy`` below 0.8) as Grafana thresholds; edit ``THRESHOLDS`` to match your rules.

The output is deterministic (fixed panel ids, sorted keys), so the generated JSON is committed
and a test regenerates it to prove it is current::

    python dashboards/generate.py            # writes next to this file
    python dashboards/generate.py --out DIR  # writes into DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.builders import stat
from grafana_foundation_sdk.builders import statetimeline
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dash

HERE = Path(__file__).resolve().parent

OVERVIEW_FILE = "driftd-overview.json"
MODEL_FILE = "driftd-model.json"

DATASOURCE = dash.DataSourceRef(type_val="prometheus", uid="${datasource}")
"""Every panel and query reads from the data source picked in the ``datasource`` variable."""

MODEL = 'model="$model"'
"""The label matcher of the model dashboard's queries."""

THRESHOLDS = {
    "psi": 0.2,            # drift.rules default (docs/configuration.md)
    "psi_moderate": 0.1,   # the usual "moderate shift" band of PSI
    "wasserstein": 0.1,    # config/example.yaml's rule for a regression model
    "jensenshannon": 0.1,  # a common choice; driftd has no default rule for it
    "pvalue": 0.01,        # config/example.yaml's ks rule: drift when the p-value is below
    "drift_share": 0.5,    # drift.drift_share default
    "performance": 0.8,    # performance.rules example: accuracy below 0.8
}
"""Where the panels draw their threshold lines: the config's defaults and documented examples."""

HIGHER_IS_BETTER = "accuracy|precision|recall|f1|roc_auc|r2"
LOWER_IS_BETTER = "log_loss|brier|mae|rmse|mape"


# -- small builders ---------------------------------------------------------------------------

def query(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False) -> prometheus.Dataquery:
    """A PromQL target on the dashboard's data source."""
    target = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        target = target.legend_format(legend)
    return target.instant() if instant else target.range()


def steps(*pairs: tuple[float | None, str]) -> dash_b.ThresholdsConfig:
    """Absolute threshold steps: ``(None, base colour), (value, colour), ...``."""
    return (dash_b.ThresholdsConfig().mode(dash.ThresholdsMode.ABSOLUTE)
            .steps([dash.Threshold(value=value, color=color) for value, color in pairs]))


def legend_table(placement: common.LegendPlacement) -> common_b.VizLegendOptions:
    """A legend as a table with last and max values."""
    return (common_b.VizLegendOptions().display_mode(common.LegendDisplayMode.TABLE)
            .placement(placement).show_legend(True).calcs(["lastNotNull", "max"]))


def graph(title: str, description: str, *targets: prometheus.Dataquery, unit: str = "short",
          width: int = 12, height: int = 8) -> timeseries.Panel:
    """A time series panel with a multi-series tooltip and a table legend."""
    panel = (timeseries.Panel().title(title).description(description).datasource(DATASOURCE)
             .unit(unit).span(width).height(height).line_width(1).fill_opacity(10)
             .show_points(common.VisibilityMode.NEVER)
             .legend(legend_table(common.LegendPlacement.RIGHT if width >= 12 else common.LegendPlacement.BOTTOM))
             .tooltip(common_b.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                      .sort(common.SortOrder.DESCENDING)))
    for target in targets:
        panel = panel.with_target(target)
    return panel


def with_threshold_line(panel: timeseries.Panel, thresholds: dash_b.ThresholdsConfig,
                        mode: common.GraphThresholdsStyleMode = common.GraphThresholdsStyleMode.DASHED
                        ) -> timeseries.Panel:
    """Draw ``thresholds`` on a time series panel."""
    return panel.thresholds(thresholds).thresholds_style(common_b.GraphThresholdsStyleConfig().mode(mode))


def single(title: str, description: str, target: prometheus.Dataquery, *, unit: str = "short",
           thresholds: dash_b.ThresholdsConfig | None = None, mappings: list[dash.ValueMapping] | None = None,
           width: int = 4, height: int = 4, graph_mode: common.BigValueGraphMode = common.BigValueGraphMode.AREA
           ) -> stat.Panel:
    """A stat panel showing the last value of ``target``."""
    panel = (stat.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
             .span(width).height(height).with_target(target).graph_mode(graph_mode)
             .color_mode(common.BigValueColorMode.BACKGROUND)
             .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False)))
    panel = panel.thresholds(thresholds or steps((None, "green")))
    if mappings:
        panel = panel.mappings(mappings)
    return panel


def flag_timeline(title: str, description: str, target: prometheus.Dataquery, *, width: int = 12,
                  height: int = 8) -> statetimeline.Panel:
    """A state timeline of a 0/1 gauge: green ``ok``, red ``DRIFT``."""
    return (statetimeline.Panel().title(title).description(description).datasource(DATASOURCE)
            .span(width).height(height).with_target(target).show_value(common.VisibilityMode.NEVER)
            .merge_values(True).fill_opacity(80).line_width(0)
            .thresholds(steps((None, "green"), (1, "red")))
            .mappings(DRIFT_MAPPING))


DRIFT_MAPPING: list[dash.ValueMapping] = [dash.ValueMap(options={
    "0": dash.ValueMappingResult(text="ok", color="green", index=0),
    "1": dash.ValueMappingResult(text="DRIFT", color="red", index=1),
})]


def datasource_variable() -> dash_b.DatasourceVariable:
    """The ``datasource`` variable: any Prometheus data source of the Grafana it is imported into."""
    return dash_b.DatasourceVariable("datasource").label("Data source").type("prometheus")


def assemble(board: dash_b.Dashboard, sections: list[tuple[str, list[Any]]]) -> dash_b.Dashboard:
    """Add each ``(row title, panels)`` section as a row followed by its panels, ids in order."""
    ids = iter(range(1, 1000))
    for title, panels in sections:
        board = board.with_row(dash_b.Row(title).id(next(ids)))
        for panel in panels:
            board = board.with_panel(panel.id(next(ids)))
    return board


def builtin_annotations() -> dash_b.AnnotationQuery:
    """Grafana's own annotations and alerts, as every dashboard saved by Grafana has them."""
    return (dash_b.AnnotationQuery().name("Annotations & Alerts").built_in(1).enable(True).hide(True)
            .icon_color("rgba(0, 211, 255, 1)").type("dashboard")
            .datasource(dash.DataSourceRef(type_val="grafana", uid="-- Grafana --")))


def base(title: str, uid: str, description: str) -> dash_b.Dashboard:
    """Settings both dashboards share."""
    return (dash_b.Dashboard(title).uid(uid).description(description).tags(["driftd", "ml", "drift"])
            .editable().tooltip(dash.DashboardCursorSync.CROSSHAIR).time("now-24h", "now").refresh("1m")
            .timezone("browser").annotation(builtin_annotations()).with_variable(datasource_variable()))


# -- the overview ---------------------------------------------------------------------------

def overview() -> dash_b.Dashboard:
    """All models: drift, alerts, ingest and delivery health."""
    board = base("driftd / Overview", "driftd-overview",
                 "All models monitored by driftd: drift, alerts, events, consumer lag and webhook deliveries.")
    models = [
        single("Models", "Models with a judged window.", query("count(max by (model) (driftd_window_events))",
                                                                 instant=True), graph_mode=common.BigValueGraphMode.NONE),
        single("Drifted models", "Models whose last judged window drifted (driftd_model_drifted = 1).",
               query("count(max by (model) (driftd_model_drifted) == 1) or vector(0)", instant=True),
               thresholds=steps((None, "green"), (1, "red")), graph_mode=common.BigValueGraphMode.NONE),
        single("Alerts (time range)", "Alerts raised in the dashboard's time range, drift and performance.",
               query("sum(increase(driftd_alerts_total[$__range]))", instant=True),
               thresholds=steps((None, "green"), (1, "orange")), graph_mode=common.BigValueGraphMode.NONE),
        single("Undelivered alerts", "Alerts not yet delivered, over all webhooks (driftd_webhook_pending).",
               query("sum(driftd_webhook_pending)"), thresholds=steps((None, "green"), (1, "orange"))),
        single("Consumer lag", "Messages behind the log end, over all topics and partitions.",
               query("sum(driftd_consumer_lag)")),
        single("Events / s", "Messages consumed per second, over all topics.",
               query("sum(rate(driftd_events_consumed_total[$__rate_interval]))"), unit="reqps"),
        flag_timeline("Model drifted", "1 (DRIFT) while the model's last judged window drifted.",
                      query("max by (model) (driftd_model_drifted)", "{{model}}")),
        with_threshold_line(
            graph("Drift share", "Share of features that drifted in each model's last judged window; "
                  f"the line is the default drift_share rule ({THRESHOLDS['drift_share']}).",
                  query("max by (model) (driftd_model_drift_share)", "{{model}}"), unit="percentunit")
            .min(0).max(1), steps((None, "green"), (THRESHOLDS["drift_share"], "red"))),
        graph("Alerts raised", "Alerts per model and kind (drift / performance).",
              query("sum by (model, kind) (increase(driftd_alerts_total[$__rate_interval]))", "{{model}} {{kind}}"),
              width=24),
    ]
    ingest = [
        graph("Events consumed", "Messages consumed per second, per topic.",
              query("sum by (topic) (rate(driftd_events_consumed_total[$__rate_interval]))", "{{topic}}"),
              unit="reqps", width=8),
        graph("Events rejected", "Messages rejected per second, per topic and reason "
              "(not JSON, wrong types, missing field, unknown model...).",
              query("sum by (topic, reason) (rate(driftd_events_rejected_total[$__rate_interval]))",
                    "{{topic}} {{reason}}"), unit="reqps", width=8),
        graph("Late events", "Events per second that arrived for an already closed window, per model.",
              query("sum by (model) (rate(driftd_events_late_total[$__rate_interval]))", "{{model}}"),
              unit="reqps", width=8),
        graph("Consumer lag", "Messages behind the log end, per topic (summed over partitions and daemons).",
              query("sum by (topic) (driftd_consumer_lag)", "{{topic}}"), width=8),
        graph("Batch processing time", "Time to process one polled batch: median and 99th percentile.",
              query("histogram_quantile(0.5, sum by (le) (rate(driftd_batch_seconds_bucket[$__rate_interval])))",
                    "p50"),
              query("histogram_quantile(0.99, sum by (le) (rate(driftd_batch_seconds_bucket[$__rate_interval])))",
                    "p99", "B"),
              query("sum(rate(driftd_batch_seconds_count[$__rate_interval]))", "batches / s", "C"),
              unit="s", width=8)
        .override_by_name("batches / s", [dash.DynamicConfigValue(id_val="unit", value="short"),
                                          dash.DynamicConfigValue(id_val="custom.axisPlacement", value="right")]),
        graph("Windows closed", "Windows closed per model.",
              query("sum by (model) (increase(driftd_windows_closed_total[$__rate_interval]))", "{{model}}"),
              width=8),
        graph("Labels", "Labels joined to their prediction and pending joins expired, per second.",
              query("sum by (model) (rate(driftd_labels_joined_total[$__rate_interval]))", "{{model}} joined"),
              query("sum by (model) (rate(driftd_labels_expired_total[$__rate_interval]))", "{{model}} expired", "B"),
              unit="reqps"),
        graph("Predictions waiting for a label", "Pending label joins per model.",
              query("sum by (model) (driftd_label_join_pending)", "{{model}}")),
    ]
    webhooks = [
        graph("Webhook backlog", "Alerts not yet delivered, per webhook.",
              query("sum by (webhook) (driftd_webhook_pending)", "{{webhook}}")),
        graph("Webhook deliveries", "Delivery attempts per second, per webhook and outcome "
              "(delivered / retried / failed).",
              query("sum by (webhook, outcome) (rate(driftd_webhook_deliveries_total[$__rate_interval]))",
                    "{{webhook}} {{outcome}}"), unit="reqps")
        .override_by_regexp(".* failed", [dash.DynamicConfigValue(
            id_val="color", value={"mode": "fixed", "fixedColor": "red"})]),
    ]
    return assemble(board, [("Models", models), ("Events", ingest), ("Webhooks", webhooks)])


# -- one model --------------------------------------------------------------------------------

def model_variable() -> dash_b.QueryVariable:
    """The ``model`` variable: every model with a judged window."""
    return (dash_b.QueryVariable("model").label("Model").datasource(DATASOURCE)
            .query("label_values(driftd_window_events, model)")
            .refresh(dash.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(dash.VariableSort.ALPHABETICAL_ASC))


def feature_statistic(statistic: str, title: str, description: str, threshold: float | None) -> timeseries.Panel:
    """One drift statistic of every feature of the model, with its rule threshold drawn in."""
    panel = graph(title, description,
                  query(f'driftd_feature_drift{{{MODEL}, statistic="{statistic}"}}', "{{feature}}"), width=12)
    if threshold is None:
        return panel
    if statistic == "psi":
        colours = steps((None, "green"), (THRESHOLDS["psi_moderate"], "yellow"), (threshold, "red"))
    else:
        colours = steps((None, "green"), (threshold, "red"))
    return with_threshold_line(panel, colours)


def model() -> dash_b.Dashboard:
    """One model: its features' drift, prediction drift, performance and windows."""
    board = (base("driftd / Model", "driftd-model",
                  "One model monitored by driftd: per-feature drift and p-values, missing values, "
                  "prediction drift, performance and windows.")
             .with_variable(model_variable()))
    summary = [
        single("Drifted", "Whether the model-level drift rule holds in the last judged window.",
               query(f"driftd_model_drifted{{{MODEL}}}"), thresholds=steps((None, "green"), (1, "red")),
               mappings=DRIFT_MAPPING, graph_mode=common.BigValueGraphMode.NONE),
        single("Drift share", f"Share of features that drifted in the last judged window (default rule "
               f"{THRESHOLDS['drift_share']}).", query(f"driftd_model_drift_share{{{MODEL}}}"), unit="percentunit",
               thresholds=steps((None, "green"), (THRESHOLDS["drift_share"], "red"))),
        single("Drifted features", "Features that drifted in the last judged window.",
               query(f"sum(driftd_feature_drifted{{{MODEL}}})"), thresholds=steps((None, "green"), (1, "orange"))),
        single("Events in last window", "Events in the last judged window.",
               query(f"driftd_window_events{{{MODEL}}}")),
        single("Last window end", "End (event time) of the last judged window.",
               query(f"driftd_window_end_timestamp_seconds{{{MODEL}}} * 1000"), unit="dateTimeAsIso",
               graph_mode=common.BigValueGraphMode.NONE),
        single("Alerts (time range)", "Alerts raised for this model in the dashboard's time range.",
               query(f"sum(increase(driftd_alerts_total{{{MODEL}}}[$__range]))", instant=True),
               thresholds=steps((None, "green"), (1, "orange")), graph_mode=common.BigValueGraphMode.NONE),
    ]
    drift = [
        feature_statistic("psi", "PSI per feature",
                          "Population stability index of each feature against the reference; "
                          f"the lines are 0.1 (moderate) and the default rule psi: {THRESHOLDS['psi']}.",
                          THRESHOLDS["psi"]),
        feature_statistic("jensenshannon", "Jensen-Shannon distance per feature",
                          "Jensen-Shannon distance (base 2) over the PSI bins; the line is "
                          f"{THRESHOLDS['jensenshannon']}, a common rule (set yours in drift.rules).",
                          THRESHOLDS["jensenshannon"]),
        feature_statistic("wasserstein", "Wasserstein distance per feature",
                          "Wasserstein distance divided by the reference's standard deviation; the line is "
                          f"{THRESHOLDS['wasserstein']}, the rule of config/example.yaml.", THRESHOLDS["wasserstein"]),
        feature_statistic("ks", "KS statistic per feature",
                          "Kolmogorov-Smirnov statistic; its rule is on the p-value (next panel).", None),
        with_threshold_line(
            graph("p-values", "p-values of the tests (ks for numeric, chisquare for categorical features); a "
                  f"test rule flags drift below its threshold, the line is {THRESHOLDS['pvalue']}.",
                  query(f"driftd_feature_drift_pvalue{{{MODEL}}}", "{{feature}} {{statistic}}"))
            .scale_distribution(common_b.ScaleDistributionConfig().type(common.ScaleDistribution.LOG).log(10)),
            steps((None, "red"), (THRESHOLDS["pvalue"], "green"))),
        graph("Chi-square statistic per feature", "Chi-square contingency statistic of categorical features.",
              query(f'driftd_feature_drift{{{MODEL}, statistic="chisquare"}}', "{{feature}}")),
        flag_timeline("Drifted features", "1 (DRIFT) while a feature drifted in the last judged window.",
                      query(f"driftd_feature_drifted{{{MODEL}}}", "{{feature}}")),
        with_threshold_line(
            graph("Missing values", "Share of missing (null, NaN, absent) values per feature.",
                  query(f"driftd_feature_missing_ratio{{{MODEL}}}", "{{feature}}"), unit="percentunit").min(0),
            steps((None, "green"), (0.1, "orange"))),
        graph("Prediction drift", "Drift statistics of the model's prediction against the reference.",
              query(f"driftd_prediction_drift{{{MODEL}}}", "{{statistic}}"), width=24),
    ]
    performance = [
        with_threshold_line(
            graph("Performance (higher is better)", "Accuracy, precision, recall, F1, ROC AUC, R² of the newest "
                  f"window with enough labels; the line is the example rule accuracy below "
                  f"{THRESHOLDS['performance']}.",
                  query(f'driftd_model_performance{{{MODEL}, metric=~"{HIGHER_IS_BETTER}"}}', "{{metric}}")),
            steps((None, "red"), (THRESHOLDS["performance"], "green"))),
        graph("Performance (lower is better)", "Log loss, Brier score, MAE, RMSE, MAPE of the newest window with "
              "enough labels.",
              query(f'driftd_model_performance{{{MODEL}, metric=~"{LOWER_IS_BETTER}"}}', "{{metric}}")),
    ]
    windows = [
        graph("Events per judged window", "Events in the last judged window.",
              query(f"driftd_window_events{{{MODEL}}}", "events"), width=8),
        graph("Windows closed and late events", "Windows closed, and events that arrived after their window "
              "closed (not used).",
              query(f"sum(increase(driftd_windows_closed_total{{{MODEL}}}[$__rate_interval]))", "windows closed"),
              query(f"sum(increase(driftd_events_late_total{{{MODEL}}}[$__rate_interval]))", "late events", "B"),
              width=8),
        graph("Labels", "Labels joined, pending joins expired, and predictions waiting for a label.",
              query(f"sum(rate(driftd_labels_joined_total{{{MODEL}}}[$__rate_interval]))", "joined / s"),
              query(f"sum(rate(driftd_labels_expired_total{{{MODEL}}}[$__rate_interval]))", "expired / s", "B"),
              query(f"sum(driftd_label_join_pending{{{MODEL}}})", "pending", "C"), width=8)
        .override_by_name("pending", [dash.DynamicConfigValue(id_val="custom.axisPlacement", value="right")]),
        graph("Alerts raised", "Alerts raised for this model, by kind.",
              query(f"sum by (kind) (increase(driftd_alerts_total{{{MODEL}}}[$__rate_interval]))", "{{kind}}"),
              width=24),
    ]
    return assemble(board, [("Summary", summary), ("Feature drift", drift), ("Performance", performance),
                            ("Windows, labels and alerts", windows)])


# -- output ----------------------------------------------------------------------------------

def render(board: dash_b.Dashboard) -> str:
    """The dashboard's JSON: sorted keys, two-space indent, a final newline."""
    return json.dumps(board.build(), cls=JSONEncoder, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def dashboards() -> dict[str, str]:
    """File name -> JSON of every dashboard."""
    return {OVERVIEW_FILE: render(overview()), MODEL_FILE: render(model())}


def main(argv: list[str] | None = None) -> int:
    """Write every dashboard's JSON into ``--out`` (default: this folder)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write the JSON files into")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in dashboards().items():
        (args.out / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
