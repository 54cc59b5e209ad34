"""Export: takes judged windows and the daemon's counters and hands them on to people and programs.

:mod:`.metrics` keeps the Prometheus series (gauges of each model's newest judged window, the
counters); :mod:`.http` serves ``/metrics``, ``/healthz`` and ``/readyz``; :mod:`.report` renders
stored windows for ``driftd status`` and ``driftd replay`` (a table, or the JSON document).
"""
