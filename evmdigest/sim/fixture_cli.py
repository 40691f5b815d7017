"""`seidb-sim make-fixture DIR --height H --rows N [options]`: prints the node's summary as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from evmdigest.models import Generation
from evmdigest.sim.fixture import MARKER_ROWS, make_fixture
from evmdigest.sim.generate import DIVERGE_BUCKET
from evmdigest.sim.store import SimError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seidb-sim make-fixture", description="Write a deterministic fixture node.")
    parser.add_argument("dir", type=Path)
    parser.add_argument("--height", type=int, required=True, help="segment-boundary height of the main snapshot")
    parser.add_argument("--rows", type=int, required=True, help="logical rows (300 give the real fixture's shape)")
    parser.add_argument("--diverge", choices=sorted(DIVERGE_BUCKET), help="make the FlatKV side differ by one row")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (same seed, same bytes)")
    parser.add_argument("--extra-snapshots", default="", help="comma-separated heights of more memIAVL snapshots")
    parser.add_argument("--no-snapshot-at-height", action="store_true", help="memIAVL has no snapshot at --height")
    parser.add_argument("--blocks-after", type=int, default=1, help="blocks committed after H (latest = H + this)")
    parser.add_argument("--flatkv-earliest", type=int, help="FlatKV's oldest snapshot (default H-2)")
    parser.add_argument(
        "--migration-marker",
        choices=[*MARKER_ROWS, "none"],
        default="none",
        help="add this migration marker row to FlatKV's misc",
    )
    parser.add_argument("--migrate-keys", help="N or 'all': move the first N memIAVL leaves to FlatKV")
    parser.add_argument("--no-boundary-marker", action="store_true", help="migrating node without its boundary row")
    parser.add_argument(
        "--duplicate-unmigrated",
        type=int,
        default=0,
        help="also write the first K unmigrated leaves to FlatKV (rows on both sides)",
    )
    parser.add_argument(
        "--generation",
        choices=[g.value for g in Generation],
        default=Generation.JSON.value,
        help="which seidb build the stores play",
    )
    parser.add_argument("--slow", type=float, default=0.0, help="seconds each scan takes (faults.slow)")
    parser.add_argument("--progress-every", type=int, help="rows between progress lines (default 20,000,000)")
    return parser


def fixture_main(argv: Sequence[str]) -> int:
    ns = _parser().parse_args(list(argv))
    migrate_keys: int | str | None = ns.migrate_keys
    try:
        if migrate_keys not in (None, "all"):
            migrate_keys = int(str(migrate_keys))
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
            blocks_after=ns.blocks_after,
            flatkv_earliest=ns.flatkv_earliest,
            snapshot_at_height=not ns.no_snapshot_at_height,
            migrate_keys=migrate_keys,
            boundary_marker=not ns.no_boundary_marker,
            duplicate_unmigrated=ns.duplicate_unmigrated,
            progress_every=ns.progress_every,
        )
    except ValueError as exc:
        raise SimError(f"make-fixture: {exc}", usage=False) from None
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0
