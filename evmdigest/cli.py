"""`evm-digest`: the front door for people and scripts.

parse / verify / schema are pure core. run / demo need Prefect, so they are imported from `flows`
only when invoked: the core never imports Prefect at import time.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from evmdigest.emit.verify import add_verify_arguments, verify_main
from evmdigest.records import record_json_schema_text
from evmdigest.seidb import ReportError, parse_report


def _cmd_parse(args: argparse.Namespace) -> int:
    source = args.file
    try:
        text = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        print(f"evm-digest parse: cannot read {source!r}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        report = parse_report(text)
    except ReportError as exc:
        print(f"evm-digest parse: {exc}", file=sys.stderr)
        return 2
    print(report.model_dump_json(indent=2))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    return verify_main(args.uri, args.sha256, args.endpoint_url, args.region)


def _cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(record_json_schema_text())
    return 0


def _delegate_to_flows(args: argparse.Namespace) -> int:
    # Prefect is imported here, on demand, so `parse` and `verify` stay fast and server-free.
    front_door = importlib.import_module("flows.front_door")
    code: int = front_door.main(args)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evm-digest", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("parse", help="parse seidb evm-logical-digest output (any generation) into JSON")
    p.add_argument("file", nargs="?", default="-", help="a file holding seidb's stdout, or - for stdin")
    p.set_defaults(func=_cmd_parse)

    v = sub.add_parser("verify", help="re-hash a published object and compare it with its seal")
    add_verify_arguments(v)
    v.set_defaults(func=_cmd_verify)

    s = sub.add_parser("schema", help="print the JSON Schema of EndpointDigestRecord")
    s.set_defaults(func=_cmd_schema)

    add_flow_commands(sub)
    return parser


def add_flow_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("run", help="run the evm-logical-digest gate flow once and print the verdict")
    r.add_argument("--height", type=int, help="segment boundary height; omit to seal the newest unsealed snapshot")
    r.add_argument("--flatkv-dir", required=True, type=Path)
    r.add_argument("--memiavl-dir", required=True, type=Path)
    r.add_argument(
        "--normalization",
        action="append",
        choices=["semantic", "translator"],
        help="memiavl decoder; repeat for several (default: both)",
    )
    r.add_argument("--memiavl-open-mode", choices=["snapshot", "replay"], default="snapshot")
    r.add_argument("--seidb", help="seidb binary (default: $EVMDIGEST_SEIDB or `seidb` on PATH)")
    r.add_argument("--sink", help="s3://bucket/prefix or file:///dir (default: file://./out)")
    r.add_argument("--endpoint-url", help="S3-compatible endpoint for the sink")
    r.add_argument("--region", help="AWS region for the sink")
    r.add_argument("--node", help="node label for records, events and artifacts")
    r.add_argument("--timeout", type=float, help="per-scan timeout in seconds")
    r.add_argument(
        "--allow-overwriting-store",
        action="store_true",
        help="publish even if the sink ignores conditional writes (the write-once probe fails): "
        "a second run could overwrite a sealed verdict",
    )
    r.set_defaults(func=_delegate_to_flows)

    d = sub.add_parser("demo", help="make a simulated node, seal it into a local folder, print the verdict")
    d.add_argument("--dir", type=Path, default=Path("demo-node"), help="where the fixture node is written")
    d.add_argument("--height", type=int, help="default 213200000 (simulated); with --seidb: newest unsealed")
    d.add_argument("--rows", type=int, default=20000)
    d.add_argument("--diverge", choices=["storage", "account", "code", "misc", "missing-key"])
    d.add_argument("--seidb", help="use this real seidb against --flatkv-dir/--memiavl-dir instead of the simulator")
    d.add_argument("--flatkv-dir", type=Path, help="with --seidb: the FlatKV dir")
    d.add_argument("--memiavl-dir", type=Path, help="with --seidb: the memiavl root")
    d.add_argument("--sink", default=None, help="default: file://<dir>/sealed")
    d.set_defaults(func=_delegate_to_flows)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
