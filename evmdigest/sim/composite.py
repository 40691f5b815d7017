"""`--backend composite --flatkv-dir F --memiavl-dir M`: a node in the middle of its EVM migration.

As seidb's digestCompositeMigrateEVM: every FlatKV EVM row (accounts merged with the memIAVL account
leaves), plus the memIAVL leaves the boundary does not cover (none once the migration is complete),
with both FlatKV-only marker rows XORed back out. A missing boundary marker reads `not_started` and
changes no digest; only the `normalization:` line shows it.
"""

from __future__ import annotations

import time

from evmdigest.sim.digester import MARKER_KEYS, Digester, emit_report, noise
from evmdigest.sim.leaves import Decoder
from evmdigest.sim.memiavl import MemiavlView, open_replay, open_snapshot
from evmdigest.sim.migration import EVM_MODULE, read_state
from evmdigest.sim.narrate import COMPOSITE_SCAN, header
from evmdigest.sim.rows import ZERO32, flatkv_value
from evmdigest.sim.scan import EVM, ScanRequest, open_flatkv_for, out_for, reported_version, start_faults
from evmdigest.sim.seilog import Logs
from evmdigest.sim.store import SimError

ACCOUNT_KEY = EVM + b"\x0a"


def run_composite(request: ScanRequest, logs: Logs) -> int:
    if not request.flatkv_dir or not request.memiavl_dir:
        raise SimError("--backend composite requires --flatkv-dir and --memiavl-dir")
    flatkv = open_flatkv_for(request.flatkv_dir, request.height, logs)
    try:
        boundary, version_known, migration_version = read_state(flatkv.rows())
        memiavl: MemiavlView
        if request.open_mode == "snapshot":
            memiavl = open_snapshot(request.memiavl_dir, request.height)
            source = f"flatkv clone version={flatkv.version} + memiavl snapshot={memiavl.evm_dir}"
            what, label = "memiavl rows", "memiavl"
        elif request.open_mode == "replay":
            memiavl = open_replay(request.memiavl_dir, request.height, logs)
            source = f"flatkv clone version={flatkv.version} + memiavl read-only replay dir={request.memiavl_dir}"
            what, label = "replayed memiavl rows", "memiavl-replay"
        else:
            raise SimError(f'unknown --memiavl-open-mode "{request.open_mode}" (want snapshot|replay)')
        normalization = (
            f"flatkv rows plus {what} not migrated by boundary={boundary.model(False, 0, 0).boundary_text()} "
            f"version_known={str(version_known).lower()} migration_version={migration_version} "
            f"memiavl_version={memiavl.version}"
        )
        config = flatkv.config
        out = out_for(request, config)
        if config.faults.garbage == "noise":
            out.stdout(noise())
            return 0
        db_dir = f"flatkv={request.flatkv_dir} memiavl={request.memiavl_dir}"
        version = reported_version(config, flatkv.version)
        fields = header("composite", "migrate_evm", db_dir, source, normalization, request.height, version)
        out.banner(fields)
        out.say(COMPOSITE_SCAN)
        start_faults(out, config)
        started, digester = time.time(), Digester(out, request.find_hash)
        decoder = Decoder(caller="digest")
        every, seen = config.progress_every, 0
        for bucket, key, logical in flatkv.rows():
            seen += 1
            if key.startswith(ACCOUNT_KEY) and len(key) == len(ACCOUNT_KEY) + 20:
                # the FlatKV account row seeds the merged account; memIAVL leaves may still update it
                nonce = int.from_bytes(logical[32:40], "big")
                code_hash = logical[40:72] or ZERO32
                decoder.accounts[key[len(ACCOUNT_KEY) :]] = [logical[:32], nonce, code_hash, True]
            elif key.startswith(EVM) or key in MARKER_KEYS:
                digester.add(bucket, key, logical, flatkv_value(bucket, logical, flatkv.version))
            if seen % every == 0:
                _, c, s, m = digester.counts()
                out.say(
                    f"  progress backend=composite source=flatkv input_physical_rows={seen} "
                    f"account_buffered={len(decoder.accounts)} code={c} storage={s} {out.fourth}={m}"
                )
        out.say(f"  composite flatkv rows={seen}")
        if boundary.status != 2:
            leaves = consumed = 0
            for raw_key, value in memiavl.leaves():
                leaves += 1
                if not boundary.is_migrated(EVM_MODULE, raw_key):
                    entry = decoder.leaf(raw_key, value)
                    if entry is not None:
                        digester.add(*entry)
                    consumed += 1
                if leaves % every == 0:
                    _, c, s, m = digester.counts()
                    out.say(
                        f"  progress backend=composite source={label} input_leaves={leaves} "
                        f"consumed_unmigrated={consumed} account_buffered={len(decoder.accounts)} code={c} "
                        f"storage={s} {out.fourth}={m}"
                    )
            out.say(f"  composite {label} leaves={leaves} consumed_unmigrated={consumed}")
        for entry in decoder.finalize():
            digester.add(*entry)
        model = boundary.model(version_known, migration_version, memiavl.version)
        emit_report(out, digester.report(fields, boundary=model), config.faults, started)
        return 0
    finally:
        flatkv.close()
