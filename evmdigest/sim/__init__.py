"""seidb-sim: a stand-in for `seidb evm-logical-digest` over deterministic fixture nodes.

It speaks seidb's CLI, prints every report generation through the pipeline's own renderer and computes
real digests, so demos, tests and benchmarks run without a Sei node. Faults are documented in
`evmdigest.sim.store`.
"""

from evmdigest.sim.fixture import make_fixture, write_node
from evmdigest.sim.store import FAULT_KEYS, SimError

__all__ = ["FAULT_KEYS", "SimError", "make_fixture", "write_node"]
