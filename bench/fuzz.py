"""Fuzz the decoder for millions of messages: nothing escapes it, and it agrees with the reference.

The same two properties as tests/monitor/ingest/test_decode_fuzz.py (which runs a few hundred
batches in `make test`), fed by a fast seeded generator instead of hypothesis:

- arbitrary bytes and tombstones: decoding never raises, every message is accepted or rejected
  once, with a reason from REASONS;
- valid messages and mutations of them (truncated, a byte flipped, nested deep, a field of another
  type, huge numbers and strings, every form of timestamp, wrapped in junk): message by message,
  the decoder agrees with tests/fixtures/oracle.py (``json.loads`` and the rules of docs/input.md).

Run: ``.venv/bin/python bench/fuzz.py [--cases 2000000] [--seed 1]``. It prints the cases run,
their rate, the escapes (exceptions out of the decoder) and the disagreements, and exits 1 if
there was any.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' oracle and properties

from tests.monitor.ingest.test_decode_fuzz import MAX_VALUE_LENGTH, check_arbitrary, check_mutated  # noqa: E402

_LITERALS = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"9" * 400, b"-0", b"18446744073709551616", b"true",
             b"null", b'""', b"{}", b"[]", b'"\\ud800"', b'"\\u0000"', b"[1, [2, {}]]", b'{"a": null}']
_TIMESTAMPS = [1763800000.25, 1763800000, 0, -1.5, 1763800000250, 1e300, -1e300, 253370764800.0, 253370764801.0,
               -62135596800.0, "2025-11-22T08:00:00Z", "2025-11-22T08:00:00+01:00", "2025-11-22T08:00:00",
               "yesterday", "1763800000", "0001-01-01T00:00:00+14:00", ""]
_KEYS = ["model", "model_version", "prediction_id", "timestamp", "features", "prediction", "label", "extra",
         "features.age", "features.plan", "features.other"]


def _value(rng: random.Random, depth: int = 0) -> object:
    pick = rng.random()
    if pick < 0.15:
        return None
    if pick < 0.3:
        return rng.random() < 0.5
    if pick < 0.45:
        return rng.choice([rng.uniform(-1e6, 1e6), float("nan"), float("inf"), rng.randint(-2**70, 2**70)])
    if pick < 0.7:
        return "".join(rng.choice("abcé\u2603\x00\"\\") for _ in range(rng.choice([0, 3, MAX_VALUE_LENGTH + 1])))
    if depth < 3 and pick < 0.85:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 3:
        return {rng.choice(["a", "age", "model", ""]): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return 1


def _event(rng: random.Random) -> dict[str, object]:
    event: dict[str, object] = {"model": rng.choice(["churn", "churn", "fraud"]), "timestamp": rng.choice(_TIMESTAMPS),
                                "prediction": _value(rng) if rng.random() < 0.3 else rng.random()}
    if rng.random() < 0.7:
        event["features"] = {name: (_value(rng) if rng.random() < 0.3 else rng.random())
                             for name in rng.sample(["age", "plan", "other"], rng.randint(0, 3))}
    for key, make in (("prediction_id", lambda: rng.choice([f"p{rng.randint(0, 10**6)}", rng.randint(0, 99), "p" * 256])),
                      ("model_version", lambda: rng.choice(["7", 7, None, "v" * (MAX_VALUE_LENGTH + 1)])),
                      ("label", lambda: _value(rng)), ("extra", lambda: _value(rng))):
        if rng.random() < 0.4:
            event[key] = make()
    return event


def _with(event: dict[str, object], key: str, raw: bytes) -> bytes:
    marker = "\x00MARK\x00"
    if key.startswith("features.") and isinstance(event.get("features"), dict):
        event = dict(event, features=dict(event["features"], **{key.split(".", 1)[1]: marker}))  # type: ignore[arg-type]
    else:
        event = dict(event, **{key.split(".", 1)[0]: marker})
    return json.dumps(event, allow_nan=True).encode().replace(json.dumps(marker).encode(), raw)


def mutated(rng: random.Random) -> bytes | None:
    """One message: valid, or broken one of the ways producers break them."""
    event = _event(rng)
    raw = json.dumps(event, allow_nan=True).encode()
    how = rng.random()
    key = rng.choice(_KEYS)
    if how < 0.3:
        return raw
    if how < 0.4:
        return raw[:rng.randint(0, len(raw))]
    if how < 0.5:
        at = rng.randrange(len(raw))
        return raw[:at] + bytes([rng.randrange(256)]) + raw[at + 1:]
    if how < 0.58:
        depth = rng.choice([2, 50, 900, 1200, 3000])
        opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
        return _with(event, key, opener * depth + (b"" if opener == b"[" else b"1") + closer * depth)
    if how < 0.75:
        return _with(event, key, json.dumps(_value(rng), allow_nan=True).encode())
    if how < 0.88:
        return _with(event, key, rng.choice(_LITERALS))
    if how < 0.98:
        return rng.choice([b"\xef\xbb\xbf", b" ", b"[", b""]) + raw + rng.choice([b"", b"]", b"x", b"{}", b"\n"])
    return None


def arbitrary(rng: random.Random) -> bytes | None:
    """Random bytes, now and then a tombstone."""
    if rng.random() < 0.02:
        return None
    return rng.randbytes(rng.choice([0, 1, 8, 64, 300]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2_000_000, help="messages to check (default 2,000,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32, help="messages per decoded batch")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    escapes: list[str] = []
    disagreements: list[str] = []
    done = 0
    started = time.perf_counter()
    while done < args.cases:
        for make, check in ((mutated, check_mutated), (arbitrary, check_arbitrary)):
            batch = [make(rng) for _ in range(args.batch)]
            try:
                check(batch)
            except AssertionError as exc:
                disagreements.append(str(exc).splitlines()[0][:300])
            except Exception as exc:  # an escape: the decoder raised for some input
                escapes.append(f"{type(exc).__name__}: {exc}"[:300] + f" in {batch!r:.300}")
            done += len(batch)
        if done % (args.batch * 2 * 2000) == 0:
            print(f"  {done:,} cases, {done / (time.perf_counter() - started):,.0f}/s", file=sys.stderr)
    seconds = time.perf_counter() - started
    print(f"cases (messages checked): {done:,} in {seconds:.0f} s ({done / seconds:,.0f}/s), seed {args.seed}")
    print(f"escapes (exceptions out of the decoder): {len(escapes)}")
    print(f"disagreements with the reference: {len(disagreements)}")
    for line in (escapes + disagreements)[:10]:
        print("  " + line)
    return 1 if escapes or disagreements else 0


if __name__ == "__main__":
    raise SystemExit(main())
