"""Window: takes decoded records and hands on closed windows and the rows of the label join.

:mod:`.pipeline` routes each batch by model to its windows (or to the buffer a live reference is
built from); :mod:`.tumbling` keeps event-time and count windows of mergeable summaries per
partition, with watermarks, lateness and idle close; :mod:`.labels` joins late labels to their
predictions in memory (``driftd replay``; the daemon joins in the store).
"""
