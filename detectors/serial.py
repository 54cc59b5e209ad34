"""A small, safe, deterministic binary container for profiles and summaries (no pickle).

Layout: the magic ``b"DRIFTD\\x00"`` and a format version byte, a 4-byte big-endian header length,
a UTF-8 JSON header (with the shape, dtype and offset of each array), then the raw array bytes.
The same content always gives the same bytes, so a hash of them identifies a profile.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Mapping, Sequence

import numpy as np

MAGIC = b"DRIFTD\x00"
FORMAT_VERSION = 1
_ALLOWED_DTYPES = {"<f8", "<i8", "<u8", "|b1"}


class SerialError(ValueError):
    """The bytes are not a driftd container, or one of its arrays is damaged (the message names it)."""


def pack(kind: str, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray | Sequence[np.ndarray]]) -> bytes:
    """Encode ``header`` (JSON-able) and named numeric arrays into one byte string.

    An array may also be given as a non-empty list of 1-D chunks of one dtype: it is written as their
    concatenation (the same bytes), without making that concatenation first.

    Parameters
    ----------
    kind
        What the container holds (``"profile"``, ``"summary"``); checked by :func:`unpack`.
    header
        JSON-serialisable metadata.
    arrays
        Named numeric arrays (float64, int64, uint64 or bool), or lists of 1-D chunks of one.

    Examples
    --------
    >>> blob = pack("demo", {"a": 1}, {"x": np.arange(3, dtype=np.int64)})
    >>> kind, header, arrays = unpack(blob, "demo")
    >>> header["a"], arrays["x"].tolist()
    (1, [0, 1, 2])
    >>> pack("demo", {}, {"x": [np.arange(2.0), np.arange(2.0, 5.0)]}) == pack("demo", {}, {"x": np.arange(5.0)})
    True
    """
    specs = []
    chunks: list[memoryview] = []
    offset = 0
    for name, arr in arrays.items():
        parts = [np.ascontiguousarray(a) for a in arr] if isinstance(arr, (list, tuple)) else [np.ascontiguousarray(arr)]
        if not parts:
            raise SerialError(f"array {name!r}: an empty list of chunks has no dtype")
        dtype = parts[0].dtype.newbyteorder("<") if parts[0].dtype.byteorder == ">" else parts[0].dtype
        if dtype.str not in _ALLOWED_DTYPES:
            raise SerialError(f"array {name!r}: unsupported dtype {dtype.str}")
        if len(parts) > 1 and any(p.ndim != 1 or p.dtype.newbyteorder("<") != dtype.newbyteorder("<") for p in parts):
            raise SerialError(f"array {name!r}: chunks must be 1-D arrays of one dtype")
        shape = list(parts[0].shape) if len(parts) == 1 else [sum(int(p.size) for p in parts)]
        nbytes = 0
        for data in parts:
            data = data.astype(dtype, copy=False)
            if data.size:  # no copy until the final join
                raw = data.data.cast("B")
                chunks.append(raw)
                nbytes += raw.nbytes
        specs.append({"name": name, "dtype": dtype.str, "shape": shape, "offset": offset, "nbytes": nbytes})
        offset += nbytes
    head = json.dumps({"kind": kind, "header": header, "arrays": specs}, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode()
    return b"".join([MAGIC, bytes([FORMAT_VERSION]), struct.pack(">I", len(head)), head, *chunks])


def unpack(blob: bytes, kind: str, *, copy: bool = True) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
    """Decode what :func:`pack` wrote; raises SerialError naming what is wrong.

    With ``copy=False`` the arrays are read-only views of ``blob`` (which they keep alive) instead of
    copies of it: half the memory while both would be held.
    """
    if not blob.startswith(MAGIC):
        raise SerialError("not a driftd container (bad magic bytes)")
    version = blob[len(MAGIC)]
    if version != FORMAT_VERSION:
        raise SerialError(f"container format version {version} is not supported (expected {FORMAT_VERSION})")
    start = len(MAGIC) + 1
    (head_len,) = struct.unpack(">I", blob[start:start + 4])
    body_start = start + 4 + head_len
    try:
        head = json.loads(blob[start + 4:body_start])
    except ValueError as exc:
        raise SerialError(f"damaged header: {exc}") from exc
    if head.get("kind") != kind:
        raise SerialError(f"expected a {kind!r} container, got {head.get('kind')!r}")
    arrays: dict[str, np.ndarray] = {}
    body = memoryview(blob)[body_start:]
    for spec in head["arrays"]:
        name = spec["name"]
        if spec["dtype"] not in _ALLOWED_DTYPES:
            raise SerialError(f"array {name!r}: unsupported dtype {spec['dtype']}")
        end = spec["offset"] + spec["nbytes"]
        if end > len(body):
            raise SerialError(f"array {name!r}: truncated ({len(body)} bytes of body, needs {end})")
        arr = np.frombuffer(body[spec["offset"]:end], dtype=np.dtype(spec["dtype"]))
        try:
            arr = arr.reshape(spec["shape"])
            arrays[name] = arr.copy() if copy else arr
        except ValueError as exc:
            raise SerialError(f"array {name!r}: {exc}") from exc
    return head["kind"], head["header"], arrays
