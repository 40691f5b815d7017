"""The deterministic EVM state of a fixture node, streamed in each store's own key order.

Shaped like the real fixture (sei-chain 73f917b): 12% accounts, 2% contracts (code), 10% misc, the
rest storage slots spread evenly over the contracts; 300 rows give 36/6/228/30 rows and 306 memIAVL
leaves, as there. Address lists are held in memory; storage slots are regenerated per contract from
their own seeded stream, so a million-row node costs seconds and bounded memory.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass

from evmdigest.sim.leaves import CODE, CODEHASH, NONCE, STORAGE, Leaf
from evmdigest.sim.rows import EVM_PREFIX, ZERO32, account_value

Row = tuple[int, bytes, bytes]  # bucket code, FlatKV physical key, logical value
ACCOUNT, CODE_BUCKET, STORAGE_BUCKET, MISC = 0, 1, 2, 3
MISC_PREFIX = 0x09  # x/evm CodeSizeKeyPrefix: a misc key as seidb classifies it


def plan(rows: int) -> dict[str, int]:
    if rows < 4:
        raise ValueError(f"--rows must be >= 4 (one row per bucket), got {rows}")
    code = max(1, rows * 2 // 100)
    accounts = max(code, rows * 12 // 100)
    misc = max(1, rows // 10)
    storage = rows - accounts - code - misc
    if storage < 1:
        accounts, storage = accounts - 1 + storage, 1
    return {"account": accounts, "code": code, "storage": storage, "misc": misc}


@dataclass(frozen=True)
class State:
    """The node's EVM state at the fixture height."""

    seed: int
    contracts: list[tuple[bytes, bytes, bytes]]  # (address, code, code hash), sorted by address
    accounts: list[tuple[bytes, int, bytes]]  # (address, nonce, code hash), sorted
    misc: list[tuple[bytes, bytes]]  # (raw key, value), sorted
    slots: list[int]  # storage slots per contract, same order as contracts

    @classmethod
    def generate(cls, rows: int, seed: int) -> State:
        counts = plan(rows)
        rng = random.Random(f"evmdigest-sim:{seed}")
        contracts = []
        for _ in range(counts["code"]):
            address, code = rng.randbytes(20), rng.randbytes(rng.randrange(64, 1024))
            contracts.append((address, code, hashlib.sha256(code).digest()))  # any 32 bytes stands in for keccak
        contracts.sort()
        accounts = [(address, 1, code_hash) for address, _, code_hash in contracts]
        accounts += [
            (rng.randbytes(20), rng.randrange(1, 64), ZERO32) for _ in range(counts["account"] - len(contracts))
        ]
        accounts.sort()
        misc = sorted(
            (bytes((MISC_PREFIX,)) + rng.randbytes(20), rng.randbytes(rng.randrange(1, 9)))
            for _ in range(counts["misc"])
        )
        per, extra = divmod(counts["storage"], len(contracts))
        slots = [per + (index < extra) for index in range(len(contracts))]
        return cls(seed, contracts, accounts, misc, slots)

    def storage(self) -> Iterator[tuple[bytes, bytes]]:
        """(address || slot, value) in key order; each contract's slots come from their own stream."""
        for (address, _, _), count in zip(self.contracts, self.slots, strict=True):
            rng = random.Random(f"evmdigest-sim:{self.seed}:storage:{address.hex()}")
            pairs = sorted(
                (rng.randbytes(32), rng.randbytes(31) + bytes((rng.randrange(1, 256),))) for _ in range(count)
            )
            for slot, value in pairs:
                yield address + slot, value

    def rows(self) -> Iterator[Row]:
        """Logical rows in FlatKV physical key order: storage (03), code (07), misc (09), accounts (0a)."""
        for key, value in self.storage():
            yield STORAGE_BUCKET, EVM_PREFIX + bytes((STORAGE,)) + key, value
        for address, code, _ in self.contracts:
            yield CODE_BUCKET, EVM_PREFIX + bytes((CODE,)) + address, code
        for key, value in self.misc:
            yield MISC, EVM_PREFIX + key, value
        for address, nonce, code_hash in self.accounts:
            yield ACCOUNT, EVM_PREFIX + bytes((NONCE,)) + address, account_value(nonce, code_hash)

    def leaves(self) -> Iterator[Leaf]:
        """Raw memIAVL leaves in key order: storage, code, code hashes (08), misc (09), nonces (0a)."""
        for key, value in self.storage():
            yield bytes((STORAGE,)) + key, value
        for address, code, _ in self.contracts:
            yield bytes((CODE,)) + address, code
        for address, _, code_hash in self.contracts:
            yield bytes((CODEHASH,)) + address, code_hash
        yield from self.misc
        for address, nonce, _ in self.accounts:
            yield bytes((NONCE,)) + address, nonce.to_bytes(8, "big")

    def next_block(self) -> tuple[Row, Row]:
        """Block H+1, as in the real fixture: a new account (nonce 1) and one storage slot deleted."""
        rng = random.Random(f"evmdigest-sim:{self.seed}:next-block")
        account = (ACCOUNT, EVM_PREFIX + bytes((NONCE,)) + rng.randbytes(20), account_value(1, ZERO32))
        *_, (last_key, last_value) = self.storage()
        return account, (STORAGE_BUCKET, EVM_PREFIX + bytes((STORAGE,)) + last_key, last_value)


DIVERGE_BUCKET = {"storage": "storage", "account": "account", "code": "code", "misc": "misc", "missing-key": "storage"}


def mutate(diverge: str, value: bytes) -> bytes | None:
    """The FlatKV-side value of the one diverged row; None drops the row (missing-key)."""
    if diverge == "missing-key":
        return None
    if diverge == "account":  # the nonce, as in the real `flatkv-nonce-changed` fixture
        nonce = int.from_bytes(value[32:40], "big") + 1
        return value[:32] + nonce.to_bytes(8, "big") + value[40:]
    return value[:-1] + bytes((value[-1] ^ 0x01,))
