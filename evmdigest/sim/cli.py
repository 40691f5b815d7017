"""`seidb-sim`: the seidb `evm-logical-digest` CLI over fixture nodes, plus `make-fixture`.

Flag errors look like cobra's (`Error: unknown flag: --json`, exit 1) because the pipeline tells
seidb generations apart by exactly those symptoms.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from evmdigest.models import HEX64, Generation
from evmdigest.sim.fixture import DIVERGE_BUCKET, MARKER_ROWS, make_fixture
from evmdigest.sim.scan import ScanRequest, run_scan
from evmdigest.sim.store import GENERATION_ENV, SimError, open_flatkv, open_memiavl

TOP_HELP = """seidb-sim simulates the seidb tool over fixture nodes written by `make-fixture`.

Usage:
  seidb-sim [command]

Available Commands:
  evm-logical-digest  Compute logical digests of EVM state (FlatKV or memIAVL)
  make-fixture        Write a deterministic fixture node (FlatKV dir + memIAVL root)

Use "seidb-sim [command] --help" for more information about a command.
"""

_DIGEST_HELP = """Compute order-independent logical digests of the EVM state of a FlatKV store or a memIAVL
snapshot, per bucket (account, code, storage, misc) and as one final digest.

Usage:
  seidb evm-logical-digest [flags]

Flags:
      --backend string                 flatkv | memiavl
  -d, --db-dir string                  FlatKV dir or memIAVL root
      --find-hash string               print FOUND-HASH lines for entries with this 32-byte entry hash
  -h, --help                           help for evm-logical-digest
      --height int                     version to open (0 = tip / current snapshot)
{json_line}      --memiavl-normalization string   semantic | independent | translator (default "semantic")
      --memiavl-open-mode string       snapshot | replay (default "snapshot")
"""
_JSON_HELP_LINE = "      --json                           print one JSON report object on stdout; narration to stderr\n"
_NEEDS_ARG = re.compile(r"^argument (?:(-\w)/)?(--[\w-]+): expected one argument$")


class _CobraParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        match = _NEEDS_ARG.match(message)
        raise SimError(f"flag needs an argument: {match.group(2)}" if match else message, usage=True)


def _binary_generation() -> Generation:
    raw = os.environ.get(GENERATION_ENV) or Generation.JSON.value
    try:
        return Generation(raw)
    except ValueError:
        raise SimError(f"{GENERATION_ENV}={raw!r}: expected legacy, misc or json") from None


def _digest_parser(json_flag: bool) -> _CobraParser:
    parser = _CobraParser(prog="seidb evm-logical-digest", add_help=False, allow_abbrev=False)
    parser.add_argument("--backend", default="")
    parser.add_argument("-d", "--db-dir", default="")
    parser.add_argument("--height", default="0")
    parser.add_argument("--memiavl-normalization", default="semantic")
    parser.add_argument("--memiavl-open-mode", default="snapshot")
    parser.add_argument("--find-hash", default="")
    if json_flag:  # older generations have no --json: cobra rejects it as an unknown flag
        parser.add_argument("--json", action="store_true")
    return parser


def _reject_extras(extras: list[str]) -> None:
    for extra in extras:
        if extra.startswith("--"):
            raise SimError(f"unknown flag: {extra.split('=', 1)[0]}", usage=True)
        if extra.startswith("-") and len(extra) > 1:
            raise SimError(f"unknown shorthand flag: '{extra[1]}' in {extra}", usage=True)
        raise SimError(f'unknown command "{extra}" for "seidb evm-logical-digest"', usage=True)


def _request(ns: argparse.Namespace) -> ScanRequest:
    try:
        height = int(ns.height, 10)
    except ValueError:
        go_error = f'strconv.ParseInt: parsing "{ns.height}": invalid syntax'
        raise SimError(f'invalid argument "{ns.height}" for "--height" flag: {go_error}', usage=True) from None
    if height < 0:
        raise SimError(f"--height must be >= 0 (0 means current), got {height}")
    if ns.backend == "composite":
        raise SimError("seidb-sim does not simulate --backend composite (use flatkv or memiavl)")
    if ns.backend not in ("flatkv", "memiavl"):
        raise SimError(f'unsupported backend "{ns.backend}" (want flatkv, memiavl or composite)')
    if not ns.db_dir:
        raise SimError("--db-dir (-d) is required")
    normalization = {"semantic": "semantic", "independent": "semantic", "translator": "translator"}.get(
        ns.memiavl_normalization
    )
    if normalization is None:
        raise SimError(f'unsupported memiavl normalization "{ns.memiavl_normalization}" (want semantic|translator)')
    if ns.memiavl_open_mode not in ("snapshot", "replay"):
        raise SimError(f'unsupported memiavl open mode "{ns.memiavl_open_mode}" (want snapshot|replay)')
    if ns.find_hash and not HEX64.match(ns.find_hash):
        raise SimError(f"--find-hash must be a 32-byte hex entry hash, got {ns.find_hash!r}")
    memiavl = ns.backend == "memiavl"
    return ScanRequest(
        backend=ns.backend,
        db_dir=ns.db_dir,
        height=height,
        normalization=normalization if memiavl else None,
        open_mode=ns.memiavl_open_mode if memiavl else "snapshot",
        json_output=bool(getattr(ns, "json", False)),
        find_hash=bytes.fromhex(ns.find_hash) if ns.find_hash else None,
    )


def digest_main(argv: Sequence[str]) -> int:
    json_flag = _binary_generation() is Generation.JSON
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(_DIGEST_HELP.format(json_line=_JSON_HELP_LINE if json_flag else ""))
        return 0
    ns, extras = _digest_parser(json_flag).parse_known_args(list(argv))
    _reject_extras(extras)
    request = _request(ns)
    db_dir = Path(request.db_dir)
    store = open_flatkv(db_dir, request.height) if request.backend == "flatkv" else open_memiavl(db_dir, request.height)
    if request.json_output and store.generation != Generation.JSON.value:
        raise SimError("unknown flag: --json", usage=True)  # this store plays an older seidb build
    return run_scan(store, request)


def fixture_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="seidb-sim make-fixture", description="Write a deterministic fixture node.")
    parser.add_argument("dir", type=Path)
    parser.add_argument("--height", type=int, required=True, help="segment-boundary height of the main snapshot")
    parser.add_argument("--rows", type=int, required=True, help="logical rows (memiavl side)")
    parser.add_argument("--diverge", choices=sorted(DIVERGE_BUCKET), help="make the FlatKV side differ by one row")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--extra-snapshots", default="", help="comma-separated heights of more snapshot dirs")
    parser.add_argument("--migration-marker", choices=[*MARKER_ROWS, "none"], default="none")
    parser.add_argument("--generation", choices=[g.value for g in Generation], default=Generation.JSON.value)
    parser.add_argument("--slow", type=float, default=0.0, help="seconds each scan takes (faults.slow)")
    ns = parser.parse_args(list(argv))
    try:
        extras = [int(part) for part in ns.extra_snapshots.split(",") if part.strip()]
        summary = make_fixture(
            ns.dir,
            height=ns.height,
            rows=ns.rows,
            diverge=ns.diverge,
            seed=ns.seed,
            extra_snapshots=extras,
            migration_marker=ns.migration_marker,
            generation=ns.generation,
            slow=ns.slow,
        )
    except ValueError as exc:
        raise SimError(f"make-fixture: {exc}") from None
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if not args or args[0] in ("-h", "--help", "help"):
            sys.stdout.write(TOP_HELP)
            return 0
        if args[0] == "evm-logical-digest":
            return digest_main(args[1:])
        if args[0] == "make-fixture":
            return fixture_main(args[1:])
        raise SimError(f'unknown command "{args[0]}" for "seidb"')
    except SimError as exc:
        # seidb's main prints the error with fmt.Println (stdout); cobra writes `Error: ...` to stderr
        sys.stdout.write(f"{exc}\n")
        sys.stdout.flush()
        hint = "Run 'seidb evm-logical-digest --help' for usage.\n" if exc.usage else ""
        sys.stderr.write(f"Error: {exc}\n{hint}")
        return 1
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): exit quietly instead of a traceback at interpreter exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
