"""`evm-digest ledger`: its arguments and handler. Kept apart from the ledger package so that building the
CLI parser imports neither pandas nor boto3 (the ledger itself is imported when the command runs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

LEDGER_EPILOG = """exit codes:
  0  every record verified and consistent
  1  a mismatch, a cross-node (or fleet) disagreement, a missing height or an unverifiable
     object (unreadable, bad or missing seal, tampered, not a record) was found
  2  the sink could not be read, or bad arguments / an output file that cannot be written
"""
DEFAULT_WORKERS_TEXT = "16"  # evmdigest.ledger.DEFAULT_WORKERS; a test keeps them equal


def _cmd_ledger(args: argparse.Namespace) -> int:
    """Table + summary (or --json rows) on stdout; exit 0 clean, 1 findings, 2 unreadable sink or bad input."""
    from evmdigest.ledger import DEFAULT_WORKERS, LedgerError, build_ledger, open_ledger_sink
    from evmdigest.segments import snapshot_heights

    workers = args.workers or DEFAULT_WORKERS
    try:
        snapshots = {node: snapshot_heights(Path(path)) for node, path in args.memiavl_dirs}
        sink = open_ledger_sink(args.url, endpoint_url=args.endpoint_url, region=args.region, workers=workers)
        ledger = build_ledger(
            sink, verify=args.verify, workers=workers, interval=args.interval, snapshots=snapshots, nodes=args.nodes
        )
    except (LedgerError, ValueError, FileNotFoundError) as exc:
        message = f"--memiavl-dir {exc}" if isinstance(exc, FileNotFoundError) else str(exc)
        print(f"evm-digest ledger: {message}", file=sys.stderr)
        return 2
    summary = "\n".join(ledger.summary_lines())
    if args.json:
        print(ledger.rows_json())
        print(summary, file=sys.stderr)  # stdout stays one JSON document
        return ledger.exit_code
    target = args.csv or args.parquet
    if target is None:
        print(ledger.display().to_markdown(index=False) if len(ledger.table) else "(no records)")
        print()
    else:
        try:
            (ledger.write_csv if args.csv else ledger.write_parquet)(target)
        except OSError as exc:
            print(f"evm-digest ledger: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"wrote {len(ledger.table)} row(s) to {target}")
    print(summary)
    return ledger.exit_code


def _node_dir(text: str) -> tuple[str, str]:
    node, sep, path = text.partition("=")
    if not sep or not node or not path:
        raise argparse.ArgumentTypeError(f"{text!r} is not NODE=DIR; write e.g. node-a=/data/memiavl")
    return node, path


def _positive(text: str) -> int:
    value = int(text) if text.strip().isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def add_ledger(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    g = sub.add_parser(
        "ledger",
        help="list and verify every sealed record under a sink: a table, missing heights, disagreements",
        description="List every endpoint record and fleet verdict under a sink (flat and <node>/ layouts),\n"
        "verify every seal (re-read, gunzip, re-hash), and print one table plus a summary.",
        epilog=LEDGER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("url", help="sink URL: s3://bucket/prefix, file:///dir or a plain path")
    out = g.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the rows as one JSON array (summary on stderr)")
    out.add_argument("--csv", type=Path, metavar="FILE", help="write the table as CSV (lists comma-joined)")
    out.add_argument("--parquet", type=Path, metavar="FILE", help="write the table as Parquet")
    g.add_argument("--no-verify", dest="verify", action="store_false", help="read records without checking seals")
    g.add_argument("--interval", type=_positive, metavar="N", help="segment interval: expect a record every N blocks")
    g.add_argument(
        "--memiavl-dir",
        dest="memiavl_dirs",
        type=_node_dir,
        action="append",
        default=[],
        metavar="NODE=DIR",
        help="expect a record for each snapshot in NODE's memiavl root (repeat per node)",
    )
    g.add_argument(
        "--node", dest="nodes", action="extend", nargs="+", metavar="NAME", help="only these nodes (repeatable)"
    )
    g.add_argument("--endpoint-url", default=None, help="S3-compatible endpoint")
    g.add_argument("--region", default=None, help="AWS region (default: boto3's chain)")
    g.add_argument(
        "--workers", type=_positive, default=None, metavar="N", help=f"reads in flight (default {DEFAULT_WORKERS_TEXT})"
    )
    g.set_defaults(func=_cmd_ledger)
