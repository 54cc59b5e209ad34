"""Pure drift statistics and performance metrics: numpy and scipy over profiles and window summaries.

No I/O and no clock here. The names of docs/statistics.md map to implementations in
:data:`detectors.compare.STATISTICS`.
"""
