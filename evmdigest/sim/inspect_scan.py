"""`--inspect-bucket`: shard digests or a key listing of one bucket, printed as 73f917b prints them.

Text: `key=` lines stream out while scanning (memIAVL accounts only at finalize, in map order), then
memIAVL's `  memiavl inspect total leaves=<n>`, then `version:`, the `inspect bucket=` header, and the
`listed=` line or the sorted `shard=` lines. `--json` builds print one object shaped like sei-chain's
golden inspect cases instead (narration on stderr).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from evmdigest.digest import BucketAccumulator
from evmdigest.models import BUCKETS
from evmdigest.sim.digester import Divergence
from evmdigest.sim.leaves import STORAGE, Decoder
from evmdigest.sim.memiavl import open_snapshot
from evmdigest.sim.narrate import FLATKV_NORMALIZATION, FLATKV_SOURCE, MEMIAVL_TEXTS, Out
from evmdigest.sim.rows import block_height
from evmdigest.sim.scan import EVM, ScanRequest, open_flatkv_for, out_for, start_faults
from evmdigest.sim.seilog import Logs
from evmdigest.sim.store import SimError, StoreConfig

MARKERS = (b"migration/migration-version", b"migration/migration-boundary")


@dataclass(frozen=True)
class InspectRequest:
    bucket: str
    key_offset: int
    key_prefix: bytes
    shard_next_bytes: int
    list: bool
    list_limit: int
    details: bool


class Accumulator:
    """seidb's inspectAccumulator."""

    def __init__(self, request: InspectRequest, out: Out) -> None:
        self.request, self.out = request, out
        self.bucket = BUCKETS.index(request.bucket)
        self.shards: dict[str, BucketAccumulator] = {}
        self.entries: list[dict[str, str]] = []
        self.matched = self.listed = 0

    def consume(self, bucket: int, key: bytes, logical: bytes, meta: str = "") -> None:
        request = self.request
        if bucket != self.bucket or len(key) < request.key_offset:
            return
        relative = key[request.key_offset :]
        if not relative.startswith(request.key_prefix):
            return
        self.matched += 1
        if request.list:
            if request.list_limit <= 0 or self.listed < request.list_limit:
                if self.out.json_output:
                    self.entries.append({"key": key.hex().upper(), "logical": logical.hex().upper()})
                    if meta:
                        self.entries[-1]["meta"] = meta
                else:
                    tail = f" {meta}" if meta else ""
                    self.out.stdout(f"key={key.hex().upper()} logical={logical.hex().upper()}{tail}\n")
                self.listed += 1
            return
        end = min(len(request.key_prefix) + request.shard_next_bytes, len(relative))
        self.shards.setdefault(relative[:end].hex(), BucketAccumulator()).add(key, logical)

    def finish(self, version: int, context: dict[str, Any]) -> None:
        request = self.request
        if self.out.json_output:
            self.out.stdout(json.dumps(self._json(version, context), sort_keys=True) + "\n")
            return
        lines = [
            f"version: {version}",
            f"inspect bucket={request.bucket} key_offset={request.key_offset} "
            f"key_prefix={request.key_prefix.hex().upper()} matched={self.matched}",
        ]
        if request.list:
            lines.append(f"listed={self.listed} list_limit={request.list_limit}")
        for name in sorted(self.shards):
            shard = self.shards[name]
            lines.append(f"shard={name} count={shard.count} bucket_digest={shard.digest_bytes.hex().upper()}")
        self.out.stdout("\n".join(lines) + "\n")

    def _json(self, version: int, context: dict[str, Any]) -> dict[str, Any]:
        # shaped like sei-chain's golden inspect cases: empty fields are omitted
        request = self.request
        obj: dict[str, Any] = {**context, "version": version, "inspect_bucket": request.bucket}
        obj |= {"key_offset": request.key_offset, "key_prefix": request.key_prefix.hex().upper()}
        obj |= {"list": request.list, "matched": self.matched, "shard_next_bytes": request.shard_next_bytes}
        if request.list_limit:
            obj["list_limit"] = request.list_limit
        if self.listed:
            obj["listed"] = self.listed
        if self.entries:
            obj["entries"] = self.entries
        if self.shards:
            obj["shards"] = [
                {"shard": name, "count": acc.count, "digest": acc.digest_bytes.hex().upper()}
                for name, acc in sorted(self.shards.items())
            ]
        return obj


def _context(request: ScanRequest, mode: str, source: str, normalization: str) -> dict[str, Any]:
    return {
        "backend": request.backend,
        "mode": mode,
        "db_dir": request.db_dir,
        "source": source,
        "normalization": normalization,
        "requested_height": request.height,
    }


def run_inspect(request: ScanRequest, inspect: InspectRequest, logs: Logs) -> int:
    if request.open_mode != "snapshot":
        raise SimError(f'--inspect-bucket does not support --memiavl-open-mode="{request.open_mode}" yet')
    if inspect.bucket not in BUCKETS:
        raise SimError(f'unknown --inspect-bucket "{inspect.bucket}"')
    if inspect.key_offset < 0:
        raise SimError("--key-offset must be non-negative")
    if inspect.shard_next_bytes < 0:
        raise SimError("--shard-next-bytes must be non-negative")
    if request.backend == "flatkv":
        return _inspect_flatkv(request, inspect, logs)
    if request.backend == "memiavl":
        return _inspect_memiavl(request, inspect)
    raise SimError(f'unknown --backend "{request.backend}" (want flatkv|memiavl)')


def _inspect_flatkv(request: ScanRequest, inspect: InspectRequest, logs: Logs) -> int:
    view = open_flatkv_for(request.db_dir, request.height, logs)
    try:
        config = view.config
        out = out_for(request, config)
        start_faults(out, config)
        accumulator, seen = Accumulator(inspect, out), 0
        details = inspect.details and inspect.list
        heights, state = config.row_heights, config.state_height
        every = config.progress_every
        for bucket, key, logical in view.rows():
            seen += 1
            if not (key.startswith(EVM) or key in MARKERS):
                continue
            meta = f"block_height={block_height(key, state, heights)}" if details else ""
            accumulator.consume(bucket, key, logical, meta)
            if seen % every == 0:
                out.say(f"  ...flatkv inspect seen={seen} matched={accumulator.matched}")
        context = _context(request, "native", FLATKV_SOURCE, FLATKV_NORMALIZATION)
        accumulator.finish(view.version, context)
        return 0
    finally:
        view.close()


def _inspect_memiavl(request: ScanRequest, inspect: InspectRequest) -> int:
    translator = request.normalization == "translator"
    storage_details = inspect.details and inspect.list and inspect.bucket == "storage"
    raw_offset = inspect.key_offset - len(EVM)
    if storage_details and raw_offset < 0:
        raise SimError(f"--details storage memiavl requires --key-offset >= {len(EVM)}")
    view = open_snapshot(request.db_dir, request.height)
    out = out_for(request, view.config)
    start_faults(out, view.config)
    accumulator, leaves = Accumulator(inspect, out), 0
    decoder = Decoder(translator=translator, accounts=translator or inspect.bucket == "account", caller="inspect")
    # the translator fault alters the same row here as in the digest scan, so localization can find it
    divergence = Divergence.of(view.config) if translator else None
    progress = "  ...memiavl inspect " + ("" if translator or storage_details else "mode=semantic ")
    every = view.config.progress_every
    for key, value in view.leaves():
        leaves += 1
        if leaves % every == 0:
            out.say(f"{progress}leaves={leaves} matched={accumulator.matched}")
        if storage_details:
            _storage_detail(accumulator, view.config, key, value, raw_offset)
            continue
        entry = decoder.leaf(key, value)
        if entry is not None and divergence is not None:
            entry = divergence.stream(entry)
        if entry is not None:
            accumulator.consume(*entry[:3])
    if not storage_details:
        final = decoder.finalize()
        for entry in final if divergence is None else divergence.finalize(final):
            accumulator.consume(*entry[:3])
    out.say(f"  memiavl inspect total leaves={leaves}")
    mode = request.normalization
    context = _context(
        request, mode, f"{view.evm_dir} (snapshot/current only; no memiavl WAL replay)", MEMIAVL_TEXTS[mode][0]
    )
    accumulator.finish(view.version, context)
    return 0


def _storage_detail(accumulator: Accumulator, config: StoreConfig, key: bytes, value: bytes, raw_offset: int) -> None:
    """The `--details` storage path: raw keys filtered at offset-4, leaf versions from the snapshot."""
    if len(key) < raw_offset or not key[raw_offset:].startswith(accumulator.request.key_prefix):
        return
    if key[0] != STORAGE or len(key) != 53 or value == bytes(len(value)):
        return
    physical = EVM + key
    version = block_height(physical, config.state_height, config.row_heights)
    accumulator.consume(2, physical, value, f"leaf_version={version}")
