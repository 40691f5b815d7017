"""The ledger core on the folder sink and on S3 (moto over HTTP), over records sealed by the real publish path."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from evmdigest.emit import Sink, open_sink, seal_key
from evmdigest.emit.folder import FolderSink
from evmdigest.ledger import LedgerError, build_ledger, open_ledger_sink
from evmdigest.models import Normalization
from evmdigest.segments import divergence_key, fleet_key, record_key, snapshot_dir_name, snapshot_heights
from tests.ledger.records import final_digest, seal
from tests.plugins.s3 import S3_SERVERS, S3Target, new_bucket, server_named

SEMANTIC, TRANSLATOR = Normalization.SEMANTIC, Normalization.TRANSLATOR


@dataclass
class Store:
    url: str
    endpoint_url: str | None
    sink: Sink
    put: Callable[[str, bytes], None]  # overwrite stored bytes behind the sink's back (tampering)
    delete: Callable[[str], None]

    def ledger_sink(self, workers: int = 16) -> Sink:
        return open_ledger_sink(self.url, endpoint_url=self.endpoint_url, workers=workers)


@pytest.fixture(params=["folder", *S3_SERVERS])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "folder":
        folder = FolderSink(tmp_path / "sealed")
        return Store(
            folder.root.as_uri(), None, folder,
            lambda key, data: folder.path_for(key).write_bytes(data), lambda key: folder.path_for(key).unlink(),
        )  # fmt: skip
    target = new_bucket(server_named(request, request.param))
    s3 = open_sink(target.url("evm"), endpoint_url=target.endpoint_url)
    client, bucket = target.client(), target.bucket
    return Store(
        target.url("evm"), target.endpoint_url, s3,
        lambda key, data: client.put_object(Bucket=bucket, Key=s3.full_key(key), Body=data),
        lambda key: client.delete_object(Bucket=bucket, Key=s3.full_key(key)),
    )  # fmt: skip


def test_rows_for_every_record_in_both_layouts(store: Store) -> None:
    flat = seal(store.sink, None, [100], label="seed-node")
    node_a = seal(store.sink, "node-a", [100, 200])
    mismatch = seal(store.sink, "node-b", [200], state="mismatch", normalizations=[SEMANTIC])
    store.sink.emit_ndjson(divergence_key(200, SEMANTIC, "node-b"), [{"key": "00"}])  # not a record: passed over
    store.sink.emit_json(fleet_key(100), {"height": 100, "nodes": {"seed-node": {}, "node-a": {}}, "agree": True})

    ledger = build_ledger(store.ledger_sink())
    table = ledger.table
    assert _cells(table, "kind", "height", "node", "normalization") == [
        ("endpoint", 100, "node-a", "semantic"),
        ("endpoint", 100, "node-a", "translator"),
        ("endpoint", 100, "seed-node", "semantic"),
        ("endpoint", 100, "seed-node", "translator"),
        ("fleet", 100, None, None),
        ("endpoint", 200, "node-a", "semantic"),
        ("endpoint", 200, "node-a", "translator"),
        ("endpoint", 200, "node-b", "semantic"),
    ]
    assert list(table["layout"].iloc[:4]) == ["node", "node", "flat", "flat"]
    assert table["sealed"].tolist() == [True] * 8 and table["problem"].isna().all()
    by_uri = table.set_index("uri")
    for published in flat + node_a + mismatch:
        row = by_uri.loc[published.uri]
        record = published.record
        assert (row["match"], row["flatkv_digest"], row["memiavl_digest"]) == (
            record.match, record.flatkv_digest, record.memiavl_digest,
        )  # fmt: skip
        assert row["mismatched_buckets"] == record.mismatched_buckets
        assert row["generated_at"] == record.generated_at
    assert mismatch[0].record.mismatched_buckets and not by_uri.loc[mismatch[0].uri, "match"]
    assert ledger.ignored == 1
    assert len(ledger.mismatches) == 1 and ledger.exit_code == 1  # a mismatch is a finding
    assert ledger.disagreements.empty and ledger.unverifiable.empty and ledger.missing.empty


def test_a_clean_sink_exits_0_and_parallel_equals_one_at_a_time(store: Store) -> None:
    seal(store.sink, "node-a", [100, 200, 300])
    seal(store.sink, "node-b", [100, 200, 300])
    parallel = build_ledger(store.ledger_sink(), interval=100)
    assert parallel.exit_code == 0 and not any(parallel.findings().values())
    assert parallel.headline().startswith("LEDGER OK — 12 endpoint record(s)")
    single = build_ledger(store.ledger_sink(workers=1), workers=1, interval=100)
    assert single.table.equals(parallel.table)


def test_tampered_unsealed_and_foreign_objects_are_unverifiable_with_their_reason(store: Store) -> None:
    published = seal(store.sink, "node-a", [100, 200, 300], normalizations=[SEMANTIC])
    seal(store.sink, "node-b", [100, 200, 300], normalizations=[SEMANTIC])
    tampered, unsealed = published[0], published[1]
    forged = json.loads(gzip.decompress(_stored(store, record_key(100, SEMANTIC, "node-a"))))
    forged["flatkv_digest"] = "AB" * 32  # a forged digest must not raise a cross-node disagreement
    store.put(record_key(100, SEMANTIC, "node-a"), gzip.compress(json.dumps(forged).encode()))
    store.delete(seal_key(record_key(200, SEMANTIC, "node-a")))
    store.sink.emit_json(record_key(400, SEMANTIC, "node-a"), {"hello": "world"})
    store.put(record_key(500, SEMANTIC, "node-a"), b"not gzip at all")

    ledger = build_ledger(store.ledger_sink())
    reasons = dict(zip(ledger.unverifiable["uri"], ledger.unverifiable["problem"], strict=True))
    uri = store.sink.uri_for
    assert reasons == {
        tampered.uri: "tampered",
        unsealed.uri: "missing_seal",
        uri(record_key(400, SEMANTIC, "node-a")): "not_a_record",
        uri(record_key(500, SEMANTIC, "node-a")): "object_unreadable",
    }
    details = dict(zip(ledger.unverifiable["uri"], ledger.unverifiable["detail"], strict=True))
    assert "payload sha256" in details[tampered.uri] and "seal" in details[unsealed.uri]
    assert ledger.table.set_index("uri").loc[unsealed.uri, "match"]  # its content is still shown
    assert ledger.disagreements.empty and ledger.failed and ledger.exit_code == 1
    assert any(line.startswith("unverifiable (4)") for line in ledger.summary_lines())

    unchecked = build_ledger(store.ledger_sink(), verify=False)
    assert unchecked.table["sealed"].isna().all()
    # Without verification only what cannot be read as a record is flagged; the forgery reads fine.
    assert set(unchecked.unverifiable["problem"]) == {"not_a_record", "object_unreadable"}
    assert unchecked.disagreements["odd_nodes"].tolist() == [["node-a", "node-b"]]  # two nodes, a tie


def test_a_record_at_another_records_key_is_misplaced(store: Store) -> None:
    seal(store.sink, "node-a", [100], normalizations=[SEMANTIC])
    store.put(record_key(200, SEMANTIC, "node-a"), _stored(store, record_key(100, SEMANTIC, "node-a")))
    ledger = build_ledger(store.ledger_sink(), verify=False)
    [problem] = ledger.unverifiable.to_dict(orient="records")
    assert problem["problem"] == "misplaced" and "height 100" in problem["detail"]


def test_disagreement_across_nodes_names_the_odd_node(store: Store) -> None:
    seal(store.sink, "node-a", [100, 200])
    seal(store.sink, "node-b", [100, 200])
    seal(store.sink, "node-c", [100])
    seal(store.sink, "node-c", [200], state="b")  # same height, a different FlatKV state (its own stores agree)
    ledger = build_ledger(store.ledger_sink())
    rows = ledger.disagreements.to_dict(orient="records")
    assert [(r["height"], r["normalization"], r["odd_nodes"]) for r in rows] == [
        (200, "semantic", ["node-c"]),
        (200, "translator", ["node-c"]),
    ]
    assert rows[0]["majority_digest"] == final_digest("a")
    assert rows[0]["digests"] == {"node-a": final_digest("a"), "node-b": final_digest("a"), "node-c": final_digest("b")}
    assert ledger.mismatches.empty and ledger.failed and ledger.exit_code == 1


def test_a_tie_has_no_majority_and_names_every_node(tmp_path: Path) -> None:
    sink = open_sink(tmp_path.as_uri())
    seal(sink, "node-a", [100], normalizations=[SEMANTIC])
    seal(sink, "node-b", [100], state="b", normalizations=[SEMANTIC])
    [row] = build_ledger(sink).disagreements.to_dict(orient="records")
    assert row["majority_digest"] is None and row["odd_nodes"] == ["node-a", "node-b"]


def test_missing_heights_by_interval_and_by_snapshot_list(store: Store, tmp_path: Path) -> None:
    seal(store.sink, "node-a", [100, 200, 400])
    seal(store.sink, "node-a", [300], normalizations=[SEMANTIC])  # half sealed: translator missing
    seal(store.sink, "node-b", [100, 400], normalizations=[SEMANTIC])  # seals semantic only
    memiavl = tmp_path / "memiavl-b"
    for height in (400, 500):
        (memiavl / snapshot_dir_name(height)).mkdir(parents=True)

    ledger = build_ledger(store.ledger_sink(), interval=100, snapshots={"node-b": snapshot_heights(memiavl)})
    missing = ledger.missing.to_dict(orient="records")
    assert [(m["node"], m["height"], m["normalization"], m["expected_by"]) for m in missing] == [
        ("node-a", 300, "translator", "interval 100"),
        ("node-b", 200, "semantic", "interval 100"),
        ("node-b", 300, "semantic", "interval 100"),
        ("node-b", 500, "semantic", "snapshot"),
    ]
    assert ledger.findings()["missing"] == 4 and ledger.exit_code == 1 and not ledger.failed

    only_a = build_ledger(store.ledger_sink(), interval=100, nodes=["node-a", "node-z"])
    assert set(only_a.table["node"]) == {"node-a"}
    assert list(only_a.missing["height"]) == [300] and only_a.nodes_without_records == ["node-z"]


def test_fleet_verdicts_are_read_loosely_and_disagreeing_ones_are_findings(tmp_path: Path) -> None:
    sink = open_sink(tmp_path.as_uri())
    seal(sink, "node-a", [100, 200])
    when = "2026-01-02T03:04:05+00:00"
    sink.emit_json(fleet_key(100), {"height": 100, "nodes": [{"node": "node-a"}], "agree": True, "complete": True,
                                    "majority": {"flatkv": "x"}, "generated_at": when})  # fmt: skip
    sink.emit_json(fleet_key(200), {"height": 200, "nodes": {"node-a": {}, "node-b": {"state": "timed_out"}},
                                    "agree": False, "complete": False, "odd_nodes": ["node-b"]})  # fmt: skip
    sink.emit_json(fleet_key(300), {"height": 301, "agree": True})
    sink.emit_json(fleet_key(400), ["not", "a", "verdict"])
    ledger = build_ledger(sink)
    fleet = ledger.table[ledger.table["kind"] == "fleet"].set_index("height")
    assert fleet.loc[100, "agree"] and fleet.loc[100, "complete"] and str(fleet.loc[100, "generated_at"].year) == "2026"
    assert fleet.loc[200, "odd_nodes"] == ["node-b"] and fleet.loc[200, "match"] is False
    assert list(ledger.fleet_issues["height"]) == [200]
    assert (ledger.findings()["disagreements"], ledger.findings()["incomplete_fleet"]) == (1, 1)
    assert fleet.loc[300, "problem"] == "misplaced" and fleet.loc[400, "problem"] == "not_a_record"


def test_an_unreadable_sink_is_a_ledger_error(tmp_path: Path, s3_bucket: S3Target) -> None:
    with pytest.raises(LedgerError, match="no such folder"):
        build_ledger(open_ledger_sink((tmp_path / "nowhere").as_uri()))
    missing_bucket = open_ledger_sink(f"s3://{s3_bucket.bucket}-gone/evm", endpoint_url=s3_bucket.endpoint_url)
    with pytest.raises(LedgerError, match="cannot list"):
        build_ledger(missing_bucket)
    with pytest.raises(ValueError, match="interval"):
        build_ledger(open_sink(tmp_path.as_uri()), interval=0)


def test_outputs_keep_every_row(tmp_path: Path) -> None:
    sink = open_sink((tmp_path / "sink").as_uri())
    seal(sink, "node-a", [100], state="mismatch")
    ledger = build_ledger(sink)
    rows = json.loads(ledger.rows_json())
    assert [r["mismatched_buckets"] for r in rows] == [["account", "storage", "misc"]] * 2
    assert rows[0]["generated_at"].endswith("Z") and rows[0]["sealed"] is True
    ledger.write_csv(tmp_path / "l.csv")
    assert pd.read_csv(tmp_path / "l.csv")["mismatched_buckets"].tolist() == ["account,storage,misc"] * 2
    ledger.write_parquet(tmp_path / "l.parquet")
    back = pd.read_parquet(tmp_path / "l.parquet")
    assert list(back["flatkv_digest"]) == list(ledger.table["flatkv_digest"])
    assert list(back["mismatched_buckets"][0]) == ["account", "storage", "misc"]
    shown = ledger.display()
    assert shown["flatkv_digest"][0].endswith("…") and len(shown["flatkv_digest"][0]) == 17


def _cells(table: pd.DataFrame, *columns: str) -> list[tuple[object, ...]]:
    """Rows of `columns` with pandas' missing values (NaN in string columns) shown as None."""
    picked = table[list(columns)].astype(object)
    return [tuple(row) for row in picked.where(picked.notna(), None).itertuples(index=False)]


def _stored(store: Store, key: str) -> bytes:
    return b"".join(store.sink._read_chunks(key))
