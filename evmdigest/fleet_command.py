"""`evm-digest fleet`: its arguments and handler (the fleet and Prefect are imported when it runs)."""

from __future__ import annotations

import argparse
import importlib
import sys

from evmdigest.argflags import flags_of, given
from evmdigest.exits import FLEET_EXIT_CODES, ExitCode
from evmdigest.models import Normalization
from evmdigest.params import MAX_SCAN_TIMEOUT, SEIDB_ENV, SINK_ENV
from evmdigest.request import RequestError


def _cmd_fleet(args: argparse.Namespace) -> int:
    from evmdigest.fleet.nodes import FleetRequest, parse_node_spec

    values = given(args, list(FleetRequest.model_fields))
    if "normalizations" in values:
        values["normalizations"] = tuple(dict.fromkeys(args.normalizations))
    try:
        values["nodes"] = tuple(parse_node_spec(spec) for spec in args.nodes)
        request = FleetRequest.create(**values)
        if request.pool is None:
            request.check_local()  # local mode: every node's dirs and seidb are here; fail before Prefect starts
    except RequestError as exc:
        print(f"evm-digest fleet: {exc.render(flags_of(args.parser))}", file=sys.stderr)
        return ExitCode.FAILED
    code: int = importlib.import_module("flows.fleet_front").run_fleet(request)
    return code


def add_fleet(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    f = sub.add_parser(
        "fleet",
        help="seal one height on every node and compare the nodes",
        description="Run every node's gate at one height (here, or with --pool on each node's worker), "
        "compare the nodes' logical digests (any kind against any kind) and seal the fleet verdict.",
        epilog=FLEET_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    f.add_argument(
        "--node", dest="nodes", action="append", required=True, metavar="NAME=[KIND:]DIRS[@QUEUE]",
        help="a node (repeat): NAME=FLATKV_DIR,MEMIAVL_DIR (pair), NAME=composite:FLATKV_DIR,MEMIAVL_DIR "
        "(mid-migration), NAME=memiavl:MEMIAVL_DIR (unmigrated), NAME=flatkv:FLATKV_DIR (migrated); "
        "QUEUE: its work queue in pool mode (default evm-digest-NAME)",
    )  # fmt: skip
    f.add_argument("--height", type=int, help="height to seal; local mode default: newest snapshot every node has")
    f.add_argument(
        "--normalization", dest="normalizations", action="append", choices=[n.value for n in Normalization],
        help="memiavl decoder; repeat for several (default: both)",
    )  # fmt: skip
    f.add_argument("--pool", help="dispatch each node's gate to its work queue in this pool (needs PREFECT_API_URL)")
    f.add_argument(
        "--seidb",
        dest="seidb_path",
        metavar="SEIDB",
        help=f"seidb on the nodes (default: ${SEIDB_ENV} or `seidb` on PATH)",
    )
    f.add_argument(
        "--sink",
        dest="sink_url",
        metavar="SINK",
        help=f"s3://bucket/prefix, file:///dir or a plain path shared by all nodes (default: ${SINK_ENV}, else ./out)",
    )
    f.add_argument("--endpoint-url", help="S3-compatible endpoint for the sink (MinIO, R2)")
    f.add_argument("--region", help="AWS region for the sink")
    f.add_argument(
        "--node-timeout",
        type=float,
        help=f"seconds to wait for each node's verdict, queue wait included, <= {MAX_SCAN_TIMEOUT:g} (default 7200)",
    )
    f.add_argument(
        "--timeout",
        dest="scan_timeout",
        type=float,
        help=f"per-scan timeout in seconds on each node, > 0 and <= {MAX_SCAN_TIMEOUT:g} (default 3600)",
    )
    f.set_defaults(func=_cmd_fleet, parser=f)
