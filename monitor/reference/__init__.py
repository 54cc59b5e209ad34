"""Reference profiles: takes a reference file or a model's first N live events and hands on the
:class:`~detectors.profile.ReferenceProfile` that windows are cut by and judged against.

:mod:`.build` reads a file (CSV, Parquet, JSONL) into columns and builds a profile (bins, sorted
sample, moments) from them or from buffered live columns; :mod:`monitor.store.profiles` keeps the
versions built.
"""
