"""`evm-digest`: the front door for people and scripts. All argument parsing lives here.

parse / verify / schema are pure core. run / demo build a typed request (evmdigest.request) and hand
it to `flows.front_door`, imported only when invoked: the core never imports Prefect at import time.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from evmdigest.emit.verify import verify_object
from evmdigest.fleet.nodes import FleetRequest, parse_node_spec
from evmdigest.fleet.verdict import fleet_json_schema_text
from evmdigest.models import Normalization, OpenMode
from evmdigest.request import DIVERGE_CHOICES, DemoRequest, RequestError, RunRequest
from evmdigest.seidb import ReportError, parse_report
from evmdigest.verdict.records import record_json_schema_text


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
    """Print the JSON outcome on stdout and return its exit code (2 also for a malformed --sha256)."""
    try:
        outcome = verify_object(args.uri, sha256=args.sha256, endpoint_url=args.endpoint_url, region=args.region)
    except ValueError as exc:
        print(f"evm-digest verify: {exc}", file=sys.stderr)
        return 2
    print(outcome.model_dump_json())
    return outcome.exit_code


def _cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(fleet_json_schema_text() if args.fleet else record_json_schema_text())
    return 0


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Request field (= argparse dest) -> the flag that sets it, so errors name what the user typed."""
    return {a.dest: max(a.option_strings, key=len) for a in parser._actions if a.option_strings}


def _given(args: argparse.Namespace, fields: Sequence[str]) -> dict[str, object]:
    # Only what was given: the request's own defaults are the one place defaults live.
    return {name: getattr(args, name) for name in fields if getattr(args, name, None) is not None}


def _cmd_run(args: argparse.Namespace) -> int:
    values = _given(args, list(RunRequest.model_fields))
    if "normalizations" in values:  # a repeated --normalization is harmless on the command line
        values["normalizations"] = tuple(dict.fromkeys(args.normalizations))
    try:
        request = RunRequest.create(**values)
    except RequestError as exc:
        print(f"evm-digest run: {exc.render(_flags(args.parser))}", file=sys.stderr)
        return 2
    code: int = _front_door().run(request)
    return code


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        request = DemoRequest.create(**_given(args, list(DemoRequest.model_fields)))
    except RequestError as exc:
        print(f"evm-digest demo: {exc.render(_flags(args.parser))}", file=sys.stderr)
        return 2
    code: int = _front_door().demo(request)
    return code


def _cmd_fleet(args: argparse.Namespace) -> int:
    values = _given(args, list(FleetRequest.model_fields))
    if "normalizations" in values:
        values["normalizations"] = tuple(dict.fromkeys(args.normalizations))
    try:
        values["nodes"] = tuple(parse_node_spec(spec) for spec in args.nodes)
        request = FleetRequest.create(**values)
        if request.pool is None:
            request.check_local()  # local mode: every node's dirs and seidb are here; fail before Prefect starts
    except RequestError as exc:
        print(f"evm-digest fleet: {exc.render(_flags(args.parser))}", file=sys.stderr)
        return 2
    code: int = importlib.import_module("flows.fleet_front").run_fleet(request)
    return code


def _front_door() -> ModuleType:
    # Prefect is imported here, on demand, so `parse` and `verify` stay fast and server-free.
    return importlib.import_module("flows.front_door")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evm-digest", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("parse", help="parse seidb evm-logical-digest output (any generation) into JSON")
    p.add_argument("file", nargs="?", default="-", help="a file holding seidb's stdout, or - for stdin")
    p.set_defaults(func=_cmd_parse)

    v = sub.add_parser("verify", help="re-hash a published object and compare it with its seal")
    v.add_argument("uri", help="s3://bucket/key or file:///path of an emitted object")
    v.add_argument("--sha256", default=None, help="expected payload SHA-256 (hex), out of band")
    v.add_argument("--endpoint-url", dest="endpoint_url", default=None, help="S3-compatible endpoint")
    v.add_argument("--region", default=None, help="AWS region (default: boto3's chain)")
    v.set_defaults(func=_cmd_verify)

    s = sub.add_parser("schema", help="print the JSON Schema of EndpointDigestRecord (or, --fleet, FleetVerdict)")
    s.add_argument("--fleet", action="store_true", help="the fleet verdict's schema (fleet-digest-<H>.json.gz)")
    s.set_defaults(func=_cmd_schema)

    _add_run(sub)
    _add_demo(sub)
    _add_fleet(sub)
    return parser


# Flags store into the RunRequest/DemoRequest field of the same name (dest), which is how a
# RequestError about a field is shown as the flag.
def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("run", help="run the evm-logical-digest gate flow once and print the verdict")
    r.add_argument("--height", type=int, help="segment boundary height; omit to seal the newest unsealed snapshot")
    r.add_argument("--flatkv-dir", required=True, type=Path)
    r.add_argument("--memiavl-dir", required=True, type=Path)
    r.add_argument(
        "--normalization",
        dest="normalizations",
        action="append",
        choices=[n.value for n in Normalization],
        help="memiavl decoder; repeat for several (default: both)",
    )
    r.add_argument(
        "--memiavl-open-mode", dest="open_mode", choices=[m.value for m in OpenMode], default=OpenMode.SNAPSHOT.value
    )
    r.add_argument(
        "--seidb",
        dest="seidb_path",
        metavar="SEIDB",
        help="seidb binary (default: $EVMDIGEST_SEIDB or `seidb` on PATH)",
    )
    r.add_argument(
        "--sink", dest="sink_url", metavar="SINK", help="s3://bucket/prefix or file:///dir (default: file://./out)"
    )
    r.add_argument("--endpoint-url", help="S3-compatible endpoint for the sink")
    r.add_argument("--region", help="AWS region for the sink")
    r.add_argument("--node", help="node label for records, events and artifacts")
    r.add_argument("--timeout", type=float, help="per-scan timeout in seconds")
    r.set_defaults(func=_cmd_run, parser=r)


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("demo", help="make a simulated node, seal it into a local folder, print the verdict")
    d.add_argument("--dir", type=Path, default=Path("demo-node"), help="where the fixture node is written")
    d.add_argument("--height", type=int, help="default 213200000 (simulated); with --seidb: newest unsealed")
    d.add_argument("--rows", type=int, default=20000)
    d.add_argument("--diverge", choices=DIVERGE_CHOICES)
    d.add_argument(
        "--seidb",
        dest="seidb_path",
        metavar="SEIDB",
        help="use this real seidb against --flatkv-dir/--memiavl-dir instead of the simulator",
    )
    d.add_argument("--flatkv-dir", type=Path, help="with --seidb: the FlatKV dir")
    d.add_argument("--memiavl-dir", type=Path, help="with --seidb: the memiavl root")
    d.add_argument("--sink", dest="sink_url", metavar="SINK", default=None, help="default: file://<dir>/sealed")
    d.set_defaults(func=_cmd_demo, parser=d)


def _add_fleet(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    f = sub.add_parser(
        "fleet",
        help="seal one height on every node and compare the nodes",
        description="Exit 0 all nodes agree and match; 1 a disagreement or mismatch (odd nodes on the last line); "
        "2 incomplete (a node failed or timed out) or bad input; 3 orchestration unavailable.",
    )
    f.add_argument(
        "--node", dest="nodes", action="append", required=True, metavar="NAME=FLATKV_DIR,MEMIAVL_DIR[@QUEUE]",
        help="a node (repeat); QUEUE: its work queue in pool mode (default evm-digest-NAME)",
    )  # fmt: skip
    f.add_argument("--height", type=int, help="height to seal; local mode default: newest snapshot every node has")
    f.add_argument(
        "--normalization", dest="normalizations", action="append", choices=[n.value for n in Normalization],
        help="memiavl decoder; repeat for several (default: both)",
    )  # fmt: skip
    f.add_argument("--pool", help="dispatch each node's gate to its work queue in this pool (needs PREFECT_API_URL)")
    f.add_argument("--seidb", dest="seidb_path", metavar="SEIDB", help="seidb on the nodes (default $EVMDIGEST_SEIDB)")
    f.add_argument("--sink", dest="sink_url", metavar="SINK", help="s3://bucket/prefix or file:///dir shared by all")
    f.add_argument("--endpoint-url", help="S3-compatible endpoint for the sink")
    f.add_argument("--region", help="AWS region for the sink")
    f.add_argument("--node-timeout", type=float, help="seconds to wait for each node's verdict (default 7200)")
    f.add_argument("--timeout", dest="scan_timeout", type=float, help="per-scan timeout in seconds on each node")
    f.set_defaults(func=_cmd_fleet, parser=f)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
