"""seidb-sim: a stand-in for `seidb evm-logical-digest` over deterministic fixture nodes.

It speaks seidb's CLI and behaves like the real build recorded in tests/data/seidb-reports/real-73f917b
(texts, streams, exit codes, the FlatKV clone inside the dir, the replay clamp, inspect, composite),
computes real digests, and prints reports through the pipeline's own renderer. Store knobs and faults
are documented in `evmdigest.sim.store`.
"""

from evmdigest.sim.fixture import make_fixture, write_node
from evmdigest.sim.store import FAULT_KEYS, SimError

__all__ = ["FAULT_KEYS", "SimError", "make_fixture", "write_node"]
