"""`evm-digest ledger` through the installed console script: real subprocesses, real exit codes, S3 over HTTP."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from evmdigest.emit import open_sink, seal_key
from evmdigest.models import Normalization
from evmdigest.segments import record_key, snapshot_dir_name
from tests.ledger.records import final_digest, seal
from tests.plugins.s3 import S3Target

EVM_DIGEST = str(Path(sys.executable).parent / "evm-digest")


def _ledger(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EVM_DIGEST, "ledger", *args], capture_output=True, text=True, timeout=300, check=False, env=env
    )


def test_json_rows_from_s3_and_exit_0_when_clean(s3_bucket: S3Target) -> None:
    sink = open_sink(s3_bucket.url("evm"), endpoint_url=s3_bucket.endpoint_url)
    published = seal(sink, "node-a", [100, 200]) + seal(sink, "node-b", [100, 200])
    done = _ledger(s3_bucket.url("evm"), "--json", "--interval", "100", env=s3_bucket.env())
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)  # stdout is exactly one JSON array
    assert [(r["height"], r["node"], r["normalization"]) for r in rows] == [
        (100, "node-a", "semantic"), (100, "node-a", "translator"), (100, "node-b", "semantic"),
        (100, "node-b", "translator"), (200, "node-a", "semantic"), (200, "node-a", "translator"),
        (200, "node-b", "semantic"), (200, "node-b", "translator"),
    ]  # fmt: skip
    assert {r["uri"] for r in rows} == {p.uri for p in published}
    assert all(r["sealed"] is True and r["match"] is True and r["problem"] is None for r in rows)
    assert {r["flatkv_digest"] for r in rows} == {final_digest("a")}
    assert done.stderr.startswith("LEDGER OK — 8 endpoint record(s)")


def test_table_and_summary_name_the_disagreement_and_the_tampered_record(tmp_path: Path) -> None:
    sink = open_sink((tmp_path / "sealed").as_uri())
    seal(sink, "node-a", [100, 200])
    seal(sink, "node-b", [100])
    seal(sink, "node-c", [100], state="b")
    key = record_key(200, Normalization.SEMANTIC, "node-a")
    sink.path_for(key).write_bytes(gzip.compress(b'{"forged": true}'))  # type: ignore[attr-defined]
    done = _ledger((tmp_path / "sealed").as_uri())
    assert done.returncode == 1, done.stderr
    table, _, summary = done.stdout.partition("\n\n")
    assert "| kind " in table and final_digest("b")[:16] + "…" in table
    assert final_digest("b") not in table  # digests are abbreviated in the table
    assert summary.startswith("LEDGER: 1 unverifiable, 2 disagreements")
    assert f"{sink.uri_for(key)}: tampered: payload sha256" in summary
    assert "height 100 semantic: odd node-c" in summary and "height 100 translator: odd node-c" in summary


def test_missing_heights_from_interval_and_snapshots_csv_and_parquet(tmp_path: Path) -> None:
    sink = open_sink((tmp_path / "sealed").as_uri())
    seal(sink, "node-a", [100, 300])
    (tmp_path / "memiavl" / snapshot_dir_name(400)).mkdir(parents=True)
    url, csv = (tmp_path / "sealed").as_uri(), tmp_path / "l.csv"
    done = _ledger(url, "--interval", "100", "--memiavl-dir", f"node-a={tmp_path / 'memiavl'}", "--csv", str(csv))
    assert done.returncode == 1, done.stderr
    assert "node-a height 200 semantic (by interval 100)" in done.stdout
    assert "node-a height 400 translator (by snapshot)" in done.stdout
    assert f"wrote 4 row(s) to {csv}" in done.stdout
    assert pd.read_csv(csv)["height"].tolist() == [100, 100, 300, 300]
    parquet = tmp_path / "l.parquet"
    assert _ledger(url, "--parquet", str(parquet)).returncode == 0
    assert pd.read_parquet(parquet)["height"].tolist() == [100, 100, 300, 300]


def test_exit_2_for_an_unreadable_sink_or_bad_arguments(tmp_path: Path, s3_bucket: S3Target) -> None:
    gone = _ledger((tmp_path / "nowhere").as_uri())
    assert (gone.returncode, gone.stdout) == (2, "") and "no such folder" in gone.stderr
    no_bucket = _ledger(f"s3://{s3_bucket.bucket}-gone", "--endpoint-url", s3_bucket.endpoint_url)
    assert no_bucket.returncode == 2 and "cannot list" in no_bucket.stderr
    assert "Traceback" not in gone.stderr + no_bucket.stderr
    bad = _ledger(tmp_path.as_uri(), "--interval", "0")
    assert bad.returncode == 2 and "--interval" in bad.stderr
    pair = _ledger(tmp_path.as_uri(), "--memiavl-dir", "node-a")
    assert pair.returncode == 2 and "NODE=DIR" in pair.stderr
    no_dir = _ledger(tmp_path.as_uri(), "--memiavl-dir", f"node-a={tmp_path / 'none'}")
    assert no_dir.returncode == 2 and "--memiavl-dir" in no_dir.stderr
    both = _ledger(tmp_path.as_uri(), "--json", "--csv", "x.csv")
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_no_verify_reads_records_without_seals(tmp_path: Path) -> None:
    sink = open_sink(tmp_path.as_uri())
    seal(sink, "node-a", [100], normalizations=[Normalization.SEMANTIC])
    (tmp_path / seal_key(record_key(100, Normalization.SEMANTIC, "node-a"))).unlink()
    assert _ledger(tmp_path.as_uri()).returncode == 1
    done = _ledger(tmp_path.as_uri(), "--no-verify", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)[0]["sealed"] is None
    assert "seals NOT verified" in done.stderr
