"""`evm-digest localize`: its arguments and handler. Kept apart from cli.py (which stays argparse for the
other commands) and from the localize package, which is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evmdigest.argflags import flags_of, given
from evmdigest.models import BUCKETS, Normalization

LOCALIZE_EPILOG = """exit codes (localize):
  0    no divergence in the named buckets
  1    divergence found (keys named, or a bucket capped / changed as a whole / left incomplete)
  2    failure: a parameter, seidb or the sink (seidb's own error line, then the command)
  130  interrupted (SIGINT); 143 terminated (SIGTERM)"""


def _cmd_localize(args: argparse.Namespace) -> int:
    from evmdigest.localize.command import EXIT_FAILURE, run_localize
    from evmdigest.request import LocalizeRequest, RequestError

    flags = flags_of(args.parser)
    two_nodes = args.node_a is not None or args.node_b is not None
    try:
        if two_nodes:
            return _two_nodes(args, flags)
        if args.flatkv_dir is None or args.memiavl_dir is None:
            raise RequestError(
                "flatkv_dir", "give {flatkv_dir} and {memiavl_dir} (one node), or {node_a} and {node_b} (two nodes)"
            )
        request = LocalizeRequest.create(**given(args, list(LocalizeRequest.model_fields)))
    except RequestError as exc:
        print(f"evm-digest localize: {exc.render(flags)}", file=sys.stderr)
        return EXIT_FAILURE
    return run_localize(request, flags=flags)


def _two_nodes(args: argparse.Namespace, flags: dict[str, str]) -> int:
    from evmdigest.localize.command import run_localize_nodes
    from evmdigest.request import NodesLocalizeRequest, RequestError

    if args.flatkv_dir is not None or args.memiavl_dir is not None or args.node is not None:
        raise RequestError("node_a", "{node_a} / {node_b} name both nodes and their dirs: drop {flatkv_dir}, "
                           "{memiavl_dir} and {node}")  # fmt: skip
    if args.node_a is None or args.node_b is None:
        raise RequestError("node_b" if args.node_b is None else "node_a", "give both {node_a} and {node_b}")
    request = NodesLocalizeRequest.create(**given(args, list(NodesLocalizeRequest.model_fields)))
    return run_localize_nodes(request, flags=flags)


def add_localize(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    loc = sub.add_parser(
        "localize",
        help="name the keys behind a bucket mismatch (exit 0 no divergence, 1 divergence found, 2 failure)",
        description="Shard and list a node's buckets on both stores with seidb until the diverging keys are named;"
        " or, with --node-a/--node-b, between two nodes (a mid-migration composite node and a reference).",
        epilog=LOCALIZE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    loc.add_argument("--height", type=int, required=True, help="the height to compare (both stores must hold it)")
    loc.add_argument("--flatkv-dir", type=Path, help="one node: its FlatKV data dir")
    loc.add_argument("--memiavl-dir", type=Path, help="one node: its memIAVL root (holds snapshot-<H> dirs)")
    loc.add_argument(
        "--node-a",
        metavar="NAME=KIND:DIRS",
        help="two nodes instead: e.g. mid=composite:FLATKV,MEMIAVL (kinds: composite, pair, memiavl, flatkv)",
    )
    loc.add_argument(
        "--node-b",
        metavar="NAME=KIND:DIRS",
        help="the node to compare with, e.g. ref=memiavl:DIR, ref=flatkv:DIR or ref=FLATKV,MEMIAVL (pair: its FlatKV)",
    )
    loc.add_argument(
        "--bucket", dest="buckets", action="append", required=True, choices=BUCKETS, help="repeat for several"
    )
    loc.add_argument("--normalization", choices=[n.value for n in Normalization], help="memiavl decoder (semantic)")
    loc.add_argument("--seidb", dest="seidb_path", metavar="SEIDB", help="default: $EVMDIGEST_SEIDB or `seidb`")
    loc.add_argument("--max-keys", type=int, help="keys named per bucket at most (default 1000; more: capped)")
    loc.add_argument("--max-passes", type=int, help="seidb passes per bucket at most (default 32)")
    loc.add_argument("--sink", dest="sink_url", metavar="SINK", help="seal the report there (s3://… or file:///…)")
    loc.add_argument("--node", help="one node: its label; the report goes under <sink>/<node>/ (two nodes: A's name)")
    loc.add_argument("--timeout", type=float, help="per-pass timeout in seconds")
    loc.set_defaults(func=_cmd_localize, parser=loc)
