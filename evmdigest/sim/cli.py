"""`seidb-sim`: the seidb `evm-logical-digest` command over fixture nodes, plus `make-fixture`.

Errors end like the real binary's: exit 1, the error text on stdout (seidb's main prints it), and
`Error: <text>` followed by cobra's whole usage text on stderr. Go installs no signal handlers, so
SIGINT/SIGTERM/SIGPIPE end the process without cleanup (a FlatKV clone stays behind), here as there.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from evmdigest.models import Generation
from evmdigest.sim.composite import run_composite
from evmdigest.sim.fixture_cli import fixture_main
from evmdigest.sim.flags import Flags, parse_flags
from evmdigest.sim.goutil import hex_decode
from evmdigest.sim.inspect_scan import InspectRequest, run_inspect
from evmdigest.sim.scan import ScanRequest, run_flatkv, run_memiavl
from evmdigest.sim.seilog import Logs
from evmdigest.sim.store import CONFIG_NAME, GENERATION_ENV, SimError, read_config
from evmdigest.sim.usage import help_text, usage

TOP_HELP = """seidb-sim simulates the seidb tool over fixture nodes written by `make-fixture`.

Usage:
  seidb-sim [command]

Available Commands:
  evm-logical-digest  Compute logical digests of EVM state (FlatKV, memIAVL or composite)
  make-fixture        Write a deterministic fixture node (FlatKV dir + memIAVL root)

Use "seidb-sim [command] --help" for more information about a command.
"""
NORMALIZATIONS = {"": "semantic", "semantic": "semantic", "independent": "semantic", "translator": "translator"}


def _env_generation() -> Generation | None:
    raw = os.environ.get(GENERATION_ENV)
    if not raw:
        return None
    try:
        return Generation(raw)
    except ValueError:
        raise SimError(f"{GENERATION_ENV}={raw!r}: expected legacy, misc or json", usage=False) from None


def _store_generation(argv: Sequence[str]) -> Generation:
    """Which build this run plays: the env (a property of the binary) or else the store's config."""
    from_env = _env_generation()
    if from_env is not None:
        return from_env
    flags = parse_flags([arg for arg in argv if arg.split("=")[0] != "--json"], json_flag=False)
    backend, height = flags.string("backend"), flags.int("height")
    if backend == "memiavl":
        root = Path(flags.string("db-dir"))
        # the snapshot asked for, else any snapshot of the root: all of a node's stores play one build
        wanted = root / ("current" if height == 0 else f"snapshot-{height:020d}")
        candidates = [wanted, *sorted(root.glob("snapshot-*"))] if root.is_dir() else [wanted]
    else:
        candidates = [Path(flags.string("flatkv-dir") if backend == "composite" else flags.string("db-dir"))]
    for store in candidates:
        if (store / CONFIG_NAME).is_file():
            try:
                raw = read_config(store).get("generation")
            except SimError:
                continue
            if raw in {g.value for g in Generation}:
                return Generation(raw)
    return Generation.JSON


def _requests(flags: Flags) -> tuple[ScanRequest, InspectRequest | None]:
    backend, db_dir = flags.string("backend"), flags.string("db-dir")
    if db_dir == "" and backend != "composite":
        raise SimError("must provide --db-dir")
    find_hash = None
    inspect = None
    if flags.string("inspect-bucket"):
        try:
            prefix = hex_decode(flags.string("key-prefix"))
        except ValueError as exc:
            raise SimError(f"decode --key-prefix: {exc}") from None
        inspect = InspectRequest(
            bucket=flags.string("inspect-bucket"),
            key_offset=flags.int("key-offset"),
            key_prefix=prefix,
            shard_next_bytes=flags.int("shard-next-bytes"),
            list=flags.bool("list"),
            list_limit=flags.int("list-limit"),
            details=flags.bool("details"),
        )
    elif flags.string("find-hash"):
        try:
            find_hash = hex_decode(flags.string("find-hash"))
        except ValueError as exc:
            raise SimError(f"decode --find-hash: {exc}") from None
        if len(find_hash) != 32:
            raise SimError(f"--find-hash must be 32 bytes, got {len(find_hash)}")
    request = ScanRequest(
        backend=backend,
        db_dir=db_dir,
        height=flags.int("height"),
        normalization=NORMALIZATIONS.get(flags.string("memiavl-normalization"), flags.string("memiavl-normalization")),
        open_mode=flags.string("memiavl-open-mode"),
        json_output=flags.bool("json"),
        find_hash=find_hash,
        flatkv_dir=flags.string("flatkv-dir"),
        memiavl_dir=flags.string("memiavl-dir"),
    )
    return request, inspect


def _check_memiavl(request: ScanRequest, logs: Logs) -> None:
    if request.open_mode not in ("", "snapshot", "replay"):
        raise SimError(f'unknown --memiavl-open-mode "{request.open_mode}" (want snapshot|replay)')
    if request.normalization not in ("semantic", "translator"):
        if request.open_mode == "replay":  # seidb opens (and replays) the DB before it looks at this flag
            from evmdigest.sim.memiavl import open_replay

            open_replay(request.db_dir, request.height, logs)
        raise SimError(
            f'unknown --memiavl-normalization "{request.normalization}" (want semantic|independent|translator)'
        )


def digest_main(argv: Sequence[str], json_flag: bool) -> int:
    flags = parse_flags(list(argv), json_flag=json_flag)
    if flags.bool("help"):
        sys.stdout.write(help_text(json_flag))
        return 0
    request, inspect = _requests(flags)
    logs = Logs()
    if inspect is not None:
        return run_inspect(request, inspect, logs)
    if request.backend == "flatkv":
        return run_flatkv(request, logs)
    if request.backend == "memiavl":
        _check_memiavl(request, logs)
        return run_memiavl(request, logs)
    if request.backend == "composite":
        return run_composite(request, logs)
    raise SimError(f'unknown --backend "{request.backend}" (want flatkv|memiavl|composite)')


def main(argv: Sequence[str] | None = None) -> int:
    for signum in (signal.SIGINT, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_DFL)  # like Go: no handler, the process just ends
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(TOP_HELP)
        return 0
    command, rest = args[0], args[1:]
    if command not in ("evm-logical-digest", "make-fixture"):
        message = f'unknown command "{command}" for "seidb"'
        sys.stdout.write(f"{message}\n")
        sys.stderr.write(f"Error: {message}\nRun 'seidb --help' for usage.\n")
        return 1
    json_flag = True
    try:
        if command == "make-fixture":
            return fixture_main(rest)
        json_flag = _store_generation(rest) is Generation.JSON
        return digest_main(rest, json_flag)
    except SimError as exc:
        # seidb's main prints the error with fmt.Println (stdout); cobra writes `Error: ...` + usage to stderr
        sys.stdout.write(f"{exc}\n")
        sys.stdout.flush()
        tail = usage(json_flag) + "\n" if exc.usage and command == "evm-logical-digest" else ""
        sys.stderr.write(f"Error: {exc}\n{tail}")
        return 1
