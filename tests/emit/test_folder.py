"""Folder sink (file:///dir): the same emission path as S3, on a local file system."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from pathlib import Path
from typing import IO

import pytest

from evmdigest.emit import (
    Intent,
    ProducerError,
    Seal,
    SinkConflict,
    SinkErrorKind,
    SinkNotFound,
    digest_json,
    open_sink,
)
from evmdigest.emit.folder import FolderSink
from evmdigest.emit.keys import TMP_MARK


def _sink(tmp_path: Path) -> FolderSink:
    sink = open_sink((tmp_path / "out").as_uri())
    assert isinstance(sink, FolderSink)
    return sink


def _all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_json_round_trip_and_seal_is_sha256_of_gunzipped_bytes(tmp_path: Path) -> None:
    sink = _sink(tmp_path)
    verdict = {"height": 123, "flatkv": "ab" * 32, "memiavl": "ab" * 32, "agree": True, "note": "ü"}
    result = sink.emit_json("segments/000123/verdict.json", verdict)

    stored = (tmp_path / "out/segments/000123/verdict.json").read_bytes()
    payload = gzip.decompress(stored)
    assert json.loads(payload) == verdict
    assert result.uncompressed_sha256 == hashlib.sha256(payload).hexdigest()
    assert result.uncompressed_bytes == len(payload)
    assert result.compressed_sha256 == hashlib.sha256(stored).hexdigest()
    assert result.compressed_bytes == len(stored)
    assert result.store_checksum is None
    assert result.uri == (tmp_path / "out/segments/000123/verdict.json").as_uri()

    seal_file = tmp_path / "out/segments/000123/verdict.json.seal.json"
    seal = Seal.model_validate_json(seal_file.read_bytes())  # plain JSON, as its name says
    assert seal == sink.read_seal("segments/000123/verdict.json")
    assert seal.uncompressed_sha256 == hashlib.sha256(payload).hexdigest()
    assert seal.compressed_sha256 == result.compressed_sha256
    assert result.seal_uri == seal_file.as_uri()
    intent_file = tmp_path / f"out/segments/000123/verdict.json.intent-{result.uncompressed_sha256}.json"
    intent = Intent.model_validate_json(intent_file.read_bytes())  # fixed before the object was committed
    assert (intent.uncompressed_sha256, intent.compressed_sha256) == (
        result.uncompressed_sha256,
        result.compressed_sha256,
    )
    assert sink.read_json("segments/000123/verdict.json") == verdict
    # The digest helper a re-run uses must agree byte for byte with what was emitted.
    assert digest_json(verdict).uncompressed_sha256 == result.uncompressed_sha256


def test_equal_payloads_give_equal_gzip_bytes(tmp_path: Path) -> None:
    sink = _sink(tmp_path)
    a = sink.emit_json("a.json", {"x": [1, 2, 3]})
    b = sink.emit_json("b.json", {"x": [1, 2, 3]})
    assert a.compressed_sha256 == b.compressed_sha256  # gzip header carries no mtime or name


def test_ndjson_and_stream_use_the_same_path(tmp_path: Path) -> None:
    sink = _sink(tmp_path)
    records = [{"i": i, "slot": f"{i:064x}"} for i in range(5000)]
    nd = sink.emit_ndjson("rows.ndjson", iter(records))
    expected = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
    assert nd.uncompressed_sha256 == hashlib.sha256(expected).hexdigest()
    assert list(sink.iter_ndjson("rows.ndjson")) == records

    def write(f: IO[bytes]) -> None:
        for i in range(0, len(expected), 4096):
            f.write(expected[i : i + 4096])
        f.close()  # a producer closing the file itself must not lose the tail

    st = sink.emit_stream("rows-again.ndjson", write)
    assert st.uncompressed_sha256 == nd.uncompressed_sha256
    assert st.compressed_sha256 == nd.compressed_sha256


def test_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    sink = _sink(tmp_path)
    first = sink.emit_json("v.json", {"v": 1})
    before = (tmp_path / "out/v.json").read_bytes()
    with pytest.raises(SinkConflict) as info:
        sink.emit_json("v.json", {"v": 2})
    err = info.value
    assert err.kind is SinkErrorKind.CONFLICT and not err.retryable
    assert err.existing_seal is not None
    assert err.existing_seal.uncompressed_sha256 == first.uncompressed_sha256
    assert "'v.json'" in str(err) and "Hint:" in str(err)
    assert (tmp_path / "out/v.json").read_bytes() == before


def test_concurrent_writers_exactly_one_wins(tmp_path: Path) -> None:
    sink = _sink(tmp_path)
    barrier = threading.Barrier(6)
    outcomes: dict[int, str] = {}

    def writer(n: int) -> None:
        def produce(f: IO[bytes]) -> None:
            barrier.wait()  # all producers stream at once, past the pre-check
            f.write(f"writer {n}\n".encode() * 10_000)

        try:
            sink.emit_stream("race.txt", produce)
            outcomes[n] = "won"
        except SinkConflict:
            outcomes[n] = "conflict"

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [n for n, o in outcomes.items() if o == "won"]
    assert len(winners) == 1 and len(outcomes) == 6
    assert gzip.decompress((tmp_path / "out/race.txt").read_bytes()).startswith(f"writer {winners[0]}\n".encode())
    files = _all_files(tmp_path / "out")
    assert [f for f in files if ".intent-" not in f] == ["race.txt", "race.txt.seal.json"]  # no temp files left
    seal = sink.read_seal("race.txt")
    assert seal is not None and f"race.txt.intent-{seal.uncompressed_sha256}.json" in files


def test_producer_failure_leaves_nothing(tmp_path: Path) -> None:
    sink = _sink(tmp_path)
    boom = ValueError("ran out of blocks")

    def produce(f: IO[bytes]) -> None:
        f.write(b"partial line\n" * 200_000)  # past the producer buffer, so bytes reached the temp file
        raise boom

    with pytest.raises(ProducerError) as info:
        sink.emit_stream("half.ndjson", produce)
    err = info.value
    assert err.kind is SinkErrorKind.PRODUCER and not err.retryable
    assert err.__cause__ is boom
    assert "producer" in str(err) and "ValueError: ran out of blocks" in str(err)
    assert _all_files(tmp_path / "out") == []


def test_interrupt_passes_through_and_cleans_up(tmp_path: Path) -> None:
    sink = _sink(tmp_path)

    def produce(f: IO[bytes]) -> None:
        f.write(b"x" * 3_000_000)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sink.emit_stream("int.bin", produce)
    assert _all_files(tmp_path / "out") == []


def test_list_keys_is_relative_and_hides_seals_and_temps(tmp_path: Path) -> None:
    sink = _sink(tmp_path)
    for key in ("seg/2/v.json", "seg/10/v.json", "other.json"):
        sink.emit_json(key, {})
    (tmp_path / "out/seg/2" / f".v.json{TMP_MARK}dead").write_bytes(b"left by a crash")
    sink.emit_control("seg/claims/claim-2.json", {"claim": 1})
    assert sink.list_keys() == ["other.json", "seg/10/v.json", "seg/2/v.json"]  # no seals, intents or claims
    control = sink.list_keys("seg/", include_control=True)
    assert "seg/claims/claim-2.json" in control and sum(".intent-" in k for k in control) == 2
    assert sink.list_keys("seg/") == ["seg/10/v.json", "seg/2/v.json"]
    assert "seg/2/v.json.seal.json" in sink.list_keys("seg/2", include_seals=True)
    assert open_sink((tmp_path / "nothing-here").as_uri()).list_keys() == []


def test_missing_object_and_seal(tmp_path: Path) -> None:
    sink = _sink(tmp_path)
    assert sink.read_seal("nope.json") is None
    with pytest.raises(SinkNotFound) as info:
        sink.read_json("nope.json")
    assert info.value.kind is SinkErrorKind.NOT_FOUND and "nope.json" in str(info.value)


def test_complete_seal_repairs_a_crash_between_object_and_seal(tmp_path: Path) -> None:
    sink = _sink(tmp_path)
    verdict = {"height": 7, "agree": True}
    sink.emit_json("v.json", verdict)
    (tmp_path / "out/v.json.seal.json").unlink()  # the state a crash between the two writes leaves

    with pytest.raises(SinkConflict) as info:
        sink.emit_json("v.json", verdict)
    assert info.value.existing_seal is None
    assert sink.read_json("v.json") == verdict  # the re-run compares, then repairs:

    with pytest.raises(SinkConflict):
        sink.complete_seal("v.json", uncompressed_sha256=digest_json({"height": 8}).uncompressed_sha256)
    assert sink.read_seal("v.json") is None

    seal = sink.complete_seal("v.json")  # the intent recorded before the object names these bytes
    assert seal.resealed and seal == sink.read_seal("v.json")
    assert seal.uncompressed_sha256 == digest_json(verdict).uncompressed_sha256


def test_a_sink_error_raised_by_the_producer_is_still_the_producers(tmp_path: Path) -> None:
    """write_fn reading a missing input from another sink: our store did not fail, the producer did."""
    sink = _sink(tmp_path)
    source = open_sink((tmp_path / "inputs").as_uri())

    def produce(f: IO[bytes]) -> None:
        for chunk in source.read_bytes_iter("missing.ndjson"):
            f.write(chunk)

    with pytest.raises(ProducerError) as info:
        sink.emit_stream("copy.ndjson", produce)
    assert isinstance(info.value.__cause__, SinkNotFound)
    assert _all_files(tmp_path / "out") == []
