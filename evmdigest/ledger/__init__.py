"""The ledger: every sealed endpoint record and fleet verdict under a sink, verified, as one pandas table.

    sink = open_ledger_sink("s3://bucket/evm-digest")       # pool sized for the parallel reads
    ledger = build_ledger(sink, interval=10_000)            # list, verify every seal, read every record
    ledger.table            # height, node, normalization, match, mismatched buckets, digests, sealed, uri, …
    ledger.missing          # heights missing per node (interval and/or memIAVL snapshot list)
    ledger.disagreements    # nodes with different FlatKV digests at one height/normalization
    ledger.unverifiable     # unreadable, bad or missing seal, tampered, not a record: with the reason
    ledger.exit_code        # 0 all verified and consistent, 1 findings (LedgerError: the sink is unreadable)

rows.py (a row per object; the loose fleet reader), scan.py (listing, bounded parallel reads through
emit's `verify_key`), views.py (the table and the derived views), report.py (Ledger, summary, writers).
"""

from evmdigest.ledger.report import EXIT_FINDINGS, EXIT_OK, Ledger, build_ledger
from evmdigest.ledger.rows import COLUMNS, FleetSummary, read_fleet
from evmdigest.ledger.scan import DEFAULT_WORKERS, LedgerError, open_ledger_sink

__all__ = [
    "COLUMNS",
    "DEFAULT_WORKERS",
    "EXIT_FINDINGS",
    "EXIT_OK",
    "FleetSummary",
    "Ledger",
    "LedgerError",
    "build_ledger",
    "open_ledger_sink",
    "read_fleet",
]
