"""`--backend flatkv|memiavl` digest runs, narrated and printed as sei-chain 73f917b does.

Progress lines come every N input rows (N = 20,000,000 like the real binary; SEIDB_SIM_PROGRESS_EVERY
or the store's `progress_every` for tests). The report is printed through `evmdigest.seidb.render`, so
the simulator and the pipeline share one renderer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from evmdigest.models import Generation
from evmdigest.sim.digester import MARKER_KEYS, Digester, Divergence, emit_report, hang, noise
from evmdigest.sim.flatkv import FlatKVView, open_flatkv
from evmdigest.sim.leaves import Decoder, Entry
from evmdigest.sim.memiavl import MemiavlView, open_replay, open_snapshot
from evmdigest.sim.narrate import (
    FLATKV_NORMALIZATION,
    FLATKV_SCAN,
    FLATKV_SOURCE,
    MEMIAVL_TEXTS,
    REPLAY_SLOWDOWN,
    REPLAY_SOURCE,
    Out,
    Pacer,
    header,
)
from evmdigest.sim.rows import block_height, flatkv_value
from evmdigest.sim.seilog import Logs
from evmdigest.sim.store import SimError, StoreConfig

EVM = b"evm/"


@dataclass(frozen=True)
class ScanRequest:
    backend: str  # flatkv | memiavl | composite
    db_dir: str  # as given on the command line: seidb prints it verbatim
    height: int
    normalization: str  # memiavl: semantic | translator (`independent` folded)
    open_mode: str  # snapshot | replay
    json_output: bool
    find_hash: bytes | None
    flatkv_dir: str = ""
    memiavl_dir: str = ""


def out_for(request: ScanRequest, config: StoreConfig) -> Out:
    generation = Generation(config.generation)
    text = Generation.LEGACY if generation is Generation.LEGACY else Generation.MISC
    return Out(request.json_output, Generation.JSON if request.json_output else text)


def open_flatkv_for(db_dir: str, height: int, logs: Logs) -> FlatKVView:
    try:
        return open_flatkv(db_dir, height, logs)
    except SimError as exc:
        raise SimError(f"open flatkv read-only: {exc}") from None


def reported_version(config: StoreConfig, version: int) -> int:
    clamp = config.faults.clamp_version  # a clamping build: reports another version than it opened
    return version if clamp is None else clamp


def start_faults(out: Out, config: StoreConfig) -> None:
    """The exit_error and hang faults, once the store is open (and the banner printed)."""
    if config.faults.exit_error is not None:
        raise SimError(config.faults.exit_error)
    if config.faults.hang:
        hang(out)


def run_flatkv(request: ScanRequest, logs: Logs) -> int:
    view = open_flatkv_for(request.db_dir, request.height, logs)
    try:
        config = view.config
        out = out_for(request, config)
        if config.faults.garbage == "noise":
            out.stdout(noise())
            return 0
        fields = header(
            "flatkv",
            "native",
            request.db_dir,
            FLATKV_SOURCE,
            FLATKV_NORMALIZATION,
            request.height,
            reported_version(config, view.version),
        )
        out.banner(fields)
        out.say(FLATKV_SCAN)
        start_faults(out, config)
        started, digester = time.time(), Digester(out, request.find_hash)
        every, add, seen = config.progress_every, digester.add, 0
        pacer = Pacer(config.faults.slow, int(config.raw.get("rows") or 1))
        heights, state = config.row_heights, config.state_height
        for seen, (bucket, key, logical) in enumerate(view.rows(), 1):
            if key.startswith(EVM) or key in MARKER_KEYS:  # other modules' rows are not EVM state
                # FOUND-HASH shows the value as FlatKV stores it (vtype header + payload)
                raw = flatkv_value(bucket, logical, block_height(key, state, heights)) if request.find_hash else b""
                add(bucket, key, logical, raw)
            if seen % every == 0:
                a, c, s, m = digester.counts()
                out.say(
                    f"  progress backend=flatkv input_physical_rows={seen} digested account={a} code={c} "
                    f"storage={s} {out.fourth}={m}"
                )
            pacer.tick(seen)
        pacer.finish()
        emit_report(out, digester.report(fields), config.faults, started)
        return 0
    finally:
        view.close()


def _leaves_paced(view: MemiavlView, pacer: Pacer) -> Iterator[tuple[bytes, bytes]]:
    for done, leaf in enumerate(view.leaves(), 1):
        pacer.tick(done)
        yield leaf


def run_memiavl(request: ScanRequest, logs: Logs) -> int:
    replay = request.open_mode == "replay"
    view = (
        open_replay(request.db_dir, request.height, logs) if replay else open_snapshot(request.db_dir, request.height)
    )
    config = view.config
    out = out_for(request, config)
    if config.faults.garbage == "noise":
        out.stdout(noise())
        return 0
    translator = request.normalization == "translator"
    mode = request.normalization + ("-replay" if replay else "")
    normalization, scan_line, note = MEMIAVL_TEXTS[mode]
    source = REPLAY_SOURCE if replay else f"{view.evm_dir} (snapshot/current only; no memiavl WAL replay)"
    version = reported_version(config, view.version)
    fields = header("memiavl", mode, request.db_dir, source, normalization, request.height, version)
    out.banner(fields)
    out.say(scan_line)
    out.say(note)
    start_faults(out, config)
    started, digester = time.time(), Digester(out, request.find_hash)
    decoder = Decoder(translator=translator)
    divergence = Divergence.of(config) if translator else None
    every, leaves = config.progress_every, 0
    seconds = config.faults.slow * (REPLAY_SLOWDOWN if replay else 1)
    pacer = Pacer(seconds, int(config.raw.get("rows") or 1))

    def consume(entry: Entry | None) -> None:
        if entry is not None and divergence is not None:
            entry = divergence.stream(entry)
        if entry is not None:
            digester.add(*entry)

    for key, value in _leaves_paced(view, pacer):
        leaves += 1
        consume(decoder.leaf(key, value))
        if leaves % every == 0:
            _, c, s, m = digester.counts()
            buffered = "" if translator else f" account_buffered={len(decoder.accounts)}"
            out.say(
                f"  progress backend=memiavl mode={mode} input_leaves={leaves} digested "
                f"account=deferred_until_finalize{buffered} code={c} storage={s} {out.fourth}={m}"
            )
    for entry in decoder.finalize() if divergence is None else divergence.finalize(decoder.finalize()):
        digester.add(*entry)
    pacer.finish()
    a, c, s, m = digester.counts()
    out.say(f"  finalize backend=memiavl mode={mode} account={a} code={c} storage={s} {out.fourth}={m}")
    out.say(f"  {'memiavl-replay' if replay else 'memiavl'} total leaves={leaves}")
    census = None if translator else decoder.census
    emit_report(out, digester.report(fields, census=census), config.faults, started)
    return 0
