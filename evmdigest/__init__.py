"""evm-digest core, grouped by capability. Nothing in this package imports Prefect, so every decision
it makes is testable without a server (tests/test_structure.py enforces it, and that no import circles).

- `seidb/`   run seidb's commands safely and read their output (process runner, argv, parsers).
- `emit/`    sealed, write-once emission to every sink scheme (registry), and `verify`.
- `verdict/` records + compare, the version gate, the publish policy, what a run produced.
- `models.py`, `digest.py`, `segments.py`, `tables.py`, `request.py` (run parameters), `cli.py`.
- `sim/`     seidb-sim, the contract-faithful simulator.
"""

__version__ = "0.1.0"
