"""Judge: takes a closed window and its model's reference profile and hands on a window result.

:mod:`.verdict` compares the window with the reference (every configured statistic, per feature
and on the prediction), applies the drift rules and computes realized performance from the joined
labels; :mod:`.results` holds what comes out (:class:`~.results.WindowResult`), as the store, the
metrics, the alerts and the reports read it.
"""
