"""`evm-digest`: seal the EVM state of a Sei node; the front door for people and scripts. All argument
parsing lives here.

parse / verify / schema / ledger / localize are pure core (ledger, localize and fleet parse their
arguments in their own *_command modules). run / demo build a typed request (evmdigest.request), check
it completely here (store dirs, seidb, sink URL, bounds) and only then hand it to `flows.front_door`,
which imports Prefect: a bad parameter is answered before any Prefect import or server start; fleet does
the same with a FleetRequest (evmdigest.fleet.nodes) and `flows.fleet_front`. Failures are printed by
evmdigest.exits (one line, a hint, no traceback) with the exit codes in --help.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from evmdigest.argflags import flags_of, given
from evmdigest.exits import (
    COMMON_EXIT_CODES,
    FLEET_EXIT_CODES,
    RUN_EXIT_CODES,
    VERIFY_EXIT_CODES,
    ExitCode,
    print_failure,
)
from evmdigest.fleet_command import add_fleet
from evmdigest.kinds import KIND_HELP
from evmdigest.ledger_command import add_ledger
from evmdigest.localize_command import add_localize
from evmdigest.models import NodeKind, Normalization, OpenMode
from evmdigest.params import MAX_SCAN_TIMEOUT, NODE_LABEL_RULE, SEIDB_ENV, SINK_ENV
from evmdigest.request import DIVERGE_CHOICES, DemoRequest, RequestError, RunRequest
from evmdigest.seidb.guard import guarded


def _cmd_parse(args: argparse.Namespace) -> int:
    from evmdigest.seidb import ReportError, parse_report

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
    from evmdigest.emit.verify import verify_object  # boto3 only when verifying

    try:
        outcome = verify_object(args.uri, sha256=args.sha256, endpoint_url=args.endpoint_url, region=args.region)
    except ValueError as exc:
        print(f"evm-digest verify: {exc}", file=sys.stderr)
        return 2
    print(outcome.model_dump_json())
    return outcome.exit_code


# schema flag (argparse dest) -> (module, function) printing that published object's JSON Schema;
# imported only when asked, so building the parser loads none of them.
SCHEMAS = {
    "divergence": ("evmdigest.localize.model", "divergence_json_schema_text"),
    "node_divergence": ("evmdigest.localize.cross", "node_divergence_json_schema_text"),
    "node_digest": ("evmdigest.verdict.node_records", "node_json_schema_text"),
    "fleet": ("evmdigest.fleet.verdict", "fleet_json_schema_text"),
}
RECORD_SCHEMA = ("evmdigest.verdict.records", "record_json_schema_text")


def _cmd_schema(args: argparse.Namespace) -> int:
    module, function = next((SCHEMAS[dest] for dest in SCHEMAS if getattr(args, dest)), RECORD_SCHEMA)
    sys.stdout.write(getattr(importlib.import_module(module), function)())
    return 0


def _refused(args: argparse.Namespace, exc: RequestError) -> int:
    print(f"evm-digest {args.command}: {exc.render(flags_of(args.parser))}", file=sys.stderr)
    return ExitCode.FAILED


def _cmd_run(args: argparse.Namespace) -> int:
    values = given(args, list(RunRequest.model_fields))
    if "normalizations" in values:  # a repeated --normalization is harmless on the command line
        values["normalizations"] = tuple(dict.fromkeys(args.normalizations))
    try:
        # Everything the flow would refuse is refused here, before Prefect is imported.
        request = RunRequest.create(**values).resolve()
    except RequestError as exc:
        return _refused(args, exc)
    code: int = _front_door().run(request)
    return code


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        request = DemoRequest.create(**given(args, list(DemoRequest.model_fields)))
        code: int = _front_door().demo(request)
    except RequestError as exc:
        return _refused(args, exc)
    return code


def _front_door() -> ModuleType:
    # Prefect is imported here, on demand, so `parse`, `verify` and refused parameters stay fast and server-free.
    return importlib.import_module("flows.front_door")


class _Help(argparse.RawDescriptionHelpFormatter):
    """Keeps the exit-code tables in the epilogs as written."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evm-digest",
        description="Seal the EVM state of a Sei node: FlatKV and memIAVL logical digests compared at one height.",
        epilog=f"{RUN_EXIT_CODES}\n\n{FLEET_EXIT_CODES}\n\n{VERIFY_EXIT_CODES}\n\n{COMMON_EXIT_CODES}",
        formatter_class=_Help,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("parse", help="parse seidb evm-logical-digest output (any generation) into JSON")
    p.add_argument(
        "file", nargs="?", default="-", help="a file holding seidb's stdout (text, --json, pretty JSON), or - for stdin"
    )
    p.set_defaults(func=_cmd_parse)

    v = sub.add_parser(
        "verify",
        help="re-hash a published object and compare it with its seal",
        epilog=VERIFY_EXIT_CODES,
        formatter_class=_Help,
    )
    v.add_argument("uri", help="the object: s3://bucket/key, file:///path or a plain path")
    v.add_argument("--sha256", default=None, help="expected payload SHA-256 (hex), out of band")
    v.add_argument("--endpoint-url", dest="endpoint_url", default=None, help="S3-compatible endpoint (MinIO, R2)")
    v.add_argument("--region", default=None, help="AWS region (default: boto3's chain)")
    v.set_defaults(func=_cmd_verify)

    s = sub.add_parser("schema", help="print the JSON Schema of EndpointDigestRecord (or another published object)")
    s.add_argument("--node-digest", action="store_true", help="NodeDigestRecord: composite, memiavl, flatkv nodes")
    s.add_argument("--divergence", action="store_true", help="the schema of a divergence report's lines instead")
    s.add_argument("--node-divergence", action="store_true", help="the lines of a two-node divergence report")
    s.add_argument("--fleet", action="store_true", help="the fleet verdict's schema (fleet-digest-<H>.json.gz)")
    s.set_defaults(func=_cmd_schema)

    _add_run(sub)
    _add_demo(sub)
    add_ledger(sub)
    add_localize(sub)
    add_fleet(sub)
    return parser


# Flags store into the RunRequest/DemoRequest field of the same name (dest), which is how a
# RequestError about a field is shown as the flag.
def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser(
        "run",
        help="run the evm-logical-digest gate flow once and print the verdict",
        description="Scan the node's stores at one height (by its --kind), gate on the opened versions, "
        "publish sealed records.",
        epilog=RUN_EXIT_CODES,
        formatter_class=_Help,
    )
    r.add_argument("--height", type=int, help="segment boundary height; omit to seal the newest unsealed snapshot")
    r.add_argument(
        "--kind",
        choices=[k.value for k in NodeKind],
        help=f"what the node's EVM state is read from (default pair). {KIND_HELP}",
    )
    r.add_argument("--flatkv-dir", type=Path, help="the node's FlatKV data dir (pair, composite, flatkv)")
    r.add_argument(
        "--memiavl-dir", type=Path, help="the memIAVL root, holding snapshot-<H> dirs (pair, composite, memiavl)"
    )
    r.add_argument(
        "--normalization",
        dest="normalizations",
        action="append",
        choices=[n.value for n in Normalization],
        help="memiavl decoder; repeat for several (default: both)",
    )
    r.add_argument(
        "--memiavl-open-mode",
        dest="open_mode",
        choices=[m.value for m in OpenMode],
        default=OpenMode.SNAPSHOT.value,
        help="snapshot (fast, needs snapshot-<H>) or replay (changelog replay, ~10x slower)",
    )
    r.add_argument(
        "--seidb",
        dest="seidb_path",
        metavar="SEIDB",
        help=f"seidb binary (default: ${SEIDB_ENV} or `seidb` on PATH)",
    )
    r.add_argument(
        "--sink",
        dest="sink_url",
        metavar="SINK",
        help=f"s3://bucket/prefix, file:///dir or a plain path (default: ${SINK_ENV}, else ./out)",
    )
    r.add_argument("--endpoint-url", help="S3-compatible endpoint for the sink (MinIO, R2)")
    r.add_argument("--region", help="AWS region for the sink")
    r.add_argument("--node", help=f"node label for records, events and artifacts: {NODE_LABEL_RULE}")
    r.add_argument(
        "--timeout", type=float, help=f"per-scan timeout in seconds, > 0 and <= {MAX_SCAN_TIMEOUT:g} (default 3600)"
    )
    r.add_argument(
        "--allow-overwriting-store",
        action="store_true",
        default=None,
        help="publish even if the sink ignores conditional writes (the write-once probe fails): "
        "a second run could overwrite a sealed verdict",
    )
    r.add_argument(
        "--no-localize", dest="localize", action="store_false", default=None, help="do not localize a mismatch"
    )
    r.add_argument("--localize-max-keys", type=int, help="diverging keys named per bucket at most (default 1000)")
    r.set_defaults(func=_cmd_run, parser=r)


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser(
        "demo",
        help="make a simulated node, seal it into a local folder, print the verdict",
        epilog=RUN_EXIT_CODES,
        formatter_class=_Help,
    )
    d.add_argument("--dir", type=Path, default=Path("demo-node"), help="where the fixture node is written")
    d.add_argument("--height", type=int, help="default 213200000 (simulated); with --seidb: newest unsealed")
    d.add_argument("--rows", type=int, default=20000, help="rows in the simulated stores")
    d.add_argument("--diverge", choices=DIVERGE_CHOICES, help="make memIAVL differ from FlatKV in this bucket")
    d.add_argument(
        "--seidb",
        dest="seidb_path",
        metavar="SEIDB",
        help="use this real seidb against --flatkv-dir/--memiavl-dir instead of the simulator",
    )
    d.add_argument("--flatkv-dir", type=Path, help="with --seidb: the FlatKV dir")
    d.add_argument("--memiavl-dir", type=Path, help="with --seidb: the memiavl root")
    d.add_argument(
        "--sink", dest="sink_url", metavar="SINK", default=None, help="a sink URL or plain path (default: <dir>/sealed)"
    )
    d.set_defaults(func=_cmd_demo, parser=d)


# Stopped cleanly on SIGINT/SIGTERM, swept after kill -9 (seidb/guard.py); fleet: its local-mode gates scan here.
SCANNING_COMMANDS = ("run", "demo", "localize", "fleet")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in SCANNING_COMMANDS:
            code: int = guarded(lambda: int(args.func(args)))
        else:
            code = args.func(args)
    except KeyboardInterrupt:
        print("evm-digest: interrupted", file=sys.stderr)
        return ExitCode.SIGINT
    except Exception as exc:  # every failure ends as one line + hint and a code from the table, never a traceback
        return print_failure(exc)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
