"""The ``driftd`` command line (docs/cli.md): the only place logging is configured.

Exit codes: 0 success, 2 bad usage or config, 1 anything else.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
log = logging.getLogger("driftd")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 on bad usage, as the contract wants
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = _Parser(prog="driftd", description="Drift and model-performance monitoring daemon.")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="the daemon: consume Kafka, judge windows, serve /metrics")
    run.add_argument("-c", "--config", required=True)

    check = sub.add_parser("check", help="validate a config file; exit 0, or print every problem and exit 2")
    check.add_argument("-c", "--config", required=True)

    ref = sub.add_parser("reference", help="reference profiles")
    ref_sub = ref.add_subparsers(dest="reference_command", required=True, parser_class=_Parser)
    build = ref_sub.add_parser("build", help="build and store a model's reference profile from a data file")
    build.add_argument("-c", "--config", required=True)
    build.add_argument("--model", required=True)
    build.add_argument("--data", required=True, help="CSV, Parquet or JSONL; columns: features, prediction, label")
    build.add_argument("--format", choices=["csv", "parquet", "jsonl"])

    rep = sub.add_parser("replay", help="feed logged events through the pipeline without Kafka")
    rep.add_argument("-c", "--config", required=True)
    rep.add_argument("--input", required=True, help="JSON lines of prediction, feature and label messages")
    rep.add_argument("--dry-run", action="store_true", help="store nothing")
    rep.add_argument("--json", action="store_true", help="print the JSON document instead of a table")
    rep.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar (default: on a terminal, for inputs over 8 MB)")

    status = sub.add_parser("status", help="stored windows, alerts and deliveries per model")
    status.add_argument("-c", "--config", required=True)
    status.add_argument("--json", action="store_true")
    status.add_argument("--limit", type=int, default=20, help="windows per model (default 20)")
    status.add_argument("--model", help="only this model")

    demo = sub.add_parser("demo", help="everything on this machine: a local Kafka broker, traffic whose inputs "
                                       "drift, the daemon and a webhook receiver; shows drift being caught, live")
    demo.add_argument("--duration", type=float, metavar="SECONDS",
                      help="stop after this many seconds of traffic (default: run until Ctrl-C)")
    demo.add_argument("--workdir", metavar="DIR", help="where the config, store and logs go (default: a new "
                                                       "temporary directory); a previous demo's store there is replaced")
    demo.add_argument("--rate", type=float, default=200.0, metavar="N", help="predictions per second (default 200)")
    demo.add_argument("--drift-after", type=float, default=60.0, metavar="SECONDS",
                      help="the inputs drift this long after the traffic starts (default 60)")
    demo.add_argument("--window", type=int, default=20, metavar="SECONDS", help="window size (default 20)")

    hook = sub.add_parser("webhook", help="retraining webhooks")
    hook_sub = hook.add_subparsers(dest="webhook_command", required=True, parser_class=_Parser)
    verify = hook_sub.add_parser("verify", help="check a received webhook's X-Driftd-Signature; exit 0 and print "
                                                "ok, or print why not and exit 1")
    verify.add_argument("--body", default="-", help="file holding the raw request body (default: - for stdin)")
    verify.add_argument("--signature", required=True, help="the X-Driftd-Signature header value")
    verify.add_argument("--secret-env", default="DRIFTD_WEBHOOK_SECRET",
                        help="environment variable holding the secret (default: DRIFTD_WEBHOOK_SECRET)")
    verify.add_argument("--tolerance", default="5m", help="largest accepted clock difference (default: 5m)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``driftd`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.log_level != "DEBUG":  # these narrate every plugin, job run and connection at INFO
        for chatty in ("alembic", "apscheduler", "kafka"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    if args.command == "check":
        from monitor.config import check_main
        return check_main(args.config)
    from monitor.errors import ConfigError, DriftdError
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "reference":
            return _reference_build(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "status":
            return _status(args)
        if args.command == "webhook":
            return _webhook_verify(args)
        if args.command == "demo":
            return _demo(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except DriftdError as exc:
        print(f"driftd {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover


def _load(path: str):  # type: ignore[no-untyped-def]
    from monitor.config import load_config
    return load_config(path)


def _open_store(config):  # type: ignore[no-untyped-def]
    from monitor.store import Store
    return Store.open(config.storage.url)


def _run(args: argparse.Namespace) -> int:
    from monitor.daemon import Daemon

    daemon = Daemon(_load(args.config))
    daemon.install_signal_handlers()
    try:
        daemon.start()
        return daemon.run()
    finally:
        daemon.close()


def _reference_build(args: argparse.Namespace) -> int:
    from monitor.errors import ConfigError
    from monitor.store import profiles

    config = _load(args.config)
    try:
        model = config.model(args.model)
    except LookupError as exc:
        raise ConfigError(args.config, [("--model", str(exc))]) from None
    data = Path(args.data)
    import dataclasses  # --data has its own format: --format, or its file name's suffix
    model = dataclasses.replace(model, reference=dataclasses.replace(model.reference, format=args.format))
    profile = profiles.build_from_file(model, data, config)
    with _open_store(config) as store:
        identity = profiles.file_identity(data)
        record = profiles.store_profile(store, model, profile, str(data), identity, time.time())
    columns = len(profile.layout.columns)
    print(f"stored reference {record.id} ({profile.rows:,} rows, {columns} columns, sha256 {record.content_hash[:12]})")
    return EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    from monitor.export import report
    from monitor.replay import replay

    config = _load(args.config)
    path = Path(args.input)
    if not path.is_file():
        print(f"driftd replay: --input {path}: no such file", file=sys.stderr)
        return EXIT_USAGE
    if args.dry_run:
        outcome = replay(config, path, None, progress=args.progress)
    else:
        with _open_store(config) as store:
            outcome = replay(config, path, store, progress=args.progress)
    models = [report.ModelReport(m.name, [r for r in outcome.results if r.model == m.name],
                                 [{"id": a.id, "kind": a.kind, "state": "pending" if m.alerts.webhooks else "recorded"}
                                  for a in outcome.alerts if a.model == m.name])
              for m in config.models]
    if args.json:
        extra = {"lines": outcome.lines, "accepted": outcome.accepted, "late": dict(outcome.late)}
        print(report.dumps(report.document(models, outcome.rejected, extra)))
    else:
        print(report.table(models, outcome.rejected), end="")
        late = sum(outcome.late.values())
        print(f"{outcome.lines:,} lines: {outcome.accepted:,} accepted, {sum(outcome.rejected.values()):,} rejected, "
              f"{late:,} late; {len(outcome.results)} windows in {outcome.seconds:.2f}s"
              + ("" if not args.dry_run else " (dry run: nothing stored)"))
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from monitor.export import report

    if args.limit < 0:
        print("driftd status: --limit must be >= 0", file=sys.stderr)
        return EXIT_USAGE
    config = _load(args.config)
    names = [m.name for m in config.models]
    if args.model:
        if args.model not in names:
            print(f"driftd status: --model {args.model!r} is not configured (models: {', '.join(names)})",
                  file=sys.stderr)
            return EXIT_USAGE
        names = [args.model]
    with _open_store(config) as store:
        models = [report.ModelReport(name, store.list_windows(name, limit=args.limit),
                                     [report.alert_document(a) for a in store.list_alerts(name, limit=args.limit)],
                                     store.pending_deliveries(name))
                  for name in names]
    print(report.dumps(report.document(models)) if args.json else report.table(models), end="\n" if args.json else "")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from monitor.demo import DemoOptions, run_demo

    try:
        options = DemoOptions(duration_s=args.duration, workdir=Path(args.workdir) if args.workdir else None,
                              rate=args.rate, drift_after_s=args.drift_after, window_s=args.window)
    except ValueError as exc:
        print(f"driftd demo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return run_demo(options)


def _webhook_verify(args: argparse.Namespace) -> int:
    import os

    from monitor.alerts.webhooks.signing import verify
    from monitor.config.durations import parse_duration
    from monitor.errors import SignatureError

    secret = os.environ.get(args.secret_env)
    try:
        tolerance_s = parse_duration(args.tolerance)
    except ValueError:
        print(f"driftd webhook verify: --tolerance: expected a duration like 5m, got {args.tolerance!r}",
              file=sys.stderr)
        return EXIT_USAGE
    if not secret:
        print(f"driftd webhook verify: environment variable {args.secret_env} (--secret-env) is not set",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        body = sys.stdin.buffer.read() if args.body == "-" else Path(args.body).read_bytes()
    except OSError as exc:
        print(f"driftd webhook verify: --body {args.body}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        verify(secret, body, args.signature, tolerance_s=tolerance_s)
    except SignatureError as exc:
        print(f"driftd webhook verify: invalid: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print("ok")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
