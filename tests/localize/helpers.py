"""Shared by the localization tests: a verdict on a node, a localization of it, and the truth to compare with.

The truth comes from the stores' own rows (FlatKV rows.bin, the fixture's generated state), never from
the localization code under test.
"""

from __future__ import annotations

from pathlib import Path

from evmdigest.localize.model import Limits, Localization
from evmdigest.localize.passes import Node, PassCache, SeidbPasses
from evmdigest.localize.run import localize, record_buckets, unknown
from evmdigest.models import BUCKETS, Backend, Normalization
from evmdigest.seidb import DigestRequest, SeidbRunner
from evmdigest.sim.generate import State
from evmdigest.sim.rows import evm_key, iter_rows
from evmdigest.sim.store import ROWS_NAME
from evmdigest.verdict.records import EndpointDigestRecord, compare
from tests.plugins.sim import SimNode

HEIGHT = 1000
Rows = list[tuple[str, bytes, bytes]]
Truth = set[tuple[str, str, str | None, str | None]]  # bucket, key, flatkv logical, memiavl logical


def runner(binary: Path) -> SeidbRunner:
    return SeidbRunner(binary, timeout=120, env={"SEI_LOG_OUTPUT": "stderr"})


def verdict(
    binary: Path, flatkv_dir: Path, memiavl_dir: Path, normalization: Normalization = Normalization.SEMANTIC
) -> EndpointDigestRecord:
    run = runner(binary)
    flatkv = run.run_digest(DigestRequest(Backend.FLATKV, flatkv_dir, HEIGHT)).report
    memiavl = run.run_digest(DigestRequest(Backend.MEMIAVL, memiavl_dir, HEIGHT, normalization)).report
    return compare(HEIGHT, normalization, flatkv, memiavl)


def localize_dirs(
    binary: Path,
    flatkv_dir: Path,
    memiavl_dir: Path,
    *,
    limits: Limits | None = None,
    normalization: Normalization = Normalization.SEMANTIC,
    record: EndpointDigestRecord | None = None,
    buckets: tuple[str, ...] | None = None,
    cache: PassCache | None = None,
) -> Localization:
    """Localize as the flow does (from `record`, default: a fresh verdict) or, with `buckets`, ad hoc."""
    passes = SeidbPasses(runner(binary), Node(flatkv_dir, memiavl_dir, HEIGHT, normalization), cache)
    if buckets is not None:
        expected = unknown(buckets)
    else:
        expected = record_buckets(record or verdict(binary, flatkv_dir, memiavl_dir, normalization))
    return localize(passes, expected, limits=limits or Limits())


def found(localization: Localization) -> Truth:
    return {(k.bucket, k.key, k.flatkv, k.memiavl) for k in localization.keys}


def _rows_map(rows: Rows | list[tuple[int, bytes, bytes]]) -> dict[str, tuple[str, str]]:
    out = {}
    for bucket, key, value in rows:
        name = bucket if isinstance(bucket, str) else BUCKETS[bucket]
        out[key.hex().upper()] = (name, value.hex().upper())
    return out


def diff(flatkv: dict[str, tuple[str, str]], memiavl: dict[str, tuple[str, str]]) -> Truth:
    truth = set()
    for key in flatkv.keys() | memiavl.keys():
        left, right = flatkv.get(key), memiavl.get(key)
        if left != right:
            bucket = (left or right or ("", ""))[0]
            truth.add((bucket, key, left[1] if left else None, right[1] if right else None))
    return truth


def node_truth(node: SimNode) -> Truth:
    """make_node's divergence, from FlatKV's rows.bin against the state the fixture generated."""
    state = State.generate(node.summary["rows"]["total"], node.summary["seed"])
    return diff(_rows_map(list(iter_rows(node.flatkv_dir / ROWS_NAME))), _rows_map(list(state.rows())))


def rows_truth(flatkv: Rows, memiavl: Rows) -> Truth:
    return diff(_rows_map(flatkv), _rows_map(memiavl))


def storage_rows(contracts: int, slots: int, seed: int = 7) -> Rows:
    """`slots` storage rows under each of `contracts` addresses (deterministic, distinct, non-zero)."""
    rows = []
    for c in range(contracts):
        address = bytes([(c * 37 + seed) % 256]) + bytes([c + 1]) * 19
        for s in range(slots):
            slot = bytes([(s * 53 + c) % 256, s]) + bytes([seed]) * 30
            rows.append(("storage", evm_key("storage", address, slot), bytes([s + 1]) * 32))
    return rows


def account_rows(count: int) -> Rows:
    rows = []
    for a in range(count):
        address = bytes([(a * 91 + 3) % 256, a]) + bytes([0xA0]) * 18
        value = bytes(31) + bytes([a % 7]) + (a + 1).to_bytes(8, "big") + bytes([a]) * 32
        rows.append(("account", evm_key("account", address), value))
    return rows


def changed(rows: Rows, index: int, byte: int = 0x55) -> Rows:
    """Rows with row `index`'s value altered in its last byte."""
    bucket, key, value = rows[index]
    return [*rows[:index], (bucket, key, value[:-1] + bytes([value[-1] ^ byte])), *rows[index + 1 :]]
