"""evm-digest core: seidb contract layer, verdict records, sealed emission and tables.

Nothing in this package imports Prefect, so every decision it makes is testable without a server.
"""

__version__ = "0.1.0"
